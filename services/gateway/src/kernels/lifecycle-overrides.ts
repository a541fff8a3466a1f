import type { LifecyclePolicy } from '@quire/contracts';
import { z } from 'zod';

/**
 * Operator settings the gateway adds to every kernel it asks the lifecycle
 * workflow for (KernelLifecycleInput.policy and .labels). They come from the
 * deployment (an enterprise contract's longer timers, a region's data
 * residency), never from a user's request, so they are validated once at
 * startup and a mistake stops the gateway instead of reaching the workflow.
 */

/** A timer in ms: `null` = never (as in TIER_POLICIES), never negative. */
const timerMs = z.number().int().nonnegative().nullable();
const positiveInt = z.number().int().positive();

/** Every LifecyclePolicy field is listed: a typo ("idleAfterMS") is an error, not silently ignored. */
const policyOverrideSchema = z.strictObject({
  idleAfterMs: timerMs.optional(),
  hibernateAfterMs: timerMs.optional(),
  evictAfterMs: timerMs.optional(),
  backgroundSnapshotEveryMs: timerMs.optional(),
  memoryBytes: positiveInt.optional(),
  creationsPerTenantPerMinute: positiveInt.optional(),
  maxHistoryEvents: positiveInt.optional(),
}) satisfies z.ZodType<Partial<LifecyclePolicy>>;

/** `QUIRE_LIFECYCLE_POLICY_JSON`: a JSON `Partial<LifecyclePolicy>`, e.g. `{"idleAfterMs":1800000}`. */
export const lifecyclePolicyOverride = z
  .string()
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not valid JSON (${(err as Error).message})` });
      return z.NEVER;
    }
  })
  .pipe(policyOverrideSchema);

/** `QUIRE_LIFECYCLE_PLACEMENT_LABELS`: `key=value,key=value`, the format of the host worker's QUIRE_HOST_LABELS. */
export const placementLabels = z.string().transform((text, ctx): Record<string, string> => {
  const labels: Record<string, string> = {};
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (eq <= 0 || !key || !value) {
      ctx.addIssue({ code: 'custom', message: `"${pair}" is not key=value` });
      return z.NEVER;
    }
    labels[key] = value;
  }
  return labels;
});
