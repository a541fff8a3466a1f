import {
  NOTEBOOK_COMPUTE_METADATA_KEY,
  NotebookCompute,
  type GpuOfferDto,
  type KernelLifecycleInput,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';

/** What a kernel start asks for: a GPU (KernelLifecycleInput.gpu) or nothing (CPU). */
export type KernelGpuRequest = NonNullable<KernelLifecycleInput['gpu']>;

/**
 * The notebook's compute choice (NOTEBOOK_COMPUTE_METADATA_KEY in its shared
 * metadata, written by the editor's compute picker) as the kernel start's
 * `gpu`, checked against what the org is offered. Absent = CPU; anything
 * wrong is a clear error, never a silent CPU kernel:
 *   - not a NotebookCompute          → 400 compute.invalid
 *   - a GPU type the offer lacks     → 400 gpu.unknown_type
 *   - a profile the offer lacks      → 400 gpu.profile_not_offered
 *   - offered but no host can run it → 400 gpu.not_runnable (the offer's note)
 */
export function gpuRequestFromMetadata(
  metadata: Record<string, unknown>,
  offerFor: () => Promise<GpuOfferDto>,
): Promise<KernelGpuRequest | null> {
  return resolve(metadata[NOTEBOOK_COMPUTE_METADATA_KEY], offerFor);
}

async function resolve(raw: unknown, offerFor: () => Promise<GpuOfferDto>): Promise<KernelGpuRequest | null> {
  if (raw === undefined || raw === null) return null;
  const parsed = NotebookCompute.safeParse(raw);
  if (!parsed.success)
    throw new QuireError(
      'validation',
      `the notebook's compute setting (${NOTEBOOK_COMPUTE_METADATA_KEY}) is not valid: ${parsed.error.issues[0]?.message ?? 'unreadable'}; pick CPU or a GPU again in Compute`,
      'compute.invalid',
    );
  const c = parsed.data;
  if (c.kind === 'cpu') return null;
  const offer = await offerFor();
  const ofType = offer.items.filter((i) => i.gpuType === c.gpuType);
  if (ofType.length === 0)
    throw new QuireError(
      'validation',
      `this notebook asks for a ${c.gpuType} GPU, which your organisation is not offered; pick another in Compute`,
      'gpu.unknown_type',
    );
  const item = ofType.find((i) => i.profile === c.profile);
  if (!item)
    throw new QuireError(
      'validation',
      `this notebook asks for ${c.profile === 'full' ? 'a whole' : `a ${c.profile} slice of a`} ${c.gpuType}, which is not offered (offered: ${ofType.map((i) => i.profile).join(', ')}); pick another in Compute`,
      'gpu.profile_not_offered',
    );
  if (!item.runnable)
    throw new QuireError(
      'validation',
      `${item.label} cannot be given to a kernel today${item.note ? `: ${item.note}` : ''}; pick another in Compute`,
      'gpu.not_runnable',
    );
  return { gpuType: c.gpuType, profile: c.profile, allowCpuFallback: c.allowCpuFallback };
}

/** Two requests for the same compute (null = CPU). */
export function sameGpuRequest(
  a: { gpuType: string; profile: string } | null | undefined,
  b: { gpuType: string; profile: string } | null | undefined,
): boolean {
  if (!a || !b) return !a && !b;
  return a.gpuType === b.gpuType && a.profile === b.profile;
}
