/**
 * Console output of the launcher: one line per step, a ticking elapsed time for
 * long steps (installs, compiles), and failures that name the piece and what
 * to do about it.
 */
const isTty = process.stdout.isTTY === true;
const color = (code: number) => (s: string) => (isTty ? `\u001b[${code}m${s}\u001b[0m` : s);
export const green = color(32);
export const red = color(31);
export const yellow = color(33);
export const dim = color(2);
export const bold = color(1);

export function info(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

export function warn(msg: string): void {
  process.stdout.write(`${yellow('!')} ${msg}\n`);
}

/** A failure a person can act on: which piece, what happened, what to do. */
export class PlatformError extends Error {
  constructor(
    readonly piece: string,
    readonly problem: string,
    readonly remedy: string,
    readonly logFile?: string,
  ) {
    super(`${piece}: ${problem}`);
    this.name = 'PlatformError';
  }

  render(): string {
    const lines = [`${red('✗')} ${bold(this.piece)}: ${this.problem}`, `  what to do: ${this.remedy}`];
    if (this.logFile) lines.push(`  log: ${this.logFile}`);
    return lines.join('\n');
  }
}

/** Runs a step, printing its name, a heartbeat every 15 s while it runs, and its duration. */
export async function step<T>(
  label: string,
  fn: () => Promise<T>,
  opts: { quietIfFast?: boolean } = {},
): Promise<T> {
  const started = Date.now();
  if (!opts.quietIfFast) process.stdout.write(`${dim('…')} ${label}\n`);
  const timer = setInterval(() => {
    process.stdout.write(
      `  ${dim(`${label}: still working (${Math.round((Date.now() - started) / 1000)} s)`)}\n`,
    );
  }, 15_000);
  try {
    const result = await fn();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${green('✓')} ${label} ${dim(`(${secs} s)`)}\n`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
