import { sleep } from '@temporalio/workflow';
import type { KernelLifecycleInput, LifecycleSnapshot } from '@quire/contracts';
import { kernelLifecycle as today } from '../../src/workflows/kernel-lifecycle.workflow';

/**
 * The negative control of the replay test: today's workflow with one
 * deliberately non-deterministic change (a timer before everything else, as
 * if someone added a delay without `patched()`). Replaying any committed
 * history against it must fail.
 */
export async function kernelLifecycle(input: KernelLifecycleInput): Promise<LifecycleSnapshot> {
  await sleep(1);
  return today(input);
}
