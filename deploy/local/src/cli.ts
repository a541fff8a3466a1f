import { resolve } from 'node:path';
import { ALL_COMPONENTS } from './components';
import { printStatus } from './commands/status';
import { runTests } from './commands/test';
import { initCluster } from './commands/init-cluster';
import { runBillingCommand } from './commands/billing';
import { runKernelsCommand, type SreEnv } from './commands/kernels';
import { runReplayCommand } from './commands/replay';
import { runTimelineCommand } from './commands/timeline';
import { randomBytes } from 'node:crypto';
import { createContext, installAll, startInfrastructure, startServices, stopComponents } from './platform';
import { platformEnv } from './platform-env';
import { bold, dim, green, info, PlatformError } from './progress';
import { spawn } from 'node:child_process';

const USAGE = `quire — run the Quire platform on this machine (no Docker needed)

usage: quire <command> [options]        (also: quire dev <command>)

  up                 install what is missing, start everything, print the URL
  down               stop everything this state folder started
  status             what runs, where, and whether it is ready
  logs [piece] [-f]  show a piece's log (postgres, kafka, temporal, s3, gateway, workflow-worker, host-worker, billing)
  install            install every piece without starting anything
  test [--unit] [--keep-running] [jest args…]
                     the whole test suite against real infrastructure
  env                print the platform's environment variables (for \`eval\`)
  init-cluster       create topics and buckets on the cluster the QUIRE_* variables name
  compose-env        print fresh credentials for deploy/docker-compose.yml (> deploy/.env)
  billing <command>  finance: status, invoice, quota, export, rebuild (quire billing help)
  kernels ls|show <id>
                     SRE: kernel lifecycles — state, host, timers, last snapshot (quire kernels help)
  replay <workflowId> | --file history.json
                     SRE: replay a workflow history against today's code; exit 5 on a determinism break
  timeline <kernelId> [--json]
                     SRE: the kernel's Temporal history and Kafka events as one ordered timeline

Settings come from QUIRE_* environment variables; see README.md "Ports and paths".`;

/** Where the SRE commands look: QUIRE_* from the environment (a cluster), else this local platform. */
function sreEnv(ctx: ReturnType<typeof createContext>): SreEnv {
  const local = platformEnv(ctx);
  const pick = (k: keyof SreEnv) => process.env[k] ?? local[k] ?? '';
  return {
    QUIRE_TEMPORAL_ADDRESS: pick('QUIRE_TEMPORAL_ADDRESS'),
    QUIRE_TEMPORAL_NAMESPACE: pick('QUIRE_TEMPORAL_NAMESPACE') || 'default',
    QUIRE_KAFKA_BROKERS: pick('QUIRE_KAFKA_BROKERS'),
  };
}

async function main(argv: string[]): Promise<number> {
  const repoRoot = resolve(__dirname, '..', '..', '..');
  let args = argv;
  if (args[0] === 'dev') args = args.slice(1);
  const [command, ...rest] = args;
  const ctx = createContext(repoRoot);

  switch (command) {
    case 'up': {
      const t0 = Date.now();
      info(bold('Quire: starting the platform'));
      await installAll(ctx);
      await startInfrastructure(ctx);
      await startServices(ctx);
      info('');
      await printStatus(ctx);
      info(`\n${green('Quire is up')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      info(`  ${bold(`http://${ctx.config.bindHost}:${ctx.config.ports.gateway}`)}   Quire`);
      info(`  http://${ctx.config.bindHost}:${ctx.config.ports.temporalUi}   Temporal Web UI`);
      info(dim(`  stop with: npm run quire -- down    logs: npm run quire -- logs <piece>`));
      return 0;
    }
    case 'down':
      await stopComponents(ctx);
      info('Quire is stopped (data stays in the state folder).');
      return 0;
    case 'status':
      return (await printStatus(ctx)) ? 0 : 3;
    case 'install':
      await installAll(ctx);
      info(green('every piece is installed'));
      return 0;
    case 'logs': {
      const follow = rest.includes('-f') || rest.includes('--follow');
      const piece = rest.find((a) => !a.startsWith('-'));
      const names = piece
        ? [piece]
        : ALL_COMPONENTS.filter((c) => c.ports(ctx).length > 0).map((c) => c.name);
      const known = ALL_COMPONENTS.map((c) => c.name);
      if (piece && !known.includes(piece)) {
        throw new PlatformError('logs', `no piece called "${piece}"`, `pick one of: ${known.join(', ')}`);
      }
      if (follow) {
        const tail = spawn('tail', ['-n', '50', '-F', ...names.map((n) => ctx.supervisor.logFile(n))], {
          stdio: 'inherit',
        });
        return new Promise((r) => tail.once('exit', (code) => r(code ?? 0)));
      }
      for (const n of names)
        info(`${bold(`── ${n}`)} ${dim(ctx.supervisor.logFile(n))}\n${ctx.supervisor.tail(n, 40)}`);
      return 0;
    }
    case 'test': {
      const unitOnly = rest.includes('--unit');
      const keepRunning = rest.includes('--keep-running');
      const jestArgs = rest.filter((a) => a !== '--unit' && a !== '--keep-running');
      return runTests(ctx, { unitOnly, keepRunning, jestArgs });
    }
    case 'billing':
      return runBillingCommand(rest, ctx);
    case 'kernels':
      return runKernelsCommand(rest, sreEnv(ctx));
    case 'replay':
      return runReplayCommand(rest, sreEnv(ctx), repoRoot);
    case 'timeline':
      return runTimelineCommand(rest, sreEnv(ctx));
    case 'init-cluster':
      await initCluster(ctx.config);
      return 0;
    case 'compose-env': {
      const secret = (n: number) => randomBytes(n).toString('base64url');
      info(`QUIRE_POSTGRES_PASSWORD=${secret(24)}`);
      info(`QUIRE_S3_ACCESS_KEY_ID=quire${randomBytes(8).toString('hex')}`);
      info(`QUIRE_S3_SECRET_ACCESS_KEY=${secret(30)}`);
      info(`QUIRE_TOKEN_SIGNING_KEY=${secret(48)}`);
      info(`QUIRE_INTERNAL_TOKEN=${secret(32)}`);
      info(`QUIRE_AGENT_SETTINGS_KEY=${randomBytes(32).toString('base64')}`);
      return 0;
    }
    case 'env':
      for (const [k, v] of Object.entries(platformEnv(ctx))) info(`export ${k}='${v}'`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      info(USAGE);
      return 0;
    default:
      info(USAGE);
      throw new PlatformError('quire', `unknown command "${command}"`, 'see the usage above');
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof PlatformError) process.stderr.write(`${err.render()}\n`);
    else process.stderr.write(`quire: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
