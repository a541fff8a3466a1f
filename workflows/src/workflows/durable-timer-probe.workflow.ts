import { condition, defineQuery, defineSignal, setHandler, sleep } from '@temporalio/workflow';
import type { DurableTimerProbeInput, DurableTimerProbeResult } from '@quire/contracts';

export const pokeSignal = defineSignal('poke');
export const probeStateQuery = defineQuery<{ phase: 'sleeping' | 'done'; signalsReceived: number }>('state');

/**
 * The platform's self-check of durability: waits on a durable timer (which
 * survives a Temporal server restart) and counts signals. `quire` and the
 * foundation tests use it; the kernel lifecycle workflow builds on the same
 * primitives.
 */
export async function durableTimerProbe(input: DurableTimerProbeInput): Promise<DurableTimerProbeResult> {
  let signalsReceived = 0;
  let phase: 'sleeping' | 'done' = 'sleeping';
  setHandler(pokeSignal, () => {
    signalsReceived += 1;
  });
  setHandler(probeStateQuery, () => ({ phase, signalsReceived }));
  await sleep(input.sleepMs);
  // Signals sent right before the timer fired are applied before we answer.
  await condition(() => true);
  phase = 'done';
  return { label: input.label, sleptMs: input.sleepMs, signalsReceived };
}
