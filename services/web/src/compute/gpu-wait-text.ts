import type { KernelGpuStatus } from '@quire/contracts';
import { etaText, gpuRequestName } from './gpu-names';

/**
 * The line the editor shows for a GPU kernel's device request, or null when
 * there is nothing to say (a CPU kernel, a GPU already allocated):
 * "Waiting for an H100 — position 2, about 4 min".
 */
export function gpuWaitText(
  gpu: KernelGpuStatus | null | undefined,
): { text: string; tone: 'wait' | 'error' | 'info' } | null {
  if (!gpu) return null;
  const what = gpuRequestName(gpu.gpuType, gpu.profile);
  switch (gpu.phase) {
    case 'queued': {
      const parts = [
        gpu.position !== null ? `position ${gpu.position}` : null,
        gpu.etaS !== null ? etaText(gpu.etaS) : null,
      ].filter(Boolean);
      return { text: `Waiting for ${what}${parts.length ? ` — ${parts.join(', ')}` : ''}`, tone: 'wait' };
    }
    case 'rejected':
      return { text: `No GPU: ${gpu.reason ?? `${what} cannot be given to this notebook`}`, tone: 'error' };
    case 'cpu_fallback':
      return { text: `Running on CPU: ${what} was not free and you chose not to wait`, tone: 'info' };
    default:
      return null;
  }
}
