import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformContext } from '../platform-context';
import { platformEnv } from '../platform-env';
import { ALL_COMPONENTS, TEST_TOOLS } from '../components';
import { installAll, startInfrastructure, stopComponents } from '../platform';
import { bold, green, info, red } from '../progress';

interface TestOptions {
  /** Unit tests only: no infrastructure, seconds. */
  unitOnly: boolean;
  /** Leave infrastructure this run started running afterwards. */
  keepRunning: boolean;
  jestArgs: string[];
}

function runChild(
  label: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  info(bold(`\n▶ ${label}`));
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.once('error', () => resolve(1));
  });
}

/**
 * The README's test command: installs what is missing, starts the real
 * infrastructure, then type-checks, lints and runs every jest test (unit and
 * integration). Ends with one line "N passed, N failed".
 */
export async function runTests(ctx: PlatformContext, opts: TestOptions): Promise<number> {
  const root = ctx.config.repoRoot;
  let startedHere: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
  if (!opts.unitOnly) {
    await installAll(ctx, [...ALL_COMPONENTS, ...TEST_TOOLS]);
    startedHere = await startInfrastructure(ctx);
    Object.assign(env, platformEnv(ctx));
  }
  try {
    const bin = (name: string) => join(root, 'node_modules', '.bin', name);
    const failures: string[] = [];
    if (
      (await runChild(
        'type-check (tsc, strict)',
        bin('tsc'),
        ['-p', 'tsconfig.json', '--noEmit'],
        env,
        root,
      )) !== 0
    )
      failures.push('type-check');
    // The web editor has its own compiler settings (JSX, bundler resolution, DOM).
    if (
      (await runChild(
        'type-check the web editor (tsc)',
        bin('tsc'),
        ['-p', 'services/web/tsconfig.json'],
        env,
        root,
      )) !== 0
    )
      failures.push('type-check (web)');
    // The Nx boundary rule reads the project graph; without one it silently skips itself.
    if ((await runChild('project graph (nx)', bin('nx'), ['show', 'projects'], env, root)) !== 0) {
      failures.push('project graph');
    }
    if (
      (await runChild(
        'lint (eslint, module boundaries)',
        bin('eslint'),
        ['.', '--max-warnings', '0'],
        env,
        root,
      )) !== 0
    )
      failures.push('lint');

    const resultsDir = join(ctx.config.stateDir, 'test-results');
    mkdirSync(resultsDir, { recursive: true });
    const resultsFile = join(resultsDir, 'jest.json');
    rmSync(resultsFile, { force: true });
    const jestArgs = [
      '--ci',
      '--json',
      `--outputFile=${resultsFile}`,
      ...(opts.unitOnly ? ['--testPathIgnorePatterns', '\\.int\\.spec\\.ts$'] : []),
      ...opts.jestArgs,
    ];
    if (!jestArgs.some((a) => a.startsWith('--maxWorkers') || a === '--runInBand' || a === '-i'))
      jestArgs.push('--maxWorkers=2');
    const jestCode = await runChild(
      `jest (${opts.unitOnly ? 'unit' : 'unit + integration'})`,
      bin('jest'),
      jestArgs,
      env,
      root,
    );

    let passed = 0;
    let failed = 0;
    let skipped = 0;
    if (existsSync(resultsFile)) {
      const r = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
        numPassedTests: number;
        numFailedTests: number;
        numPendingTests: number;
        numRuntimeErrorTestSuites: number;
      };
      passed = r.numPassedTests;
      failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
      skipped = r.numPendingTests;
    }
    if (jestCode !== 0 && failed === 0) failures.push('jest (did not complete)');
    if (failed > 0) failures.push('jest');
    info('');
    if (failures.length) info(red(`✗ failed: ${failures.join(', ')}`));
    else info(green('✓ all checks passed'));
    // The closing line CI reads.
    info(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    return failures.length ? 1 : 0;
  } finally {
    if (startedHere.length && !opts.keepRunning) {
      info('\nstopping the infrastructure this test run started (keep it with --keep-running)');
      await stopComponents(ctx, startedHere);
    }
  }
}
