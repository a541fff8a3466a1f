import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The architecture rules are lint rules; these tests prove they actually
 * restrict something (each case must produce an error).
 */
const root = join(__dirname, '..', '..', '..');

describe('architecture boundaries are enforced by lint', () => {
  beforeAll(() => {
    // The Nx rule needs the project graph; computing it is what `nx show projects` does.
    execFileSync(join(root, 'node_modules', '.bin', 'nx'), ['show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
      stdio: 'ignore',
    });
  });

  async function errorsFor(filePath: string, code: string): Promise<string[]> {
    // The CLI, not the Node API: ESLint loads its config with dynamic import(), which jest's VM does not allow.
    const out = spawnSync(
      join(root, 'node_modules', '.bin', 'eslint'),
      ['--stdin', '--stdin-filename', join(root, filePath), '--format', 'json'],
      {
        cwd: root,
        input: code,
        encoding: 'utf8',
        env: { ...process.env, NX_DAEMON: 'false' },
      },
    );
    const [result] = JSON.parse(out.stdout) as {
      messages: { severity: number; ruleId: string; message: string }[];
    }[];
    return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => `${m.ruleId}: ${m.message}`);
  }

  it('contracts may not depend on a service library', async () => {
    const errors = await errorsFor(
      'contracts/src/bad-import.ts',
      "import { JsonLogger } from '@quire/service-kit';\nexport const x = JsonLogger;\n",
    );
    expect(errors.join('\n')).toMatch(/@nx\/enforce-module-boundaries/);
  });

  it('workflow code may not import Node built-ins, activities, the client or I/O libraries', async () => {
    const mods = [
      'node:fs',
      'fs',
      '@temporalio/client',
      '@temporalio/activity',
      '@quire/service-kit',
      'kafkajs',
    ];
    const code = mods.map((m, i) => `import * as m${i} from '${m}';\nexport const x${i} = m${i};\n`).join('');
    const errors = await errorsFor('workflows/src/workflows/durable-timer-probe.workflow.ts', code);
    expect(errors.filter((e) => e.startsWith('no-restricted-imports'))).toHaveLength(mods.length);
  });

  it('workflow code may not leave a promise floating', async () => {
    const code =
      "import { sleep } from '@temporalio/workflow';\nexport async function wf(): Promise<void> {\n  sleep(1000);\n}\n";
    const errors = await errorsFor('workflows/src/workflows/durable-timer-probe.workflow.ts', code);
    expect(errors.join('\n')).toMatch(/no-floating-promises/);
  });

  it('allows what the rules allow', async () => {
    const ok =
      "import { sleep } from '@temporalio/workflow';\nimport { TASK_QUEUES } from '@quire/contracts';\nexport async function wf(): Promise<string> {\n  await sleep(1);\n  return TASK_QUEUES.platform;\n}\n";
    expect(await errorsFor('workflows/src/workflows/durable-timer-probe.workflow.ts', ok)).toEqual([]);
  });
});
