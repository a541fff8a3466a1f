import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';

/**
 * A sandbox's stdio as named pipes, so that a sandbox outlives its host worker
 * (kill -9, crash, upgrade) and the next host-worker process re-attaches.
 *
 * `runsc` gets both FIFOs opened read-write: a FIFO opened O_RDWR is never
 * "without a reader" or "without a writer", so while no host worker is
 * attached the kernel shim's writes simply wait in the pipe (it blocks when the
 * 64 KiB buffer is full — nothing is lost) and its stdin never sees EOF. The
 * host worker holds only its own ends: a non-blocking reader of `out` and
 * writer of `in`, both on the event loop (no thread-pool reads). Our reader
 * sees EOF only when the sandbox and its runsc process are gone — that is how
 * an adopted sandbox's exit is noticed. stderr (runsc's and the shim's) goes to
 * a log file.
 */
export class SandboxStdio {
  constructor(readonly dir: string) {}

  get inPath(): string {
    return join(this.dir, 'in');
  }
  get outPath(): string {
    return join(this.dir, 'out');
  }
  get errPath(): string {
    return join(this.dir, 'stderr.log');
  }

  /** Fresh FIFOs: bytes left in old ones must not leak into a new run. */
  create(): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', this.inPath, this.outPath]);
  }

  exists(): boolean {
    return existsSync(this.inPath) && existsSync(this.outPath);
  }

  /** The three fds the runsc process inherits; close ours once it is spawned. */
  openForSandbox(): { fds: [number, number, number]; close: () => void } {
    const fds: [number, number, number] = [
      openSync(this.inPath, constants.O_RDWR),
      openSync(this.outPath, constants.O_RDWR),
      openSync(this.errPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600),
    ];
    return { fds, close: () => fds.forEach((fd) => closeSync(fd)) };
  }

  /** Our ends. Opening cannot block: the sandbox holds both FIFOs read-write. */
  openHostEnds(): { stdout: Socket; stdin: Socket } {
    const outFd = openSync(this.outPath, constants.O_RDONLY | constants.O_NONBLOCK);
    const inFd = openSync(this.inPath, constants.O_WRONLY | constants.O_NONBLOCK);
    return {
      stdout: new Socket({ fd: outFd, readable: true, writable: false }),
      stdin: new Socket({ fd: inFd, readable: false, writable: true }),
    };
  }

  /** Last `bytes` of the stderr log. */
  stderrTail(bytes = 8000): string {
    try {
      const size = statSync(this.errPath).size;
      const n = Math.min(bytes, size);
      const buf = Buffer.alloc(n);
      const fd = openSync(this.errPath, 'r');
      try {
        readSync(fd, buf, 0, n, size - n);
      } finally {
        closeSync(fd);
      }
      return buf.toString('utf8');
    } catch {
      return '';
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
