/**
 * The one place where benchmarks reach into the host worker: the kernel
 * benchmarks measure its code in-process (warm pool, sandbox, Jupyter client
 * over the stdio relay), so they import it directly. The boundary rule keeps
 * load tests to contracts and libs; these imports are the deliberate,
 * reviewed exception, kept in this file only.
 */
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export * from '../../../services/host-worker/src/kernels/warm-pool';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export { GvisorKernelSandbox } from '../../../services/host-worker/src/sandbox/gvisor-kernel-sandbox';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export {
  KernelClient,
  KernelUnavailableError,
} from '../../../services/host-worker/src/jupyter/kernel-client';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export { JupyterSession } from '../../../services/host-worker/src/jupyter/wire';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export type { Channel, JupyterMessage } from '../../../services/host-worker/src/jupyter/messages';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of host-worker internals (see above)
export type { KernelTransport } from '../../../services/host-worker/src/sandbox/relay-transport';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the runsc driver the host worker uses
export { DEFAULT_LIMITS, Runsc } from '@quire/sandbox-gvisor';
