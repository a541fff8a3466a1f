import { NOTEBOOK_COMPUTE_METADATA_KEY, type GpuOfferDto, type NotebookCompute } from '@quire/contracts';

/** One choice in the compute picker. `value` is what the <select> holds. */
export interface ComputeOption {
  value: string;
  label: string;
  /** "3 free · 2 queued" for GPUs; null for CPU. */
  availability: string | null;
  /** Can be picked (the scheduler says some host can hand it to a sandbox). */
  runnable: boolean;
  /** Why it is not runnable, or another caveat, in words. */
  note: string | null;
}

export const CPU_VALUE = 'cpu';

export function computeValue(c: NotebookCompute | null | undefined): string {
  return !c || c.kind === 'cpu' ? CPU_VALUE : `gpu:${c.gpuType}:${c.profile}`;
}

export function computeFromValue(value: string): NotebookCompute {
  const m = /^gpu:([^:]+):([^:]+)$/.exec(value);
  return m ? { kind: 'gpu', gpuType: m[1]!, profile: m[2]!, allowCpuFallback: false } : { kind: 'cpu' };
}

/** What a notebook's metadata holds under the compute key, read defensively (it is shared data). */
export function computeOf(metadata: unknown): NotebookCompute | null {
  if (!metadata || typeof metadata !== 'object') return null;
  const c = (metadata as Record<string, unknown>)[NOTEBOOK_COMPUTE_METADATA_KEY];
  if (!c || typeof c !== 'object') return null;
  const o = c as Record<string, unknown>;
  if (o.kind === 'cpu') return { kind: 'cpu' };
  if (o.kind === 'gpu' && typeof o.gpuType === 'string' && typeof o.profile === 'string')
    return {
      kind: 'gpu',
      gpuType: o.gpuType,
      profile: o.profile,
      allowCpuFallback: o.allowCpuFallback === true,
    };
  return null;
}

/**
 * CPU first, then what the org's offer lists. A choice already saved in the
 * notebook that the offer no longer lists stays visible (marked), so opening
 * the picker never silently changes the notebook's compute.
 */
export function computeOptions(offer: GpuOfferDto | null, current: NotebookCompute | null): ComputeOption[] {
  const options: ComputeOption[] = [
    { value: CPU_VALUE, label: 'CPU', availability: null, runnable: true, note: null },
  ];
  for (const item of offer?.items ?? []) {
    options.push({
      value: `gpu:${item.gpuType}:${item.profile}`,
      label: item.label,
      availability: `${item.free} free · ${item.queued} queued`,
      runnable: item.runnable,
      note: item.runnable
        ? item.free === 0
          ? 'none free now: the kernel waits in the queue'
          : null
        : (item.note ?? 'not available on any host yet'),
    });
  }
  const value = computeValue(current);
  if (!options.some((o) => o.value === value) && current?.kind === 'gpu')
    options.push({
      value,
      label: `${current.gpuType} ${current.profile === 'full' ? '' : current.profile}`.trim(),
      availability: null,
      runnable: false,
      note: 'your organisation no longer offers this',
    });
  return options;
}

/** The option's text in a native <select>: everything a reader needs on one line. */
export function optionText(o: ComputeOption): string {
  return [o.label, o.availability, o.runnable ? null : `not runnable: ${o.note ?? 'unavailable'}`]
    .filter(Boolean)
    .join(' — ');
}
