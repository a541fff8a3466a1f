import { Controller, Get, Inject, Req } from '@nestjs/common';
import type { GpuOfferDto } from '@quire/contracts';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { GpuSchedulerClient } from './gpu-scheduler.client';

/** What the editor's compute picker offers: the GPU types and slices of the caller's org. */
@Controller('api/gpu')
export class GpuOfferController {
  constructor(@Inject(GpuSchedulerClient) private readonly scheduler: GpuSchedulerClient) {}

  /** Any member of the org; the tenant is the caller's org, never a query parameter. */
  @Get('offer')
  offer(@Req() req: AccessRequest): Promise<GpuOfferDto> {
    return this.scheduler.offer(accessOf(req).principal.orgId);
  }
}
