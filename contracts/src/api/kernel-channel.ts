import { z } from 'zod';

/**
 * The editor's kernel channel: one WebSocket per open notebook to the gateway,
 * `GET /api/notebooks/:notebookId/kernel-channel` (token in the
 * `Sec-WebSocket-Protocol` header as `quire.bearer.<token>` or `?token=`).
 * Outputs themselves travel in the Y.Doc (the gateway writes them there, so
 * they survive everyone leaving); this channel carries commands, the queue,
 * kernel status and `iopub` messages for the low-latency live view.
 * Every message is JSON; client messages are validated and a bad one gets an
 * `error` reply without closing the socket.
 */
/**
 * "Run the code as I see it": the sender's own Yjs client id and clock when it
 * pressed Run. The gateway reads cell sources from its copy of the document,
 * which can trail the sender's last keystrokes by a network hop; it waits (a
 * few seconds at most) until its copy has those edits before reading. Added
 * compatibly: without it the gateway runs what its copy holds.
 */
export const EditsUpTo = z.object({
  clientId: z.number().int().nonnegative(),
  clock: z.number().int().nonnegative(),
});
export type EditsUpTo = z.infer<typeof EditsUpTo>;

export const KernelChannelClientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('run'),
    requestId: z.string().max(100),
    cellIds: z.array(z.string().max(128)).min(1).max(10_000),
    editsUpTo: EditsUpTo.optional(),
  }),
  z.object({ type: z.literal('run_all'), requestId: z.string().max(100), editsUpTo: EditsUpTo.optional() }),
  z.object({ type: z.literal('interrupt'), requestId: z.string().max(100) }),
  z.object({ type: z.literal('restart'), requestId: z.string().max(100) }),
  z.object({ type: z.literal('force_terminate'), requestId: z.string().max(100) }),
  z.object({
    type: z.literal('input_reply'),
    requestId: z.string().max(100),
    executionId: z.string().max(128),
    value: z.string().max(1024 * 1024),
  }),
  z.object({ type: z.literal('cancel'), requestId: z.string().max(100), executionId: z.string().max(128) }),
  /**
   * Completion and inspection at a cursor in a cell's code, answered by the
   * live kernel (its namespace: a DataFrame's columns after `df["`). Never
   * queued behind runs. Added compatibly.
   */
  z.object({
    type: z.literal('complete'),
    requestId: z.string().max(100),
    code: z.string().max(1024 * 1024),
    cursorPos: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal('inspect'),
    requestId: z.string().max(100),
    code: z.string().max(1024 * 1024),
    cursorPos: z.number().int().nonnegative(),
  }),
]);
export type KernelChannelClientMessage = z.infer<typeof KernelChannelClientMessage>;

export type KernelStatus =
  | { state: 'none' }
  | { state: 'starting'; progress: string }
  | { state: 'idle' }
  | { state: 'busy' }
  | { state: 'hibernated'; since: string }
  | { state: 'restoring'; progress: string }
  | { state: 'dead'; reason: string; message: string };

/** A GPU kernel's device request as the editor shows it (from the lifecycle's LifecycleGpuStatus). */
export interface KernelGpuStatus {
  gpuType: string;
  /** `full` or a MIG profile such as `1g.10gb`. */
  profile: string;
  phase: 'none' | 'queued' | 'allocated' | 'released' | 'rejected' | 'cpu_fallback';
  /** While queued: 1 = next. */
  position: number | null;
  /** While queued: seconds until a device is expected. */
  etaS: number | null;
  /** Rejected: why, in words. */
  reason?: string | null;
  /** Allocated: which device, in words ("H100 80GB, GPU-3f2a…", "1g.10gb slice of GPU-3f2a…"). Added compatibly. */
  device?: string | null;
  /**
   * What the lifecycle or the gateway says about this GPU, in words: GPU memory
   * not kept across hibernation, the notebook's compute choice differing from
   * what the running kernel has ("restart to use it"). Added compatibly.
   */
  notice?: string | null;
  /** The notebook's compute choice differs from what this kernel runs on: a restart applies it. Added compatibly. */
  restartToApply?: boolean;
}

/** A GPU kernel's device memory and utilisation (host.events.v1 ResourceSample `gpu`). */
export interface KernelGpuMemory {
  usedBytes: number;
  totalBytes: number;
  utilizationPct: number;
}

export interface QueueEntry {
  executionId: string;
  cellId: string;
  userId: string;
  userName: string;
  /** 0 = running now, 1 = next, … */
  position: number;
}

export type KernelChannelServerMessage =
  | { type: 'hello'; notebookId: string; userId: string; role: 'owner' | 'editor' | 'runner' | 'viewer' }
  | { type: 'ack'; requestId: string; executionIds?: string[] }
  | { type: 'error'; requestId: string | null; code: string; message: string }
  /**
   * `memory`: the kernel sandbox's cgroup reading (used and limit bytes), sent
   * again when it moves by 1 MiB or more (read every few seconds while someone
   * watches); null while the kernel is not running or no reading is available.
   */
  | {
      type: 'kernel_status';
      status: KernelStatus;
      memory: { usedBytes: number; limitBytes: number } | null;
      /**
       * GPU kernels only (added compatibly; absent = a CPU kernel or an older
       * gateway): the scheduler request behind this kernel. While `phase` is
       * `queued` the editor shows "Waiting for an H100 — position 2, about 4 min".
       */
      gpu?: KernelGpuStatus | null;
      /**
       * GPU kernels only (added compatibly): the device memory and utilisation
       * from the host's latest ResourceSample; null while not running or unknown.
       */
      gpuMemory?: KernelGpuMemory | null;
    }
  /** The kernel's completions for a `complete` request (cursor positions in the request's code). Added compatibly. */
  | {
      type: 'complete_reply';
      requestId: string;
      matches: string[];
      cursorStart: number;
      cursorEnd: number;
      /** Per match, when the kernel says (IPython's experimental types): `function`, `instance`, `module`… */
      types: (string | null)[] | null;
    }
  /** The kernel's documentation for an `inspect` request (plain text, ANSI colours removed). Added compatibly. */
  | { type: 'inspect_reply'; requestId: string; found: boolean; text: string }
  | { type: 'queue'; entries: QueueEntry[] }
  | { type: 'iopub'; executionId: string; cellId: string; msgType: string; content: Record<string, unknown> }
  | {
      type: 'input_request';
      executionId: string;
      cellId: string;
      userId: string;
      prompt: string;
      password: boolean;
    }
  | {
      type: 'execution_finished';
      executionId: string;
      cellId: string;
      status: 'ok' | 'error' | 'interrupted' | 'aborted' | 'kernel_died' | 'timeout';
      ms: number;
      executionCount: number | null;
    };
