import type { GpuOfferDto } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { InternalService } from '../agent/internal-service';

/**
 * The gpu-scheduler's editor-facing read (gpu-scheduler-api.ts,
 * `GET /api/gpu/offer?tenant=`), called with the internal token. Failures
 * are problem+json `gpu.unavailable` (503) with words the picker can show.
 */
export class GpuSchedulerClient {
  private readonly http: InternalService;

  constructor(baseUrl: string, internalToken: string | undefined) {
    this.http = new InternalService({
      codePrefix: 'gpu',
      label: 'the GPU scheduler',
      baseUrl,
      token: internalToken,
      timeoutMs: 5_000,
    });
  }

  async offer(tenant: string): Promise<GpuOfferDto> {
    const offer = await this.http.json<GpuOfferDto>({
      method: 'GET',
      path: `/api/gpu/offer?tenant=${encodeURIComponent(tenant)}`,
    });
    if (!offer || !Array.isArray(offer.items))
      throw new QuireError('unavailable', 'the GPU scheduler sent an offer without items', 'gpu.unavailable');
    if (offer.tenant !== tenant)
      throw new QuireError(
        'unavailable',
        'the GPU scheduler answered for another organisation',
        'gpu.unavailable',
      );
    return offer;
  }
}
