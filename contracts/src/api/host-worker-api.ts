import { z } from 'zod';

/**
 * The host worker's internal HTTP API (never exposed to users), used by the
 * gateway and the kernel-lifecycle activities. Base URL: the `apiUrl` a host
 * announces in its HostHeartbeat. All bodies are JSON; errors are
 * problem+json with a stable `code` (see service-kit errors).
 *
 *   GET    /internal/kernels                      → ListKernelsResponse
 *   POST   /internal/kernels                      StartKernelRequest → StartKernelResponse
 *   POST   /internal/kernels/:id/execute          ExecuteRequest → NDJSON stream of ExecuteStreamLine
 *   POST   /internal/kernels/:id/input            InputReply → 204
 *   POST   /internal/kernels/:id/interrupt        → { result: 'interrupted' | 'killed' }
 *   POST   /internal/kernels/:id/snapshot         → SnapshotResponse (409 snapshot.too_big)
 *   POST   /internal/kernels/:id/restore          RestoreRequest → RestoreResponse
 *   DELETE /internal/kernels/:id                  → 204 (404 kernel.not_found when unknown); a fork: discarded with its image
 *   POST   /internal/kernels/:id/fork             ForkKernelRequest → ForkKernelResponse (added compatibly)
 *   POST   /internal/kernels/:id/request          KernelShellRequest → KernelShellReply (added compatibly;
 *          completions, inspection… answered by the kernel; 409 kernel.not_running, 503 kernel.no_reply)
 *   GET    /internal/kernels/warm-pool            → WarmPoolStatsDto
 *   POST   /internal/kernels/warm-pool            { target } → WarmPoolStatsDto (409 warm_pool.disabled)
 */
export const hostApiId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);

export const SandboxLimitsDto = z
  .object({
    memoryBytes: z.number().int().positive(),
    cpus: z.number().positive(),
    pids: z.number().int().positive(),
    tmpBytes: z.number().int().positive(),
  })
  .partial();
export type SandboxLimitsDto = z.infer<typeof SandboxLimitsDto>;

export const StartKernelRequest = z.object({
  kernelId: hostApiId,
  tenant: hostApiId,
  notebookId: hostApiId,
  userId: hostApiId,
  limits: SandboxLimitsDto.optional(),
  /** Take a pre-booted sandbox from the host's warm pool when one is free (default true). */
  warmPool: z.boolean().optional(),
  /** The GPU the gpu-scheduler allocated (device UUID, host-side handle to expose); only that one is visible. Added compatibly. */
  gpu: z.object({ device: z.string().min(1), visibleDevice: z.string().min(1) }).optional(),
});
export type StartKernelRequest = z.infer<typeof StartKernelRequest>;

export interface StartKernelResponse {
  sandboxId: string;
  bootMs: number;
  fromWarmPool: boolean;
}

export const ExecuteRequest = z.object({
  code: z.string().max(1024 * 1024),
  executionId: hostApiId.optional(),
  origin: z.enum(['human', 'agent']).default('human'),
});
export type ExecuteRequest = z.input<typeof ExecuteRequest>;

/** One line of the execute NDJSON stream, in arrival order; `reply` or `error` is last. */
export type ExecuteStreamLine =
  | { type: 'iopub'; msgType: string; content: Record<string, unknown>; metadata: Record<string, unknown> }
  | { type: 'input_request'; prompt: string; password: boolean }
  | {
      type: 'reply';
      content: {
        status: 'ok' | 'error' | 'aborted';
        execution_count: number | null;
        ename?: string;
        evalue?: string;
        traceback?: string[];
      };
      ms: number;
      capped: false | 'interrupted' | 'killed';
    }
  | { type: 'error'; code: string; message: string };

export const InputReply = z.object({ value: z.string().max(1024 * 1024) });
export type InputReply = z.infer<typeof InputReply>;

export const RestoreRequest = z.object({
  snapshotId: hostApiId,
  /** GPU kernels: the device allocated for this life (it may differ from the one before hibernation). Added compatibly. */
  gpu: z.object({ device: z.string().min(1), visibleDevice: z.string().min(1) }).optional(),
});
export type RestoreRequest = z.infer<typeof RestoreRequest>;

export interface SnapshotResponse {
  snapshotId: string;
  bytes: number;
  ms: number;
  uploadMs: number;
  location: string;
  residentBytes: number;
}

export interface RestoreResponse {
  restoreMs: number;
  downloadMs: number;
  totalMs: number;
  sandboxId: string;
}

export interface HostKernelSummary {
  kernelId: string;
  notebookId: string;
  tenant: string;
  sandboxId: string;
  state: 'starting' | 'running' | 'hibernated' | 'exited';
  lastSnapshotId: string | null;
  /** Set on a fork (POST …/fork): whose copy it is and the agent run it is billed to. Added compatibly. */
  fork?: { parentKernelId: string; agentRunId: string };
  /** Latest cgroup reading while running. */
  resources: {
    memoryBytes: number;
    memoryLimitBytes: number;
    peakMemoryBytes: number;
    cpuSecondsTotal: number;
  } | null;
}

export interface WarmPoolStatsDto {
  ready: number;
  booting: number;
  target: number;
  hits: number;
  misses: number;
  discarded?: number;
  boots?: number;
  bootFailures?: number;
  lastBootMs?: number;
  refillPaused?: boolean;
  disabled?: boolean;
}

export interface ListKernelsResponse {
  kernels: HostKernelSummary[];
}

/**
 * A fork: a new kernel restored from a fresh checkpoint of a running one (the
 * agent's dry run). Its id names the agent run it is billed to —
 * `fork.<agentRunId>.<label>` — so every host event about it (SandboxStarted,
 * ResourceSample, SandboxExited carry `kernelId`) attributes to that run:
 * billing charges a kernel id that parses with `agentRunOfForkKernel` to the
 * run's budget, never to the user's compute quota. Added compatibly.
 */
export const FORK_KERNEL_ID = /^fork\.([A-Za-z0-9-]{1,64})\.([A-Za-z0-9-]{1,40})$/;

export function forkKernelIdOf(agentRunId: string, label: string): string {
  const id = `fork.${agentRunId}.${label}`;
  if (!FORK_KERNEL_ID.test(id)) throw new Error(`not a valid fork kernel id: ${id}`);
  return id;
}

/** The agent run a fork kernel is billed to; null for any other kernel id. */
export function agentRunOfForkKernel(kernelId: string): string | null {
  return FORK_KERNEL_ID.exec(kernelId)?.[1] ?? null;
}

/** Shell requests that are not executions: they go to the kernel and back, never through the execute queue. */
export const KERNEL_SHELL_REQUEST_TYPES = [
  'complete_request',
  'inspect_request',
  'is_complete_request',
  'history_request',
  'comm_info_request',
] as const;
export type KernelShellRequestType = (typeof KERNEL_SHELL_REQUEST_TYPES)[number];

export const KernelShellRequest = z.object({
  msgType: z.enum(KERNEL_SHELL_REQUEST_TYPES),
  /** The Jupyter message's content, as the client sent it (the kernel validates it). */
  content: z
    .record(z.string(), z.unknown())
    .refine((c) => JSON.stringify(c).length <= 1_000_000, 'at most 1 MB'),
});
export type KernelShellRequest = z.infer<typeof KernelShellRequest>;

export interface KernelShellReply {
  /** e.g. `complete_reply`. */
  msgType: string;
  content: Record<string, unknown>;
}

export const ForkKernelRequest = z.object({
  /** Chosen by the caller, so a retried request finds the fork it already made. */
  forkKernelId: z.string().regex(FORK_KERNEL_ID, 'a fork kernel id is fork.<agentRunId>.<label>'),
});
export type ForkKernelRequest = z.infer<typeof ForkKernelRequest>;

export interface ForkKernelResponse {
  forkKernelId: string;
  parentKernelId: string;
  /** The agent run the fork is billed to (from its id). */
  agentRunId: string;
  sandboxId: string;
  /** How long the parent was frozen (checkpoint + restore of the parent itself). */
  parentPauseMs: number;
  /** Request to fork ready. */
  totalMs: number;
  imageBytes: number;
  /** True when a retried request found the fork already made. */
  existed: boolean;
}
