import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Param,
  Post,
  Put,
  Query,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import {
  GpuAllocationRequest,
  GpuReleaseRequest,
  hostApiId,
  type GpuInventoryDto,
  type GpuOfferDto,
} from '@quire/contracts';
import { assertInternalToken, parseInput } from '@quire/service-kit';
import type { Request } from 'express';
import { z } from 'zod';
import { GPU_SCHEDULER_CONFIG, type GpuSchedulerConfig } from '../config';
import type { RequestState } from '../scheduling/gpu-scheduler';
import { RuntimeHost } from '../runtime/runtime-host';

/** With QUIRE_INTERNAL_TOKEN set, only its holders (the gateway, the lifecycle worker) reach the API. */
@Injectable()
export class InternalTokenGuard implements CanActivate {
  constructor(@Inject(GPU_SCHEDULER_CONFIG) private readonly cfg: GpuSchedulerConfig) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (this.cfg.QUIRE_INTERNAL_TOKEN)
      assertInternalToken(
        ctx.switchToHttp().getRequest<Request>().headers.authorization,
        this.cfg.QUIRE_INTERNAL_TOKEN,
      );
    return true;
  }
}

const QuotaBody = z.object({ maxSlots: z.number().int().min(0).max(1_000_000) });

@Controller()
@UseGuards(InternalTokenGuard)
export class GpuController {
  constructor(@Inject(RuntimeHost) private readonly host: RuntimeHost) {}

  @Post('internal/gpu/requests')
  @HttpCode(200)
  async request(@Body() body: unknown): Promise<RequestState> {
    const state = await this.host.runtime.scheduler.request(parseInput(GpuAllocationRequest, body));
    void this.host.runtime.drainOutbox().catch(() => undefined);
    return state;
  }

  @Get('internal/gpu/requests/:requestId')
  get(@Param('requestId') requestId: string): Promise<RequestState> {
    return this.host.runtime.scheduler.get(parseInput(hostApiId, requestId));
  }

  @Post('internal/gpu/requests/:requestId/release')
  @HttpCode(200)
  async release(@Param('requestId') requestId: string, @Body() body: unknown): Promise<RequestState> {
    const state = await this.host.runtime.scheduler.release(
      parseInput(hostApiId, requestId),
      parseInput(GpuReleaseRequest, body ?? {}),
    );
    void this.host.runtime.drainOutbox().catch(() => undefined);
    return state;
  }

  @Get('internal/gpu/inventory')
  inventory(): Promise<GpuInventoryDto> {
    return this.host.runtime.views.inventory();
  }

  @Put('internal/gpu/quotas/:tenant')
  async setQuota(
    @Param('tenant') tenant: string,
    @Body() body: unknown,
  ): Promise<{ tenant: string; maxSlots: number }> {
    const { maxSlots } = parseInput(QuotaBody, body);
    await this.host.runtime.scheduler.setQuota(parseInput(hostApiId, tenant), maxSlots);
    return { tenant, maxSlots };
  }

  @Get('api/gpu/offer')
  offer(@Query('tenant') tenant: unknown): Promise<GpuOfferDto> {
    return this.host.runtime.views.offer(parseInput(hostApiId, tenant));
  }
}
