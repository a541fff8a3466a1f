import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  createBundle,
  KERNEL_ENV_MOUNT,
  removeBundle,
  SANDBOX_GID,
  SANDBOX_UID,
  type LinuxDeviceNode,
  type Runsc,
  type SandboxLimits,
} from '@quire/sandbox-gvisor';
import { KernelClient, KernelUnavailableError } from '../jupyter/kernel-client';
import { JupyterSession } from '../jupyter/wire';
import { CgroupSampler, cgroupPathsOf, oomMessage, type ResourceReading } from './cgroup-sampler';
import { attachHomeVolume, prepareHomeSlot, releaseHomeSlot } from './home-volume-slot';
import { StdioRelayTransport, type ShimMessage } from './relay-transport';
import { SandboxStdio } from './sandbox-stdio';

/** Where the kernel shim's Python files are mounted inside every sandbox. */
export const SHIM_MOUNT = '/opt/quire/shim';

export interface GvisorKernelOptions {
  sandboxId: string;
  runsc: Runsc;
  /** Host folder for this sandbox's bundle (config.json + rootfs skeleton). */
  bundleDir: string;
  kernelEnvDir: string;
  shimDir: string;
  homeVolumeDir?: string;
  /**
   * Warm-pool layout instead of homeVolumeDir: a slot folder mounted at /home,
   * the user's volume bind-mounted into it later (attachHome) — see
   * home-volume-slot.ts. `volumeDir` is set once the user is known.
   */
  homeSlot?: { dir: string; volumeDir?: string };
  limits: SandboxLimits;
  /** Modules imported before the kernel is handed out (warm pool). */
  preload?: string[];
  /** Connection key; generated when absent. Needed again to re-adopt or restore elsewhere. */
  key?: string;
  /** Extra environment for the sandbox's processes (applied last). */
  env?: Record<string, string>;
  /** The allocated GPU, passed through gVisor's nvproxy (see src/gpu/gpu-sandbox-plan.ts). */
  gpu?: SandboxGpu;
}

/** What a sandbox needs to see exactly one GPU through `runsc --nvproxy`. */
export interface SandboxGpu {
  runscFlags: string[];
  devices: LinuxDeviceNode[];
  env: Record<string, string>;
  readOnlyMounts: { source: string; destination: string }[];
}

export type ExitReason = 'oom' | 'crash' | 'killed' | 'shutdown' | 'runtime_cap';

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  reason: ExitReason;
  /** What the user is told. */
  message: string;
  peakMemoryBytes?: number;
  memoryLimitBytes?: number;
  /** Last lines runsc and the shim wrote to stderr. */
  stderrTail: string;
}

export interface CheckpointResult {
  imageDir: string;
  bytes: number;
  ms: number;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    total += s.isDirectory() ? dirBytes(p) : s.size;
  }
  return total;
}

/**
 * One Python kernel in one gVisor sandbox: the shim is PID 1, ipykernel its
 * child, and the Jupyter messages flow over the container's stdio (the only
 * channel that survives checkpoint/restore). The Jupyter protocol itself —
 * signing, replies, IOPub — is spoken here by KernelClient.
 */
export class GvisorKernelSandbox {
  readonly transport = new StdioRelayTransport();
  readonly client: KernelClient;
  readonly key: string;
  private child?: ChildProcess;
  private stderrBuf = '';
  /** gVisor: the sandbox's named-pipe stdio (survives this process; see sandbox-stdio.ts). */
  private stdio?: SandboxStdio;
  /** A sandbox process is attached and has not ended. */
  private live = false;
  private exitWaiters: ((exit: SandboxExit) => void)[] = [];
  private lastExit?: SandboxExit;
  /** Set while a checkpoint is under way, so the sandbox's exit is not a crash. */
  private checkpointing = false;
  /** Set when we end the sandbox ourselves, so its exit is not reported as a crash. */
  protected terminating: ExitReason | undefined;
  private sampler?: CgroupSampler;
  /** Set when the sampler saw the sandbox frozen at its memory limit and we ended it. */
  private oomDetected = false;
  state: 'starting' | 'running' | 'hibernated' | 'exited' = 'starting';
  kernelPid?: number;
  onShimMessage?: (msg: ShimMessage) => void;
  onExit?: (exit: SandboxExit) => void;

  constructor(readonly opts: GvisorKernelOptions) {
    this.key = opts.key ?? randomBytes(32).toString('hex');
    this.client = new KernelClient(
      this.transport,
      new JupyterSession(this.key, 'quire', `quire-host-${opts.sandboxId}`),
    );
    this.transport.on('shim', (msg: ShimMessage) => {
      if (msg.type === 'ready') this.kernelPid = msg.kernelPid;
      this.onShimMessage?.(msg);
    });
  }

  get id(): string {
    return this.opts.sandboxId;
  }

  /** Last lines runsc and the shim wrote to stderr. */
  protected get stderrTail(): string {
    return this.stdio ? this.stdio.stderrTail() : this.stderrBuf;
  }

  /** Writes the OCI bundle. Idempotent. */
  prepareBundle(): void {
    const { opts } = this;
    createBundle(opts.bundleDir, {
      args: [`${KERNEL_ENV_MOUNT}/bin/python`, '-u', `${SHIM_MOUNT}/quire_kernel_shim.py`],
      // The shim (PID 1) is the sandbox's root with only what it needs to start
      // the kernel as uid 1000 and signal it; a cell can then neither signal the
      // shim nor read its /proc entries. Sandbox root is not host root: gVisor
      // runs the whole sandbox as an unprivileged host user.
      uid: 0,
      gid: 0,
      capabilities: ['CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE'],
      env: {
        QUIRE_KERNEL_UID: String(SANDBOX_UID),
        QUIRE_KERNEL_GID: String(SANDBOX_GID),
        QUIRE_KERNEL_KEY: this.key,
        QUIRE_KERNEL_SESSION: this.client.session.sessionId,
        QUIRE_KERNEL_PRELOAD: (opts.preload ?? []).join(','),
        QUIRE_KERNEL_RUNTIME_DIR: '/tmp/quire-kernel',
        MPLBACKEND: 'module://matplotlib_inline.backend_inline',
        PYTHONDONTWRITEBYTECODE: '1',
        ...(opts.gpu?.env ?? {}),
        ...(opts.env ?? {}),
      },
      limits: opts.limits,
      kernelEnvDir: opts.kernelEnvDir,
      ...(opts.homeVolumeDir ? { homeVolumeDir: opts.homeVolumeDir } : {}),
      ...(opts.homeSlot ? { homeParentDir: opts.homeSlot.dir } : {}),
      readOnlyMounts: [
        { source: opts.shimDir, destination: SHIM_MOUNT },
        ...(opts.gpu?.readOnlyMounts ?? []),
      ],
      ...(opts.gpu ? { devices: opts.gpu.devices } : {}),
      hostname: 'quire-kernel',
    });
  }

  /** Process runtime: the shim is our child and its stdio are ordinary pipes. */
  protected bindChild(child: ChildProcessWithoutNullStreams): void {
    this.child = child;
    this.lastExit = undefined;
    this.live = true;
    this.transport.attach(child.stdout, child.stdin);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderrBuf = (this.stderrBuf + d).slice(-8000);
    });
    child.once('close', (code, signal) => this.onProcessEnd(code, signal, child));
  }

  /** gVisor: runsc (run or restore) on fresh named pipes, in its own session. */
  private launch(kind: 'run' | 'restore', imageDir?: string): void {
    const io = new SandboxStdio(join(this.opts.bundleDir, 'stdio'));
    io.create();
    const forSandbox = io.openForSandbox();
    let child: ChildProcess;
    try {
      child =
        kind === 'run'
          ? this.opts.runsc.runDetached(
              this.id,
              this.opts.bundleDir,
              forSandbox.fds,
              this.opts.gpu?.runscFlags,
            )
          : this.opts.runsc.restoreDetached(this.id, this.opts.bundleDir, imageDir!, forSandbox.fds);
    } finally {
      forSandbox.close(); // runsc holds them now
    }
    this.bindSandbox(io, child);
  }

  /**
   * Attaches to the sandbox's pipes. With `child` (we started runsc) the exit
   * status comes from it; without (adopted after a restart) the end of the
   * output pipe is the exit, status unknown.
   */
  private bindSandbox(io: SandboxStdio, child: ChildProcess | undefined, resyncToken?: string): void {
    this.stdio = io;
    this.child = child;
    this.lastExit = undefined;
    this.live = true;
    const { stdout, stdin } = io.openHostEnds();
    this.transport.attach(stdout, stdin, resyncToken ? { resyncToken } : {});
    let status: { code: number | null; signal: NodeJS.Signals | null } | undefined = child
      ? undefined
      : { code: null, signal: null };
    let outputEnded = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      stdin.destroy();
      stdout.destroy();
      this.onProcessEnd(status?.code ?? null, status?.signal ?? null, child);
    };
    stdout.on('error', () => undefined);
    stdout.once('close', () => {
      outputEnded = true;
      if (status) finish();
    });
    child?.once('exit', (code, signal) => {
      status = { code, signal };
      // Let the last records (e.g. kernel-exited) drain first; the pipe ends with the sandbox.
      if (outputEnded) finish();
      else setTimeout(finish, 1000).unref();
    });
  }

  private onProcessEnd(code: number | null, signal: NodeJS.Signals | null, child?: ChildProcess): void {
    this.live = false;
    this.sampler?.read();
    this.sampler?.stop();
    const exit = this.classifyExit(code, signal);
    this.lastExit = exit;
    if (this.child === child) this.child = undefined;
    if (!this.checkpointing) {
      this.state = 'exited';
      void this.releaseHome();
      this.client.failAll(new KernelUnavailableError(exit.message));
      this.onExit?.(exit);
    }
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    waiters.forEach((w) => w(exit));
  }

  /**
   * Re-attaches to a sandbox that kept running while no host worker was there
   * (this process restarted after a crash or kill -9): re-opens its named
   * pipes, resynchronises the record stream, checks the kernel's heartbeat.
   * A cell that was running carries on; its output from before is not replayed.
   */
  async adopt(timeoutMs = 15_000): Promise<void> {
    const io = new SandboxStdio(join(this.opts.bundleDir, 'stdio'));
    if (!io.exists()) throw new KernelUnavailableError(`sandbox ${this.id} has no stdio pipes to re-open`);
    const token = randomBytes(16).toString('hex');
    this.bindSandbox(io, undefined, token);
    await this.transport.requestResync(token, timeoutMs);
    await this.waitForHeartbeat(timeoutMs);
    await this.startSampling();
    this.state = 'running';
  }

  private classifyExit(code: number | null, signal: NodeJS.Signals | null): SandboxExit {
    const base = { code, signal, stderrTail: this.stderrTail };
    const limit = this.opts.limits.memoryBytes;
    if (this.terminating) {
      return {
        ...base,
        reason: this.terminating,
        message:
          this.terminating === 'runtime_cap'
            ? 'Kernel stopped: the cell ran past its time limit'
            : 'Kernel stopped',
      };
    }
    const killed = code === 137 || signal === 'SIGKILL';
    // Out of memory shows up as the OOM killer's SIGKILL (137), or — when the
    // sandbox hits the frozen limit before the sampler's next reading — as
    // gVisor's Sentry failing an allocation and exiting (seen: code 2). Any
    // unexpected exit at the memory limit is reported as what it is.
    const unexpected = code !== 0 || signal !== null;
    if (this.oomDetected || (unexpected && this.sampler?.looksLikeOom())) {
      // The last reading before the end; the cgroup never reports above its limit.
      const peak = Math.min(this.sampler?.peak || limit, limit);
      return {
        ...base,
        reason: 'oom',
        message: oomMessage(peak, limit),
        peakMemoryBytes: peak,
        memoryLimitBytes: limit,
      };
    }
    return {
      ...base,
      reason: killed ? 'killed' : 'crash',
      message: `Kernel died (sandbox exited with ${code ?? signal ?? 'an unknown status'})`,
    };
  }

  /** Latest memory/CPU reading of the sandbox (undefined while not running). */
  resources(): ResourceReading | undefined {
    return this.sampler?.read();
  }

  private async startSampling(): Promise<void> {
    const pid = await this.sandboxPid().catch(() => undefined);
    if (!pid) return;
    try {
      this.sampler = new CgroupSampler(cgroupPathsOf(pid), this.opts.limits.memoryBytes);
      if (this.sampler.disableOomKiller()) {
        const sampler = this.sampler;
        sampler.onUnderOom = () => {
          this.oomDetected = true;
          sampler.enableOomKiller();
          void this.opts.runsc.kill(this.id, 'KILL', true).catch(() => this.child?.kill('SIGKILL'));
        };
      }
      this.sampler.start(100);
    } catch {
      this.sampler = undefined; // no cgroup view (e.g. the process already exited)
    }
  }

  protected waitForShimReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new KernelUnavailableError(
            `kernel shim not ready in ${timeoutMs} ms: ${this.stderrTail.slice(-1000)}`,
          ),
        );
      }, timeoutMs);
      const onShim = (msg: ShimMessage) => {
        if (msg.type === 'ready') {
          cleanup();
          resolve();
        }
      };
      const onExit = (exit: SandboxExit) => {
        cleanup();
        reject(
          new KernelUnavailableError(
            `sandbox exited during start (${exit.code ?? exit.signal}): ${exit.stderrTail.slice(-1000)}`,
          ),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.transport.off('shim', onShim);
        this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
      };
      this.transport.on('shim', onShim);
      this.exitWaiters.push(onExit);
    });
  }

  /** Boots the sandbox and waits until the kernel answers kernel_info. */
  async start(timeoutMs = 60_000): Promise<{ bootMs: number }> {
    const t0 = Date.now();
    this.prepareBundle();
    await this.prepareHome();
    const ready = this.waitForShimReady(timeoutMs);
    this.launch('run');
    await ready;
    await this.startSampling();
    await this.client.waitForReady(Math.max(1000, timeoutMs - (Date.now() - t0)));
    this.state = 'running';
    return { bootMs: Date.now() - t0 };
  }

  /** The runsc sandbox's host pid (the gVisor sandbox process), for resource sampling. */
  async sandboxPid(): Promise<number | undefined> {
    return (await this.opts.runsc.state(this.id))?.pid;
  }

  /**
   * Freezes the whole sandbox to `imageDir` (runsc checkpoint) and frees it:
   * after this the kernel holds no memory on the host.
   */
  async checkpoint(imageDir: string): Promise<CheckpointResult> {
    if (this.state !== 'running')
      throw new KernelUnavailableError(`cannot checkpoint a ${this.state} kernel`);
    const t0 = Date.now();
    this.checkpointing = true;
    try {
      const exited = this.live
        ? new Promise<SandboxExit>((r) => this.exitWaiters.push(r))
        : Promise.resolve(undefined);
      await this.opts.runsc.checkpoint(this.id, imageDir);
      await exited;
      await this.opts.runsc.delete(this.id).catch(() => undefined);
      await this.releaseHome();
      this.state = 'hibernated';
      return { imageDir, bytes: dirBytes(imageDir), ms: Date.now() - t0 };
    } finally {
      this.checkpointing = false;
    }
  }

  /**
   * Writes a checkpoint image and leaves the sandbox running, on the same
   * stdio (`checkpoint --leave-running`; only where the runsc resumes in
   * place: `Runsc.info.checkpointResumesInPlace`). The kernel is frozen only
   * while the image is written.
   */
  async checkpointLeavingRunning(imageDir: string): Promise<CheckpointResult> {
    if (this.state !== 'running')
      throw new KernelUnavailableError(`cannot checkpoint a ${this.state} kernel`);
    if (!this.opts.runsc.info.checkpointResumesInPlace)
      throw new KernelUnavailableError(
        `runsc ${this.opts.runsc.info.version} cannot checkpoint a sandbox and leave it running on its own stdio`,
      );
    const t0 = Date.now();
    await this.opts.runsc.checkpoint(this.id, imageDir, { leaveRunning: true });
    if (!this.live) throw new KernelUnavailableError('the sandbox ended during its checkpoint');
    await this.waitForHeartbeat(10_000);
    return { imageDir, bytes: dirBytes(imageDir), ms: Date.now() - t0 };
  }

  /** Brings a checkpointed kernel back (on this host or another one with the same bundle inputs). */
  /**
   * `kernelBusy`: the kernel is in the middle of a cell (a `%checkpoint` that
   * waits for its answer), so readiness is the heartbeat (answered by
   * ipykernel's own thread), not kernel_info (queued behind the cell).
   */
  async restore(
    imageDir: string,
    timeoutMs = 60_000,
    opts: { kernelBusy?: boolean } = {},
  ): Promise<{ ms: number }> {
    if (!existsSync(imageDir)) throw new KernelUnavailableError(`no checkpoint image at ${imageDir}`);
    const t0 = Date.now();
    this.prepareBundle();
    await this.prepareHome();
    await this.opts.runsc.delete(this.id).catch(() => undefined);
    const failedEarly = new Promise<never>((_, reject) =>
      this.exitWaiters.push((exit) =>
        reject(
          new KernelUnavailableError(
            `restore failed (${exit.code ?? exit.signal}): ${exit.stderrTail.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        ),
      ),
    );
    failedEarly.catch(() => undefined);
    this.launch('restore', imageDir);
    await Promise.race([
      opts.kernelBusy ? this.waitForHeartbeat(timeoutMs) : this.client.waitForReady(timeoutMs),
      failedEarly,
    ]);
    await this.startSampling();
    this.state = 'running';
    return { ms: Date.now() - t0 };
  }

  private async waitForHeartbeat(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.client.heartbeat(1000)) return;
    }
    throw new KernelUnavailableError(`no heartbeat from the restored kernel in ${timeoutMs} ms`);
  }

  /** Ends the sandbox and removes its bundle. */
  async terminate(reason: ExitReason = 'shutdown'): Promise<SandboxExit | undefined> {
    this.terminating = reason;
    const child = this.child;
    const exited = this.live
      ? new Promise<SandboxExit>((r) => this.exitWaiters.push(r))
      : Promise.resolve(this.lastExit);
    await this.opts.runsc.kill(this.id, 'KILL', true).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      exited,
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 10_000))),
    ]);
    clearTimeout(timer);
    child?.kill('SIGKILL');
    await this.opts.runsc.delete(this.id).catch(() => undefined);
    removeBundle(this.opts.bundleDir);
    await this.releaseHome();
    this.state = 'exited';
    return exit;
  }

  /** Slot layout: the slot is a shared mount, and the user's volume is in it when known. */
  private async prepareHome(): Promise<void> {
    const slot = this.opts.homeSlot;
    if (!slot) return;
    await prepareHomeSlot(slot.dir);
    if (slot.volumeDir) await attachHomeVolume(slot.dir, slot.volumeDir);
  }

  /** Undoes the slot's mounts once no sandbox uses them (exit, checkpoint, terminate). */
  async releaseHome(): Promise<void> {
    if (this.opts.homeSlot) await releaseHomeSlot(this.opts.homeSlot.dir).catch(() => undefined);
  }

  /**
   * Hands a pre-booted (warm-pool) sandbox to its user: their volume appears
   * at /home/jovyan and the kernel's working directory moves there.
   */
  async attachHome(volumeDir: string): Promise<void> {
    const slot = this.opts.homeSlot;
    if (!slot) throw new KernelUnavailableError('this sandbox was not booted with a home slot');
    await attachHomeVolume(slot.dir, volumeDir);
    slot.volumeDir = volumeDir;
    const r = await this.client.execute(
      // The working directory moves home, and the user's own site-packages
      // (pip install --user) count as they do in a kernel booted for this user.
      "import os as __q_os, site as __q_site, sys as __q_sys\n__q_os.chdir('/home/jovyan')\n" +
        '__q_us = __q_site.getusersitepackages()\n' +
        'if __q_os.path.isdir(__q_us) and __q_us not in __q_sys.path: __q_site.addsitedir(__q_us)\n' +
        'del __q_os, __q_site, __q_sys, __q_us',
      { silent: true, storeHistory: false },
    );
    if (r.reply.status !== 'ok')
      throw new KernelUnavailableError(`the home volume did not appear in the sandbox (${r.reply.status})`);
  }

  /** Kills the process this object spawned (the runsc run, or the shim in the process runtime). */
  protected killChild(): void {
    this.child?.kill('SIGKILL');
  }

  /** SIGINT (or another signal) to the kernel process, through the shim. */
  signalKernel(signal: 'SIGINT' | 'SIGTERM' | 'SIGKILL'): void {
    this.transport.sendShim({ type: 'signal', signal });
  }

  replyToShim(msg: Record<string, unknown>): void {
    this.transport.sendShim(msg);
  }

  private waitForShim<T extends ShimMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ShimMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.transport.off('shim', on);
        reject(new KernelUnavailableError(`no ${type} from the kernel shim in ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (msg: ShimMessage) => {
        if (msg.type !== type) return;
        clearTimeout(timer);
        this.transport.off('shim', on);
        resolve(msg as Extract<ShimMessage, { type: T }>);
      };
      this.transport.on('shim', on);
    });
  }

  /**
   * Stops the running cell: interrupt_request (KeyboardInterrupt), and if the
   * kernel is not idle within `graceMs` (a C-level loop that never checks for
   * signals), SIGKILL the kernel process and start a fresh kernel in the same
   * sandbox. Variables are lost only in the second case.
   */
  async interruptOrKill(graceMs = 2000): Promise<'interrupted' | 'killed'> {
    if (this.client.runningExecutions === 0) return 'interrupted';
    const idle = this.client.waitForNoExecutions(graceMs);
    void this.client.interrupt(graceMs).catch(() => undefined);
    if (await idle) return 'interrupted';
    const exited = this.waitForShim('kernel-exited', 10_000);
    this.signalKernel('SIGKILL');
    await exited;
    this.client.failAll(
      new KernelUnavailableError(
        'The cell was force-terminated: it did not respond to an interrupt. Variables were lost; the kernel was restarted.',
      ),
    );
    await this.restartKernel();
    return 'killed';
  }

  /** A fresh kernel process in the same sandbox (Jupyter's "restart"). */
  async restartKernel(timeoutMs = 60_000): Promise<void> {
    const ready = this.waitForShim('ready', timeoutMs);
    this.transport.sendShim({ type: 'restart' });
    await ready;
    await this.client.waitForReady(timeoutMs);
  }
}
