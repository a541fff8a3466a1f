import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { LifecycleActivities } from './lifecycle-activities';

export interface WarmPoolAutoscalerInput {
  intervalMs: number;
  /** Continue-as-new after this many rounds (bounded history). */
  roundsPerRun: number;
}

const acts = proxyActivities<Pick<LifecycleActivities, 'warmPoolPlan' | 'setWarmPoolTarget'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/**
 * Sizes every host's warm pool from its trailing new-kernel rate (P95 over
 * 30 min × headroom, computed by the warmPoolPlan activity from the host
 * registry), once per interval. One instance per deployment (fixed id); the
 * worker starts it. A host that cannot be reached is skipped this round.
 */
export async function warmPoolAutoscaler(input: WarmPoolAutoscalerInput): Promise<void> {
  for (let round = 0; round < input.roundsPerRun; round++) {
    const plan = await acts.warmPoolPlan();
    for (const p of plan) {
      if (p.target === p.current) continue;
      try {
        await acts.setWarmPoolTarget({ hostId: p.hostId, apiUrl: p.apiUrl, target: p.target });
      } catch {
        // the host is down or refuses (pool disabled): next round
      }
    }
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof warmPoolAutoscaler>(input);
}
