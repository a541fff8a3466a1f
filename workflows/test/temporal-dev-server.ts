import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A Temporal dev server of the test's own (SQLite file, its own ports), so a
 * test can kill and restart it without touching the platform's server.
 */
export { freePort } from '@quire/service-kit';

export class TemporalDevServer {
  private proc?: ChildProcess;
  log = '';

  constructor(
    readonly binary: string,
    readonly port: number,
    readonly dbFile: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn(
      this.binary,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--headless',
        '--db-filename',
        this.dbFile,
        '--namespace',
        'default',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout!.on('data', (d) => (this.log += d));
    this.proc.stderr!.on('data', (d) => (this.log += d));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null)
        throw new Error(`temporal dev server exited: ${this.log.slice(-2000)}`);
      if (await this.healthy()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`temporal dev server not ready after 60 s: ${this.log.slice(-2000)}`);
  }

  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const p = spawn(
        this.binary,
        ['operator', 'cluster', 'health', '--address', this.address, '--command-timeout', '2s'],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.once('exit', () => resolve(out.includes('SERVING')));
      p.once('error', () => resolve(false));
    });
  }

  /** kill -9: no graceful shutdown, as after a crash. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}
