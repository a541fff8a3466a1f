import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ResourceSample,
  SandboxExited,
  SandboxStarted,
  SnapshotRestored,
  SnapshotTaken,
  SYSTEM_TENANT,
  agentRunOfForkKernel,
  uuidv7,
  type ForkKernelResponse,
  type HostKernelSummary,
  type KernelShellReply,
  type KernelShellRequestType,
} from '@quire/contracts';
import type { EventProducer } from '@quire/contracts/kafka';
import { DEFAULT_LIMITS, Runsc, type SandboxLimits } from '@quire/sandbox-gvisor';
import type { JsonLogger } from '@quire/service-kit';
import { QuireError } from '@quire/service-kit';
import type { HostWorkerConfig } from '../config';
import type { ExecuteOptions, ExecuteResult } from '../jupyter/kernel-client';
import { formatGiB } from '../sandbox/cgroup-sampler';
import type { GpuInventory } from '../gpu/gpu-inventory';
import { planGpuSandbox, type RequestedGpu } from '../gpu/gpu-sandbox-plan';
import { readGpuUsage, type GpuUsage } from '../gpu/gpu-usage';
import { GvisorKernelSandbox, type SandboxExit, type SandboxGpu } from '../sandbox/gvisor-kernel-sandbox';
import { releaseHomeSlot } from '../sandbox/home-volume-slot';
import { ProcessKernelSandbox } from '../sandbox/process-kernel-sandbox';
import type { ShimMessage } from '../sandbox/relay-transport';
import type { SnapshotStore } from '../snapshots/snapshot-store';
import {
  POOL_KERNEL_ENV,
  poolSandboxFactory,
  WarmPool,
  type AcquiredKernel,
  type WarmPoolStats,
} from './warm-pool';

function sameLimits(a: SandboxLimits, b: SandboxLimits): boolean {
  return (
    a.memoryBytes === b.memoryBytes && a.cpus === b.cpus && a.pids === b.pids && a.tmpBytes === b.tmpBytes
  );
}

/** Who a kernel belongs to: one kernel = one notebook = one tenant (invariant 2). */
export interface KernelOwner {
  kernelId: string;
  tenant: string;
  notebookId: string;
  userId: string;
}

export interface StartKernelRequest extends KernelOwner {
  limits?: Partial<SandboxLimits>;
  /** Take a pre-booted sandbox from the warm pool when one fits (default true). */
  warmPool?: boolean;
  /** The allocated GPU; the kernel starts with it or not at all. */
  gpu?: RequestedGpu;
}

interface KernelRecord extends KernelOwner {
  sandbox: GvisorKernelSandbox;
  /** The GPU this kernel holds (its ResourceSamples carry that GPU's use). */
  gpu?: RequestedGpu;
  limits: SandboxLimits;
  lastSnapshot?: { snapshotId: string; imageDir: string; bytes: number; location: string };
  runningCell?: { executionId: string; origin: 'human' | 'agent' };
  /** Set on a fork (kernel-fork.ts): whose copy it is, the run it is billed to, its image. */
  fork?: { parentKernelId: string; agentRunId: string; dir: string; response: ForkKernelResponse };
  /** Set on a kernel while a fork of it is being taken: cells wait for it instead of failing. */
  forking?: Promise<unknown>;
}

const DESCRIPTOR_FILE = 'quire-restore.json';

/** Stored inside every snapshot: what any host needs to restore it. */
interface RestoreDescriptor extends KernelOwner {
  sandboxId: string;
  key: string;
  limits: SandboxLimits;
  /** Set for a kernel that came from the warm pool: its home is a slot at this (same-on-every-host) path. */
  homeSlotDir?: string;
}

/** What a host remembers about a kernel on disk, to re-adopt it after a restart. */
interface KernelMeta extends KernelOwner {
  sandboxId: string;
  key: string;
  limits: SandboxLimits;
  homeSlotDir?: string;
  state: 'running' | 'hibernated';
  lastSnapshot?: KernelRecord['lastSnapshot'];
}

export class SnapshotTooBigError extends QuireError {
  constructor(resident: number, limit: number) {
    super(
      'conflict',
      `This kernel uses ${formatGiB(resident)} of memory; snapshots are limited to ${formatGiB(limit)}. It was not hibernated: when it is stopped, Run All to recompute.`,
      'kernel.snapshot_too_big',
    );
  }
}

/**
 * Every kernel on this host: start (sandbox + ipykernel), execute with the
 * per-cell runtime cap, interrupt, snapshot to S3, restore (also of kernels
 * hibernated on another host), terminate. Every sandbox and snapshot fact is
 * published on host.events.v1 with real figures.
 */
export class KernelHost {
  private readonly kernels = new Map<string, KernelRecord>();
  /** Kernel ids being started from the pool (not yet in `kernels`). */
  private readonly starting = new Set<string>();
  readonly runsc: Runsc;
  private readonly pool?: WarmPool;
  /** Pool sandboxes are booted with these limits; a request for others cold-boots. */
  private readonly poolLimits: SandboxLimits = DEFAULT_LIMITS;

  constructor(
    private readonly cfg: HostWorkerConfig,
    private readonly events: EventProducer,
    private readonly snapshots: SnapshotStore,
    private readonly log: JsonLogger,
    /** This host's GPUs and driver libraries; absent: GPU kernels are refused (gpu.not_present). */
    private readonly gpus?: { inventory: GpuInventory; driverLibraries: () => Promise<string[]> },
  ) {
    mkdirSync(this.dir('meta'), { recursive: true });
    this.runsc = new Runsc({
      rootDir: this.dir('runsc'),
      runscPath: cfg.QUIRE_RUNSC_PATH,
      ...(cfg.QUIRE_RUNSC_PLATFORM ? { platform: cfg.QUIRE_RUNSC_PLATFORM } : {}),
      ...(cfg.QUIRE_RUNSC_SHARED_ROOT ? { sharedRootDir: cfg.QUIRE_RUNSC_SHARED_ROOT } : {}),
    });
    log.info('runsc', {
      path: this.runsc.path,
      version: this.runsc.info.version,
      platform: this.runsc.platform,
      sharedRoot: this.runsc.sharedRootDir ?? null,
    });
    if (cfg.QUIRE_KERNEL_RUNTIME === 'process') log.warn(ProcessKernelSandbox.WARNING);
    if (cfg.QUIRE_WARM_POOL_SIZE > 0 && cfg.QUIRE_KERNEL_RUNTIME === 'gvisor') {
      this.pool = new WarmPool({
        target: cfg.QUIRE_WARM_POOL_SIZE,
        factory: poolSandboxFactory({
          runsc: this.runsc,
          workDir: cfg.hostStateDir,
          homeSlotsDir: join(cfg.volumesDir, '.slots'),
          idPrefix: `pool-${cfg.QUIRE_HOST_ID.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)}`,
          kernelEnvDir: cfg.QUIRE_KERNEL_ENV,
          shimDir: cfg.QUIRE_KERNEL_SHIM_DIR,
          limits: this.poolLimits,
        }),
        onEvent: (e) => {
          if (e.type === 'boot-failed' || e.type === 'refill-paused' || e.type === 'discarded')
            log.warn(`warm pool: ${e.type}`, { ...e });
          else log.debug(`warm pool: ${e.type}`, { ...e });
        },
      });
    } else if (cfg.QUIRE_WARM_POOL_SIZE > 0) {
      log.warn('warm pool disabled: the process runtime has none');
    }
  }

  private dir(...parts: string[]): string {
    return join(this.cfg.hostStateDir, ...parts);
  }

  get size(): number {
    return this.kernels.size;
  }

  list(): HostKernelSummary[] {
    return [...this.kernels.values()].map((k) => ({
      kernelId: k.kernelId,
      notebookId: k.notebookId,
      tenant: k.tenant,
      sandboxId: k.sandbox.id,
      state: k.sandbox.state,
      lastSnapshotId: k.lastSnapshot?.snapshotId ?? null,
      ...(k.fork ? { fork: { parentKernelId: k.fork.parentKernelId, agentRunId: k.fork.agentRunId } } : {}),
      resources: k.sandbox.state === 'running' ? (k.sandbox.resources() ?? null) : null,
    }));
  }

  private get(kernelId: string): KernelRecord {
    const k = this.kernels.get(kernelId);
    if (!k) throw new QuireError('not_found', `kernel ${kernelId} is not on this host`, 'kernel.not_found');
    return k;
  }

  private volumeOf(owner: KernelOwner): string {
    const volume = join(this.cfg.volumesDir, owner.tenant, owner.userId);
    mkdirSync(volume, { recursive: true });
    return volume;
  }

  /** `homeSlotDir`: rebuild a warm-pool kernel's layout (restore, re-adoption). */
  private newSandbox(
    owner: KernelOwner,
    limits: SandboxLimits,
    sandboxId: string,
    key?: string,
    homeSlotDir?: string,
    gpu?: SandboxGpu,
  ): GvisorKernelSandbox {
    const volume = this.volumeOf(owner);
    const Sandbox = this.cfg.QUIRE_KERNEL_RUNTIME === 'process' ? ProcessKernelSandbox : GvisorKernelSandbox;
    return new Sandbox({
      sandboxId,
      runsc: this.runsc,
      bundleDir: this.dir('bundles', sandboxId),
      kernelEnvDir: this.cfg.QUIRE_KERNEL_ENV,
      shimDir: this.cfg.QUIRE_KERNEL_SHIM_DIR,
      ...(homeSlotDir
        ? { homeSlot: { dir: homeSlotDir, volumeDir: volume }, env: { ...POOL_KERNEL_ENV } }
        : { homeVolumeDir: volume }),
      limits,
      ...(key ? { key } : {}),
      ...(gpu ? { gpu } : {}),
    });
  }

  private wire(record: KernelRecord): void {
    const { sandbox } = record;
    sandbox.onExit = (exit) => void this.onSandboxExit(record, exit);
    sandbox.onShimMessage = (msg) => void this.onShimMessage(record, msg);
  }

  private saveMeta(record: KernelRecord): void {
    const meta: KernelMeta = {
      kernelId: record.kernelId,
      tenant: record.tenant,
      notebookId: record.notebookId,
      userId: record.userId,
      sandboxId: record.sandbox.id,
      key: record.sandbox.key,
      limits: record.limits,
      ...(record.sandbox.opts.homeSlot ? { homeSlotDir: record.sandbox.opts.homeSlot.dir } : {}),
      state: record.sandbox.state === 'hibernated' ? 'hibernated' : 'running',
      ...(record.lastSnapshot ? { lastSnapshot: record.lastSnapshot } : {}),
    };
    writeFileSync(this.dir('meta', `${record.kernelId}.json`), JSON.stringify(meta, null, 2), {
      mode: 0o600,
    });
  }

  async start(
    req: StartKernelRequest,
  ): Promise<{ sandboxId: string; bootMs: number; fromWarmPool: boolean }> {
    if (this.kernels.has(req.kernelId) || this.starting.has(req.kernelId)) {
      throw new QuireError('conflict', `kernel ${req.kernelId} already runs on this host`, 'kernel.exists');
    }
    const limits = { ...DEFAULT_LIMITS, ...req.limits };
    if (req.gpu) return this.startWithGpu(req, req.gpu, limits);
    if (this.pool && req.warmPool !== false && sameLimits(limits, this.poolLimits)) {
      this.starting.add(req.kernelId);
      try {
        return await this.startFromPool(req, limits, this.pool);
      } finally {
        this.starting.delete(req.kernelId);
      }
    }
    return this.startCold(req, limits);
  }

  /** A GPU kernel: never from the warm pool, never without its GPU (refusals in planGpuSandbox). */
  private async startWithGpu(
    req: StartKernelRequest,
    requested: RequestedGpu,
    limits: SandboxLimits,
  ): Promise<{ sandboxId: string; bootMs: number; fromWarmPool: boolean }> {
    if (this.cfg.QUIRE_KERNEL_RUNTIME !== 'gvisor') {
      throw new QuireError(
        'unavailable',
        `GPU kernels need the gvisor runtime (nvproxy); this host runs ${this.cfg.QUIRE_KERNEL_RUNTIME}`,
        'gpu.driver_unsupported',
      );
    }
    this.starting.add(req.kernelId);
    let gpu: SandboxGpu;
    try {
      const driverLibraries = this.gpus ? await this.gpus.driverLibraries() : [];
      gpu = planGpuSandbox(requested, this.gpus?.inventory.current() ?? [], driverLibraries);
    } finally {
      this.starting.delete(req.kernelId);
    }
    return this.startCold(req, limits, gpu);
  }

  private async startCold(
    req: StartKernelRequest,
    limits: SandboxLimits,
    gpu?: SandboxGpu,
  ): Promise<{ sandboxId: string; bootMs: number; fromWarmPool: boolean }> {
    const sandbox = this.newSandbox(req, limits, `k-${uuidv7().slice(-12)}`, undefined, undefined, gpu);
    const record: KernelRecord = { ...req, sandbox, limits };
    this.kernels.set(req.kernelId, record);
    this.wire(record);
    try {
      const { bootMs } = await sandbox.start();
      this.saveMeta(record);
      await this.publishStarted(record, false, bootMs);
      return { sandboxId: sandbox.id, bootMs, fromWarmPool: false };
    } catch (err) {
      this.kernels.delete(req.kernelId);
      await sandbox.terminate().catch(() => undefined);
      throw new QuireError(
        'unavailable',
        `the kernel could not start: ${(err as Error).message}`,
        'kernel.start_failed',
        err,
      );
    }
  }

  /**
   * A kernel from the warm pool: a pre-booted sandbox gets the user's volume
   * and is handed out; when the pool has none, one is cold-booted for this
   * user (the pool refills in the background either way).
   */
  private async startFromPool(
    req: StartKernelRequest,
    limits: SandboxLimits,
    pool: WarmPool,
  ): Promise<{ sandboxId: string; bootMs: number; fromWarmPool: boolean }> {
    let acquired: AcquiredKernel;
    try {
      acquired = await pool.acquire({
        coldFactory: () => this.newSandbox(req, limits, `k-${uuidv7().slice(-12)}`),
      });
      if (acquired.fromWarmPool) await acquired.sandbox.attachHome(this.volumeOf(req));
    } catch (err) {
      throw new QuireError(
        'unavailable',
        `the kernel could not start: ${(err as Error).message}`,
        'kernel.start_failed',
        err,
      );
    }
    const { sandbox } = acquired;
    const bootMs = Math.round(acquired.readyMs);
    const record: KernelRecord = { ...req, sandbox, limits };
    this.kernels.set(req.kernelId, record);
    this.wire(record);
    this.saveMeta(record);
    await this.publishStarted(record, acquired.fromWarmPool, bootMs);
    return { sandboxId: sandbox.id, bootMs, fromWarmPool: acquired.fromWarmPool };
  }

  private publishStarted(record: KernelRecord, fromWarmPool: boolean, bootMs: number) {
    const { limits } = record;
    return this.events.publish(SandboxStarted, {
      subject: this.cfg.QUIRE_HOST_ID,
      tenant: record.tenant,
      data: {
        hostId: this.cfg.QUIRE_HOST_ID,
        sandboxId: record.sandbox.id,
        kernelId: record.kernelId,
        runtime: this.cfg.QUIRE_KERNEL_RUNTIME,
        fromWarmPool,
        bootMs,
        limits: { memoryBytes: limits.memoryBytes, cpuQuota: limits.cpus, pids: limits.pids },
      },
    });
  }

  /** Pool sizes and counters, for heartbeats and /internal/warm-pool. */
  warmPoolStats(): WarmPoolStats | undefined {
    return this.pool?.stats();
  }

  /** The lifecycle's autoscaler sets the pool size per host. */
  async setWarmPoolTarget(n: number): Promise<void> {
    if (!this.pool)
      throw new QuireError(
        'conflict',
        this.cfg.QUIRE_KERNEL_RUNTIME === 'process'
          ? 'the process runtime has no warm pool'
          : 'this host worker runs without a warm pool (QUIRE_WARM_POOL_SIZE=0 at start)',
        'warm_pool.disabled',
      );
    await this.pool.setTarget(n);
  }

  async closeWarmPool(): Promise<void> {
    await this.pool?.close();
  }

  private poolSlotDir(sandboxId: string): string {
    return join(this.cfg.volumesDir, '.slots', sandboxId);
  }

  /** Runs a cell under the runtime cap of its origin: interrupt at the cap, then kill. */
  async execute(
    kernelId: string,
    code: string,
    opts: ExecuteOptions & { executionId?: string; origin?: 'human' | 'agent' } = {},
  ): Promise<ExecuteResult & { capped: false | 'interrupted' | 'killed' }> {
    const record = this.get(kernelId);
    // A fork being taken freezes the kernel for about a second: the cell waits for it.
    if (record.forking) await record.forking.catch(() => undefined);
    if (record.sandbox.state !== 'running') {
      throw new QuireError(
        'conflict',
        `kernel ${kernelId} is ${record.sandbox.state}; restore it first`,
        'kernel.not_running',
      );
    }
    const origin = opts.origin ?? 'human';
    const capS = origin === 'agent' ? this.cfg.QUIRE_CELL_CAP_AGENT_S : this.cfg.QUIRE_CELL_CAP_HUMAN_S;
    record.runningCell = { executionId: opts.executionId ?? uuidv7(), origin };
    let capReached = false;
    let stopping: Promise<'interrupted' | 'killed'> | undefined;
    const timer = setTimeout(() => {
      capReached = true;
      this.log.warn('cell runtime cap reached', { kernelId, capS, origin });
      stopping = record.sandbox.interruptOrKill(2000);
      stopping.catch(() => undefined);
    }, capS * 1000);
    try {
      const result = await record.sandbox.client.execute(code, opts);
      return {
        ...result,
        capped: capReached ? ((await stopping?.catch(() => undefined)) ?? 'interrupted') : false,
      };
    } catch (err) {
      if (capReached) {
        const how = await stopping?.catch(() => undefined);
        throw new QuireError(
          'conflict',
          `The cell ran past its ${capS} s limit and was stopped (${how ?? 'killed'}).`,
          'kernel.runtime_cap',
          err,
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
      record.runningCell = undefined;
    }
  }

  async interrupt(kernelId: string, graceMs = 2000): Promise<'interrupted' | 'killed'> {
    return this.get(kernelId).sandbox.interruptOrKill(graceMs);
  }

  /**
   * A shell request that is not an execution (completion, inspection,
   * is_complete, history, comm_info), answered by the kernel itself. Refused
   * while the kernel is not running; a kernel busy with a cell answers after
   * it (ipykernel handles shell in order), within `timeoutMs`.
   */
  async shellRequest(
    kernelId: string,
    msgType: KernelShellRequestType,
    content: Record<string, unknown>,
    timeoutMs = 10_000,
  ): Promise<KernelShellReply> {
    const record = this.get(kernelId);
    if (record.forking) await record.forking.catch(() => undefined);
    if (record.sandbox.state !== 'running')
      throw new QuireError(
        'conflict',
        `kernel ${kernelId} is ${record.sandbox.state}; restore it first`,
        'kernel.not_running',
      );
    try {
      const reply = await record.sandbox.client.request('shell', msgType, content, timeoutMs);
      return { msgType: reply.header.msg_type, content: reply.content };
    } catch (err) {
      throw new QuireError(
        'unavailable',
        `the kernel did not answer ${msgType} within ${timeoutMs} ms (a running cell holds it up)`,
        'kernel.no_reply',
        err,
      );
    }
  }

  /**
   * Hibernates: checkpoint to local disk, upload to S3, sandbox freed. Refused
   * when the kernel's resident memory is above the snapshot threshold.
   */
  async snapshot(kernelId: string, trigger: 'hibernate' | 'background' | 'checkpoint-magic' = 'hibernate') {
    const record = this.get(kernelId);
    if (record.fork)
      throw new QuireError(
        'conflict',
        `kernel ${kernelId} is a fork of ${record.fork.parentKernelId}: forks are discarded, never hibernated`,
        'kernel.is_fork',
      );
    if (record.forking) await record.forking.catch(() => undefined);
    const resident = record.sandbox.resources()?.memoryBytes ?? 0;
    if (resident > this.cfg.QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES) {
      throw new SnapshotTooBigError(resident, this.cfg.QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES);
    }
    const snapshotId = `s-${uuidv7()}`;
    const imageDir = this.dir('snapshots', kernelId, snapshotId);
    const sandboxId = record.sandbox.id;
    const { bytes, ms } = await record.sandbox.checkpoint(imageDir);
    // Everything another host needs to restore it travels with the image.
    // (The connection key is also in the image's memory; the bucket is private either way.)
    const descriptor: RestoreDescriptor = {
      kernelId,
      tenant: record.tenant,
      notebookId: record.notebookId,
      userId: record.userId,
      sandboxId,
      key: record.sandbox.key,
      limits: record.limits,
      ...(record.sandbox.opts.homeSlot ? { homeSlotDir: record.sandbox.opts.homeSlot.dir } : {}),
    };
    writeFileSync(join(imageDir, DESCRIPTOR_FILE), JSON.stringify(descriptor), { mode: 0o600 });
    const uploadStarted = Date.now();
    await this.snapshots.upload(kernelId, snapshotId, imageDir);
    const uploadMs = Date.now() - uploadStarted;
    const location = this.snapshots.location(kernelId, snapshotId);
    const previous = record.lastSnapshot;
    record.lastSnapshot = { snapshotId, imageDir, bytes, location };
    this.saveMeta(record);
    await this.events.publish(SnapshotTaken, {
      subject: this.cfg.QUIRE_HOST_ID,
      tenant: record.tenant,
      data: {
        hostId: this.cfg.QUIRE_HOST_ID,
        sandboxId,
        kernelId,
        snapshotId,
        bytes,
        ms,
        residentBytes: resident,
        location,
        trigger,
      },
    });
    if (previous && previous.snapshotId !== snapshotId)
      rmSync(previous.imageDir, { recursive: true, force: true });
    return { snapshotId, bytes, ms, uploadMs, location, residentBytes: resident };
  }

  /**
   * Restores a kernel: from the local image when this host took it, else
   * downloaded from S3 (a kernel hibernated on another host). The image's
   * descriptor says whose kernel it is and how its sandbox was built.
   */
  async restore(kernelId: string, snapshotId: string, opts: { kernelBusy?: boolean } = {}) {
    const t0 = Date.now();
    let record = this.kernels.get(kernelId);
    if (record?.sandbox.state === 'running') {
      throw new QuireError('conflict', `kernel ${kernelId} is already running here`, 'kernel.running');
    }
    const local = record?.lastSnapshot?.snapshotId === snapshotId ? record.lastSnapshot.imageDir : undefined;
    const imageDir = local ?? this.dir('snapshots', kernelId, snapshotId);
    let downloadMs = 0;
    if (!existsSync(join(imageDir, DESCRIPTOR_FILE))) {
      const d0 = Date.now();
      await this.snapshots.download(kernelId, snapshotId, imageDir).catch((err: Error) => {
        throw new QuireError(
          'not_found',
          `snapshot ${snapshotId} of kernel ${kernelId} could not be fetched: ${err.message}`,
          'snapshot.not_found',
          err,
        );
      });
      downloadMs = Date.now() - d0;
    }
    const descriptor = JSON.parse(readFileSync(join(imageDir, DESCRIPTOR_FILE), 'utf8')) as RestoreDescriptor;
    if (descriptor.kernelId !== kernelId) {
      throw new QuireError(
        'validation',
        `snapshot ${snapshotId} belongs to kernel ${descriptor.kernelId}, not ${kernelId}`,
        'snapshot.wrong_kernel',
      );
    }
    if (!record) {
      record = {
        ...descriptor,
        sandbox: this.newSandbox(
          descriptor,
          descriptor.limits,
          descriptor.sandboxId,
          descriptor.key,
          descriptor.homeSlotDir,
        ),
      };
      this.kernels.set(kernelId, record);
      this.wire(record);
    }
    const { ms } = await record.sandbox.restore(imageDir, 60_000, opts);
    record.lastSnapshot = {
      snapshotId,
      imageDir,
      bytes: 0,
      location: this.snapshots.location(kernelId, snapshotId),
    };
    this.saveMeta(record);
    await this.events.publish(SnapshotRestored, {
      subject: this.cfg.QUIRE_HOST_ID,
      tenant: record.tenant,
      data: {
        hostId: this.cfg.QUIRE_HOST_ID,
        sandboxId: record.sandbox.id,
        kernelId,
        snapshotId,
        ms: Date.now() - t0,
      },
    });
    return { restoreMs: ms, downloadMs, totalMs: Date.now() - t0, sandboxId: record.sandbox.id };
  }

  /**
   * Ends a kernel on this host. A running one is stopped (SandboxExited); a
   * hibernated one is only forgotten here — its local image and record go, the
   * snapshot in S3 stays for whoever restores or evicts it.
   */
  async terminate(kernelId: string): Promise<void> {
    const record = this.get(kernelId);
    this.kernels.delete(kernelId);
    rmSync(this.dir('meta', `${kernelId}.json`), { force: true });
    if (record.fork) {
      const exit = await record.sandbox.terminate('shutdown');
      rmSync(record.fork.dir, { recursive: true, force: true });
      await this.publishExit(
        record,
        exit ?? { code: null, signal: null, reason: 'shutdown', message: 'Fork discarded', stderrTail: '' },
      );
      return;
    }
    if (record.sandbox.state === 'hibernated') {
      if (record.lastSnapshot) rmSync(record.lastSnapshot.imageDir, { recursive: true, force: true });
      return;
    }
    const exit = await record.sandbox.terminate('shutdown');
    await this.publishExit(
      record,
      exit ?? { code: null, signal: null, reason: 'shutdown', message: 'Kernel stopped', stderrTail: '' },
    );
  }

  /**
   * Graceful shutdown: running kernels are hibernated (snapshot to S3) so the
   * next start of this host worker, or another host, restores them; a kernel
   * that cannot be snapshotted is terminated. Hibernated kernels stay as they are.
   */
  async hibernateAllForShutdown(): Promise<{ hibernated: string[]; terminated: string[] }> {
    const hibernated: string[] = [];
    const terminated: string[] = [];
    for (const record of [...this.kernels.values()]) {
      if (record.sandbox.state !== 'running') continue;
      if (record.fork) {
        await this.terminate(record.kernelId).catch(() => undefined);
        terminated.push(record.kernelId);
        continue;
      }
      try {
        await this.snapshot(record.kernelId, 'hibernate');
        hibernated.push(record.kernelId);
      } catch (err) {
        this.log.warn('could not hibernate on shutdown; terminating', {
          kernelId: record.kernelId,
          error: (err as Error).message,
        });
        await this.terminate(record.kernelId).catch(() => undefined);
        terminated.push(record.kernelId);
      }
    }
    return { hibernated, terminated };
  }

  async terminateAll(): Promise<void> {
    for (const id of [...this.kernels.keys()]) await this.terminate(id).catch(() => undefined);
  }

  private async onSandboxExit(record: KernelRecord, exit: SandboxExit): Promise<void> {
    // Our own terminate() publishes; this is the sandbox ending by itself (OOM, crash).
    if (exit.reason === 'shutdown') return;
    this.log.warn('sandbox exited', {
      kernelId: record.kernelId,
      reason: exit.reason,
      message: exit.message,
    });
    this.kernels.delete(record.kernelId);
    rmSync(this.dir('meta', `${record.kernelId}.json`), { force: true });
    if (record.fork) rmSync(record.fork.dir, { recursive: true, force: true });
    await this.publishExit(record, exit).catch((err: Error) =>
      this.log.error('could not publish SandboxExited', { error: err.message }),
    );
  }

  private publishExit(record: KernelRecord, exit: SandboxExit) {
    return this.events.publish(SandboxExited, {
      subject: this.cfg.QUIRE_HOST_ID,
      tenant: record.tenant,
      data: {
        hostId: this.cfg.QUIRE_HOST_ID,
        sandboxId: record.sandbox.id,
        kernelId: record.kernelId,
        reason: exit.reason,
        exitCode: exit.code,
        signal: exit.signal,
        ...(exit.peakMemoryBytes !== undefined ? { peakMemoryBytes: exit.peakMemoryBytes } : {}),
        ...(exit.memoryLimitBytes !== undefined ? { memoryLimitBytes: exit.memoryLimitBytes } : {}),
        message: exit.message.slice(0, 2000),
      },
    });
  }

  /** `%checkpoint` in a cell: snapshot now, leaving the kernel running, and answer the magic. */
  private async onShimMessage(record: KernelRecord, msg: ShimMessage): Promise<void> {
    if (msg.type !== 'checkpoint-request') return;
    this.log.info('%checkpoint requested', { kernelId: record.kernelId });
    // A checkpoint freezes the process that asked, so the answer is given after
    // the kernel is back: snapshot (sandbox stops), restore from it, then reply.
    const reply = (ok: boolean, message: string) =>
      record.sandbox.replyToShim({ type: 'checkpoint-done', requestId: msg.requestId, ok, message });
    try {
      const s = await this.snapshot(record.kernelId, 'checkpoint-magic');
      await this.restore(record.kernelId, s.snapshotId, { kernelBusy: true });
      reply(
        true,
        `Checkpoint ${s.snapshotId}: ${formatGiB(s.bytes)} in ${(s.ms / 1000).toFixed(1)} s. This kernel can be restored to this point.`,
      );
    } catch (err) {
      if (record.sandbox.state === 'running') reply(false, `Checkpoint failed: ${(err as Error).message}`);
    }
  }

  /** ResourceSample for every running kernel. */
  async publishResourceSamples(): Promise<number> {
    let n = 0;
    const holdsGpu = [...this.kernels.values()].some((k) => k.gpu && k.sandbox.state === 'running');
    const gpuUsage = holdsGpu ? await readGpuUsage() : new Map<string, GpuUsage>();
    for (const k of this.kernels.values()) {
      const r = k.sandbox.state === 'running' ? k.sandbox.resources() : undefined;
      if (!r) continue;
      const gpu = k.gpu ? gpuUsage.get(k.gpu.device) : undefined;
      await this.events.publish(ResourceSample, {
        subject: this.cfg.QUIRE_HOST_ID,
        tenant: k.tenant,
        data: {
          hostId: this.cfg.QUIRE_HOST_ID,
          sandboxId: k.sandbox.id,
          kernelId: k.kernelId,
          cpuSecondsTotal: r.cpuSecondsTotal,
          memoryBytes: r.memoryBytes,
          memoryLimitBytes: r.memoryLimitBytes,
          peakMemoryBytes: r.peakMemoryBytes,
          ...(gpu ? { gpu } : {}),
        },
      });
      n++;
    }
    return n;
  }

  /** Memory promised to this host's running sandboxes. */
  get allocatedMemoryBytes(): number {
    return [...this.kernels.values()]
      .filter((k) => k.sandbox.state === 'running')
      .reduce((sum, k) => sum + k.limits.memoryBytes, 0);
  }

  get allocatedCpus(): number {
    return [...this.kernels.values()]
      .filter((k) => k.sandbox.state === 'running')
      .reduce((sum, k) => sum + k.limits.cpus, 0);
  }

  /**
   * After a restart (graceful, crash or kill -9): hibernated kernels (snapshot
   * on disk and in S3) are adopted as they are; sandboxes that kept running
   * are re-attached through their named pipes, with their variables and any
   * running cell intact. A sandbox that cannot be re-attached is cleaned up and
   * reported as killed — the lifecycle restores it from its last snapshot.
   */
  async adoptAfterRestart(): Promise<{ hibernated: string[]; running: string[]; lost: string[] }> {
    const hibernated: string[] = [];
    const running: string[] = [];
    const lost: string[] = [];
    const metaDir = this.dir('meta');
    const live = await this.runsc.list().catch(() => []);
    // Forks are never re-adopted (no meta): their sandboxes go below with the unknown ones.
    rmSync(this.dir('forks'), { recursive: true, force: true });
    for (const file of readdirSync(metaDir).filter((f) => f.endsWith('.json'))) {
      const meta = JSON.parse(readFileSync(join(metaDir, file), 'utf8')) as KernelMeta;
      const sandbox = this.newSandbox(meta, meta.limits, meta.sandboxId, meta.key, meta.homeSlotDir);
      const record: KernelRecord = {
        ...meta,
        sandbox,
        limits: meta.limits,
        ...(meta.lastSnapshot ? { lastSnapshot: meta.lastSnapshot } : {}),
      };
      if (meta.state === 'hibernated' && meta.lastSnapshot) {
        sandbox.state = 'hibernated';
        this.kernels.set(meta.kernelId, record);
        this.wire(record);
        hibernated.push(meta.kernelId);
        continue;
      }
      if (live.some((s) => s.id === meta.sandboxId && s.status === 'running')) {
        this.kernels.set(meta.kernelId, record);
        this.wire(record);
        try {
          await sandbox.adopt();
          running.push(meta.kernelId);
          continue;
        } catch (err) {
          this.kernels.delete(meta.kernelId);
          sandbox.onExit = undefined;
          this.log.warn('could not re-attach a running sandbox; it is ended', {
            kernelId: meta.kernelId,
            sandboxId: meta.sandboxId,
            error: (err as Error).message,
          });
        }
      }
      if (live.some((s) => s.id === meta.sandboxId))
        await this.runsc.kill(meta.sandboxId, 'KILL', true).catch(() => undefined);
      await this.runsc.delete(meta.sandboxId).catch(() => undefined);
      await sandbox.releaseHome();
      rmSync(join(metaDir, file), { force: true });
      lost.push(meta.kernelId);
      await this.publishExit(record, {
        code: null,
        signal: null,
        reason: 'killed',
        message: 'Kernel lost: its host worker restarted and could not re-attach to it',
        stderrTail: '',
      });
    }
    // Sandboxes nobody knows about (meta never written): remove them.
    for (const s of live) {
      if (![...this.kernels.values()].some((k) => k.sandbox.id === s.id)) {
        await this.runsc.kill(s.id, 'KILL', true).catch(() => undefined);
        await this.runsc.delete(s.id).catch(() => undefined);
        // A warm-pool sandbox of the previous process: its slot mounts go too.
        await releaseHomeSlot(this.poolSlotDir(s.id));
      }
    }
    return { hibernated, running, lost };
  }

  /**
   * Forks a running kernel (the agent's dry run): a checkpoint of the parent
   * restored into a new sandbox with a new kernel id, so both run at once
   * with the same variables and the fork's changes never reach the parent.
   *
   * The current runsc resumes a `checkpoint --leave-running` in place, on the
   * same stdio: the parent pauses only while its image is written. Debian's
   * (2022-12-19) implements it by destroying the container and restoring it
   * inside the checkpoint command itself, with that command's stdio — the
   * kernel's named-pipe channel would be lost; there the parent is
   * checkpointed and restored into its own sandbox at once (as `%checkpoint`
   * does). Either way its pause is `parentPauseMs` (cells sent meanwhile
   * wait), then the image is restored into a new sandbox as the fork. Two sandboxes, two network-less
   * stacks: the kernels' ZeroMQ ipc sockets live in each sandbox's own /tmp,
   * nothing clashes. The image stays local (never uploaded) and goes with
   * the fork. Not isolated: the user's home volume, which both mount.
   */
  async fork(parentKernelId: string, forkKernelId: string): Promise<ForkKernelResponse> {
    const t0 = Date.now();
    const existing = this.kernels.get(forkKernelId);
    if (existing?.fork?.parentKernelId === parentKernelId)
      return { ...existing.fork.response, existed: true };
    if (existing || this.starting.has(forkKernelId))
      throw new QuireError('conflict', `kernel ${forkKernelId} already runs on this host`, 'kernel.exists');
    const agentRunId = agentRunOfForkKernel(forkKernelId);
    if (!agentRunId)
      throw new QuireError('validation', `${forkKernelId} is not a fork kernel id`, 'request.invalid');
    const parent = this.get(parentKernelId);
    const refuse = (message: string, code: string) => new QuireError('conflict', message, code);
    if (parent.fork) throw refuse(`kernel ${parentKernelId} is itself a fork`, 'kernel.is_fork');
    if (parent.gpu) throw refuse('a GPU kernel cannot be forked: its GPU is not shared', 'kernel.fork_gpu');
    if (this.cfg.QUIRE_KERNEL_RUNTIME !== 'gvisor')
      throw refuse('the process runtime cannot checkpoint, so it cannot fork', 'kernel.fork_unsupported');
    if (parent.forking) throw refuse(`kernel ${parentKernelId} is being forked`, 'kernel.busy');
    if (parent.sandbox.state !== 'running')
      throw refuse(
        `kernel ${parentKernelId} is ${parent.sandbox.state}; restore it first`,
        'kernel.not_running',
      );
    if (parent.runningCell || parent.sandbox.client.runningExecutions > 0)
      throw refuse(
        `kernel ${parentKernelId} is running a cell; fork it when the cell has finished`,
        'kernel.busy',
      );
    const resident = parent.sandbox.resources()?.memoryBytes ?? 0;
    if (resident > this.cfg.QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES)
      throw new SnapshotTooBigError(resident, this.cfg.QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES);

    this.starting.add(forkKernelId);
    const dir = this.dir('forks', forkKernelId);
    const imageDir = join(dir, 'image');
    let pause!: { ms: number; bytes: number };
    const freeze = (async () => {
      const p0 = Date.now();
      if (this.runsc.info.checkpointResumesInPlace) {
        const { bytes } = await parent.sandbox.checkpointLeavingRunning(imageDir);
        pause = { ms: Date.now() - p0, bytes };
        return;
      }
      const { bytes } = await parent.sandbox.checkpoint(imageDir);
      await parent.sandbox.restore(imageDir);
      pause = { ms: Date.now() - p0, bytes };
    })();
    parent.forking = freeze;
    try {
      await freeze;
    } catch (err) {
      this.starting.delete(forkKernelId);
      rmSync(dir, { recursive: true, force: true });
      this.log.error('fork: the parent kernel did not come back from its checkpoint', {
        kernelId: parentKernelId,
        error: (err as Error).message,
      });
      if (parent.sandbox.state !== 'running') await this.terminate(parentKernelId).catch(() => undefined);
      throw new QuireError(
        'unavailable',
        `the fork failed: ${(err as Error).message}`,
        'kernel.fork_failed',
        err,
      );
    } finally {
      parent.forking = undefined;
    }

    const sandboxId = `f-${uuidv7().slice(-12)}`;
    const owner: KernelOwner = {
      kernelId: forkKernelId,
      tenant: parent.tenant,
      notebookId: parent.notebookId,
      userId: parent.userId,
    };
    const sandbox = this.newSandbox(
      owner,
      parent.limits,
      sandboxId,
      parent.sandbox.key,
      parent.sandbox.opts.homeSlot ? this.poolSlotDir(sandboxId) : undefined,
    );
    const response: ForkKernelResponse = {
      forkKernelId,
      parentKernelId,
      agentRunId,
      sandboxId,
      parentPauseMs: pause.ms,
      totalMs: 0,
      imageBytes: pause.bytes,
      existed: false,
    };
    const record: KernelRecord = {
      ...owner,
      sandbox,
      limits: parent.limits,
      fork: { parentKernelId, agentRunId, dir, response },
    };
    try {
      const { ms } = await sandbox.restore(imageDir);
      this.kernels.set(forkKernelId, record);
      this.wire(record);
      response.totalMs = Date.now() - t0;
      await this.publishStarted(record, false, ms);
    } catch (err) {
      await sandbox.terminate().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw new QuireError(
        'unavailable',
        `the fork could not start from the checkpoint: ${(err as Error).message}`,
        'kernel.fork_failed',
        err,
      );
    } finally {
      this.starting.delete(forkKernelId);
    }
    this.log.info('kernel forked', { ...response });
    return response;
  }

  systemTenant(): string {
    return SYSTEM_TENANT;
  }
}
