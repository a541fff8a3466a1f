import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TASK_QUEUES,
  type EnsureRunningRequest,
  type EnsureRunningResult,
  type KernelLifecycleInput,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { WithStartWorkflowOperation, type Client, type Workflow } from '@temporalio/client';

/**
 * How a caller (gateway, CLI, tests) makes sure a kernel runs: update-with-
 * start on the kernel's deterministic workflow id. The first call starts the
 * lifecycle workflow, later ones reach the running one (USE_EXISTING), so
 * there is never a second workflow per kernel.
 */
export async function ensureKernelRunning(
  client: Client,
  input: KernelLifecycleInput,
  req: EnsureRunningRequest,
  taskQueue: string = TASK_QUEUES.kernelLifecycle,
): Promise<EnsureRunningResult> {
  const start = new WithStartWorkflowOperation(KERNEL_LIFECYCLE.workflowType, {
    workflowId: kernelLifecycleWorkflowId(input.kernelId),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  // Its failure is the update's failure (thrown below); unobserved it would be an unhandled rejection.
  start.workflowHandle().catch(() => undefined);
  return client.workflow.executeUpdateWithStart<Workflow, EnsureRunningResult, [EnsureRunningRequest]>(
    KERNEL_LIFECYCLE.ensureRunningUpdate,
    { args: [req], startWorkflowOperation: start },
  );
}

export function lifecycleState(client: Client, kernelId: string): Promise<LifecycleSnapshot> {
  return client.workflow
    .getHandle(kernelLifecycleWorkflowId(kernelId))
    .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
}
