import type { KernelGpuStatus } from '@quire/contracts';
import { etaText, gpuRequestName } from './gpu-names';

/**
 * The line the editor shows for a GPU kernel's device request, or null when
 * there is nothing to say (a CPU kernel, a GPU already allocated):
 * "Waiting for an H100 — position 2, about 4 min". `restart`: the notebook's
 * compute choice differs from what the running kernel has, and a restart
 * applies it (the banner offers the button).
 */
export function gpuWaitText(
  gpu: KernelGpuStatus | null | undefined,
): { text: string; tone: 'wait' | 'error' | 'info'; restart?: boolean } | null {
  if (!gpu) return null;
  if (gpu.restartToApply && gpu.notice) return { text: gpu.notice, tone: 'info', restart: true };
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
      // Allocated or released: only the lifecycle's word is worth a line (GPU memory not kept across hibernation).
      return gpu.notice ? { text: gpu.notice, tone: 'info' } : null;
  }
}
