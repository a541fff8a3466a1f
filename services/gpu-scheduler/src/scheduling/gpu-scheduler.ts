import {
  GpuAllocated,
  GpuQueued,
  GpuReleased,
  GpuRequested,
  GpuAllocationRequest,
  type GpuReleaseRequest,
  type GpuRequestState,
} from '@quire/contracts';
import { inTransaction, QuireError, ROLLBACK } from '@quire/service-kit';
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { z } from 'zod';
import { OutboxWriter } from '../store/outbox';
import { Tables, type GpuRow, type RequestRow } from '../store/tables';
import {
  choosePlacement,
  requestFit,
  runnableOn,
  type HeldPart,
  type InventoryGpu,
} from './placement-choice';
import {
  backfillAllowed,
  etaSeconds,
  orderQueue,
  overQuota,
  typicalHold,
  type QueuedRequest,
  type RunningAllocation,
} from './queue-policy';

export interface SchedulerOptions {
  hostLossAfterMs: number;
  backfillMaxWaitMs: number;
  defaultQuotaSlots: number;
  /** `gpu-scheduler/<instance>`: the events' source. */
  source: string;
}

/** What the API answers for one request (the contract's state; the lifecycle adds cudaCheckpoint itself). */
export type RequestState = GpuRequestState & { cudaCheckpoint: boolean };

/** A request as the contract's schema parsed it. */
export type ParsedRequest = z.output<typeof GpuAllocationRequest>;

export interface PoolView {
  gpus: InventoryGpu[];
  held: (HeldPart & RunningAllocation & { tenant: string; kernelId: string })[];
  queued: (QueuedRequest & { row: RequestRow })[];
  heldByTenant: Map<string, number>;
  quotas: Map<string, number>;
  pastHoldsMs: number[];
}

const poolLockKey = (gpuType: string): string =>
  createHash('sha256').update(`quire-gpu-pool:${gpuType}`).digest().readBigInt64BE(0).toString();

/**
 * The scheduler's decisions, on PostgreSQL. Every decision about a pool (one
 * GPU type) runs in one transaction holding that pool's advisory lock, so
 * any number of scheduler instances may serve requests: one decision at a
 * time per pool, never two holders of a slot (and `slot_holds`' primary key
 * would refuse it anyway). The gpu.v1 events of a decision are written to the
 * outbox in the same transaction. A kill -9 at any point leaves either the
 * whole decision or none of it.
 */
export class GpuScheduler {
  readonly t: Tables;
  private readonly outbox: OutboxWriter;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly opts: SchedulerOptions,
  ) {
    this.t = new Tables(schema);
    this.outbox = new OutboxWriter(this.t, opts.source);
  }

  // ---- the API -------------------------------------------------------------------------------

  /** POST /internal/gpu/requests: idempotent by requestId. */
  async request(req: ParsedRequest): Promise<RequestState> {
    // The lifecycle polls a queued request by asking again: answer that from its row alone.
    const existing = await this.row(req.requestId);
    if (existing) return this.stateOf(existing);
    const fit = requestFit(req.gpuType, req.profile);
    const known = await this.pool.query(`SELECT 1 FROM ${this.t.gpus} WHERE gpu_type = $1 LIMIT 1`, [
      req.gpuType,
    ]);
    if (known.rowCount === 0)
      throw new QuireError(
        'validation',
        `no host has reported a GPU of type "${req.gpuType}"`,
        'gpu.unknown_type',
      );
    if (!fit.ok) throw new QuireError('validation', fit.message, fit.code);

    await this.inPool(req.gpuType, true, async (c, view) => {
      const again = await c.query<RequestRow>(`SELECT * FROM ${this.t.requests} WHERE request_id = $1`, [
        req.requestId,
      ]);
      if (again.rows.length) return;
      const now = new Date();
      const everRunnable = view.gpus.some((g) => runnableOn(g, req.profile));
      const { rows: q } = await c.query<{ max_slots: number }>(
        `SELECT max_slots FROM ${this.t.quotas} WHERE tenant = $1`,
        [req.tenant],
      );
      const quota = q[0]?.max_slots ?? this.opts.defaultQuotaSlots;
      view.quotas.set(req.tenant, quota);
      let phase: RequestRow['phase'] = 'queued';
      let reason: string | null = null;
      if (!everRunnable) {
        const why = view.gpus.find((g) => g.sandbox.reason)?.sandbox.reason;
        reason =
          req.profile === 'full'
            ? `no host can hand a whole ${req.gpuType} to a sandbox${why ? `: ${why}` : ''}`
            : `no host can hand a ${req.profile} MIG slice to a sandbox${why ? `: ${why}` : ' (gVisor cannot pass MIG devices yet)'}`;
        phase = req.allowCpuFallback ? 'cpu_fallback' : 'rejected';
      } else if (fit.slots > quota) {
        reason = `your organisation's GPU quota is ${quota} memory slots of ${req.gpuType} (a whole GPU is 8); this request needs ${fit.slots}`;
        phase = req.allowCpuFallback ? 'cpu_fallback' : 'rejected';
      }
      await c.query(
        `INSERT INTO ${this.t.requests}
           (request_id, kernel_id, tenant, user_id, gpu_type, profile, slots, allow_cpu_fallback,
            idle_hibernate_ms, phase, requested_at, reason, released_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
        [
          req.requestId,
          req.kernelId,
          req.tenant,
          req.userId,
          req.gpuType,
          req.profile,
          fit.slots,
          req.allowCpuFallback,
          req.idleHibernateAfterMs ?? null,
          phase,
          now,
          reason,
          phase === 'queued' ? null : now,
        ],
      );
      await this.outbox.add(c, GpuRequested, {
        requestId: req.requestId,
        tenant: req.tenant,
        time: now,
        data: {
          requestId: req.requestId,
          kernelId: req.kernelId,
          gpuType: req.gpuType,
          profile: req.profile,
          userId: req.userId,
          allowCpuFallback: req.allowCpuFallback,
        },
      });
      if (phase !== 'queued') return;
      const { rows } = await c.query<RequestRow>(`SELECT * FROM ${this.t.requests} WHERE request_id = $1`, [
        req.requestId,
      ]);
      view.queued.push(toQueued(rows[0]!));
      await this.decide(c, view, req.gpuType);
      if (view.queued.some((q) => q.requestId === req.requestId)) {
        if (req.allowCpuFallback) {
          await c.query(
            `UPDATE ${this.t.requests} SET phase = 'cpu_fallback', released_at = $2, reason = $3 WHERE request_id = $1`,
            [req.requestId, now, `no ${req.gpuType} free: running on CPU as asked`],
          );
          return;
        }
        const pos = this.positionIn(view, req.requestId, now.getTime());
        await this.outbox.add(c, GpuQueued, {
          requestId: req.requestId,
          tenant: req.tenant,
          time: now,
          data: { requestId: req.requestId, kernelId: req.kernelId, position: pos.position, etaS: pos.etaS },
        });
      }
    });
    return this.stateOf((await this.row(req.requestId))!);
  }

  async get(requestId: string): Promise<RequestState> {
    const r = await this.row(requestId);
    if (!r) throw new QuireError('not_found', `no GPU request ${requestId}`, 'gpu.request_not_found');
    return this.stateOf(r);
  }

  /** POST …/release: idempotent; a queued request leaves the queue. */
  async release(requestId: string, body: GpuReleaseRequest): Promise<RequestState> {
    const r = await this.row(requestId);
    if (!r) throw new QuireError('not_found', `no GPU request ${requestId}`, 'gpu.request_not_found');
    if (r.phase !== 'queued' && r.phase !== 'allocated') return this.stateOf(r);
    await this.inPool(r.gpu_type, true, async (c, view) => {
      await this.releaseIn(c, view, requestId, body.reason, body.detail ?? null, new Date());
      await this.decide(c, view, r.gpu_type);
    });
    return this.stateOf((await this.row(requestId))!);
  }

  async setQuota(tenant: string, maxSlots: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.t.quotas} (tenant, max_slots) VALUES ($1, $2)
       ON CONFLICT (tenant) DO UPDATE SET max_slots = EXCLUDED.max_slots, updated_at = clock_timestamp()`,
      [tenant, maxSlots],
    );
  }

  /** Pools (GPU types) with requests waiting. */
  async queuedPools(): Promise<string[]> {
    const { rows } = await this.pool.query<{ gpu_type: string }>(
      `SELECT DISTINCT gpu_type FROM ${this.t.requests} WHERE phase = 'queued'`,
    );
    return rows.map((r) => r.gpu_type);
  }

  /** Reconsiders a pool's queue (capacity may have come back); skipped if another instance is deciding it. */
  async decidePool(gpuType: string): Promise<number> {
    let placed = 0;
    await this.inPool(gpuType, false, async (c, view) => {
      placed = await this.decide(c, view, gpuType);
    });
    return placed;
  }

  /**
   * Hosts silent for longer than the loss period: marked lost, their
   * allocations released (`died`, "host … lost") and their pools decided again.
   */
  async sweepLostHosts(now = new Date()): Promise<string[]> {
    const { rows } = await this.pool.query<{ host_id: string; last_beat_at: Date }>(
      `UPDATE ${this.t.hosts} SET lost_at = $1
        WHERE lost_at IS NULL AND last_beat_at < $1::timestamptz - make_interval(secs => $2::float8 / 1000)
        RETURNING host_id, last_beat_at`,
      [now, this.opts.hostLossAfterMs],
    );
    for (const h of rows) {
      const { rows: held } = await this.pool.query<{ request_id: string; gpu_type: string }>(
        `SELECT request_id, gpu_type FROM ${this.t.requests} WHERE phase = 'allocated' AND host_id = $1`,
        [h.host_id],
      );
      const silentS = Math.round((now.getTime() - h.last_beat_at.getTime()) / 1000);
      for (const gpuType of new Set(held.map((x) => x.gpu_type)))
        await this.inPool(gpuType, true, async (c, view) => {
          for (const x of held.filter((y) => y.gpu_type === gpuType))
            await this.releaseIn(
              c,
              view,
              x.request_id,
              'died',
              `host ${h.host_id} lost (no heartbeat for ${silentS} s)`,
              now,
            );
          await this.decide(c, view, gpuType);
        });
    }
    return rows.map((r) => r.host_id);
  }

  // ---- inputs from Kafka ---------------------------------------------------------------------

  /** A HostHeartbeat: the host's GPUs as it saw them (an older heartbeat than the last one applied changes nothing). */
  async applyHeartbeat(hostId: string, time: Date, gpus: readonly HeartbeatGpu[] | undefined): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      if (!gpus?.length) {
        // A host without GPUs matters only when it had some: they are gone.
        await c.query(
          `UPDATE ${this.t.hosts} SET last_beat_at = $2, lost_at = NULL WHERE host_id = $1 AND last_beat_at < $2`,
          [hostId, time],
        );
        await c.query(`UPDATE ${this.t.gpus} SET present = false WHERE host_id = $1 AND updated_at <= $2`, [
          hostId,
          time,
        ]);
        return;
      }
      const { rows } = await c.query<{ newest: boolean }>(
        `INSERT INTO ${this.t.hosts} (host_id, last_beat_at, last_seen_by) VALUES ($1, $2, $3)
         ON CONFLICT (host_id) DO UPDATE
           SET last_beat_at = GREATEST(${this.t.hosts}.last_beat_at, EXCLUDED.last_beat_at),
               lost_at = CASE WHEN EXCLUDED.last_beat_at > ${this.t.hosts}.last_beat_at THEN NULL ELSE ${this.t.hosts}.lost_at END,
               last_seen_by = EXCLUDED.last_seen_by
         RETURNING last_beat_at = $2 AS newest`,
        [hostId, time, this.opts.source],
      );
      if (rows[0]?.newest) {
        for (const g of gpus)
          await c.query(
            `INSERT INTO ${this.t.gpus}
               (uuid, host_id, gpu_index, gpu_type, model, memory_bytes, driver_version, mig_mode,
                mig_instances, sandbox, cuda_checkpoint, present, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,true,$12)
             ON CONFLICT (uuid) DO UPDATE SET
               host_id = EXCLUDED.host_id, gpu_index = EXCLUDED.gpu_index, gpu_type = EXCLUDED.gpu_type,
               model = EXCLUDED.model, memory_bytes = EXCLUDED.memory_bytes,
               driver_version = EXCLUDED.driver_version, mig_mode = EXCLUDED.mig_mode,
               mig_instances = EXCLUDED.mig_instances, sandbox = EXCLUDED.sandbox,
               cuda_checkpoint = EXCLUDED.cuda_checkpoint, present = true, updated_at = EXCLUDED.updated_at
             WHERE ${this.t.gpus}.updated_at <= EXCLUDED.updated_at`,
            [
              g.uuid,
              hostId,
              g.index,
              g.gpuType,
              g.model,
              g.memoryBytes,
              g.driverVersion,
              g.migMode,
              JSON.stringify(
                g.migInstances.map((i) => ({
                  profile: i.profile,
                  start: i.start,
                  size: i.size,
                  uuid: i.uuid,
                })),
              ),
              JSON.stringify(g.sandbox),
              g.cudaCheckpoint,
              time,
            ],
          );
        await c.query(
          `UPDATE ${this.t.gpus} SET present = false WHERE host_id = $1 AND NOT (uuid = ANY($2)) AND updated_at <= $3`,
          [hostId, gpus.map((g) => g.uuid), time],
        );
      }
    });
  }

  /**
   * kernel.lifecycle.v1: IDLE starts the idle clock the ETAs use; leaving it
   * stops it. HIBERNATED, EVICTED and DEAD release what the kernel still holds
   * (the lifecycle releases first; this is the net under it, and only for
   * allocations made before the event).
   */
  async applyKernelState(kernelId: string, to: string, time: Date, reason: string): Promise<void> {
    if (to === 'IDLE')
      await this.pool.query(
        `UPDATE ${this.t.requests} SET idle_since = $2
          WHERE kernel_id = $1 AND phase = 'allocated' AND allocated_at <= $2`,
        [kernelId, time],
      );
    else
      await this.pool.query(
        `UPDATE ${this.t.requests} SET idle_since = NULL
          WHERE kernel_id = $1 AND phase = 'allocated' AND idle_since IS NOT NULL AND idle_since <= $2`,
        [kernelId, time],
      );
    if (to !== 'HIBERNATED' && to !== 'EVICTED' && to !== 'DEAD') return;
    const { rows } = await this.pool.query<{ request_id: string; gpu_type: string }>(
      `SELECT request_id, gpu_type FROM ${this.t.requests}
        WHERE kernel_id = $1 AND phase = 'allocated' AND allocated_at <= $2`,
      [kernelId, time],
    );
    for (const r of rows)
      await this.inPool(r.gpu_type, true, async (c, view) => {
        await this.releaseIn(
          c,
          view,
          r.request_id,
          to === 'HIBERNATED' ? 'hibernated' : to === 'EVICTED' ? 'terminated' : 'died',
          `kernel ${to.toLowerCase()} (${reason.slice(0, 200)})`,
          new Date(),
        );
        await this.decide(c, view, r.gpu_type);
      });
  }

  // ---- reads ---------------------------------------------------------------------------------

  async row(requestId: string): Promise<RequestRow | undefined> {
    const { rows } = await this.pool.query<RequestRow>(
      `SELECT * FROM ${this.t.requests} WHERE request_id = $1`,
      [requestId],
    );
    return rows[0];
  }

  async stateOf(r: RequestRow): Promise<RequestState> {
    let position: number | null = null;
    let etaS: number | null = null;
    let reason = r.reason;
    if (r.phase === 'queued') {
      const view = await this.loadView(this.pool, r.gpu_type);
      const p = this.positionIn(view, r.request_id, Date.now());
      position = p.position;
      etaS = p.etaS;
      reason = p.note;
    }
    let cudaCheckpoint = false;
    if (r.device) {
      const g = await this.pool.query<{ cuda_checkpoint: boolean }>(
        `SELECT cuda_checkpoint FROM ${this.t.gpus} WHERE uuid = $1`,
        [r.device],
      );
      cudaCheckpoint = g.rows[0]?.cuda_checkpoint ?? false;
    }
    return {
      requestId: r.request_id,
      kernelId: r.kernel_id,
      tenant: r.tenant,
      gpuType: r.gpu_type,
      profile: r.profile,
      phase: r.phase,
      position,
      etaS,
      allocation:
        r.device && r.host_id && r.allocated_at
          ? {
              hostId: r.host_id,
              device: r.device,
              gpuType: r.gpu_type,
              slice: r.slice,
              startSlot: r.slice === null ? null : r.start_slot,
              visibleDevice: r.visible_device ?? '',
              allocatedAt: r.allocated_at.toISOString(),
            }
          : null,
      reason: r.phase === 'released' && r.detail ? `${r.reason}: ${r.detail}` : reason,
      requestedAt: r.requested_at.toISOString(),
      cudaCheckpoint,
    };
  }

  /** Position (1 = next) and ETA of a queued request, with a note when its tenant's quota holds it back. */
  positionIn(
    view: PoolView,
    requestId: string,
    nowMs: number,
  ): { position: number; etaS: number; note: string | null } {
    const order = orderQueue(view.queued, view.heldByTenant);
    const i = Math.max(
      0,
      order.findIndex((q) => q.requestId === requestId),
    );
    const me = order[i]!;
    const quota = view.quotas.get(me.tenant) ?? this.opts.defaultQuotaSlots;
    const blocked = overQuota(me, view.heldByTenant, quota);
    const etaS = etaSeconds(
      order.slice(0, i).map((q) => q.slots),
      me.slots,
      view.held,
      nowMs,
      typicalHold(view.pastHoldsMs),
    );
    return {
      position: i + 1,
      etaS,
      note: blocked
        ? `waiting for your organisation's GPU quota: ${view.heldByTenant.get(me.tenant) ?? 0} of ${quota} memory slots of ${me.row.gpu_type} in use`
        : null,
    };
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * One transaction under the pool's advisory lock, with the pool's state
   * loaded after the lock is held. `wait: false` skips the pool when another
   * instance holds it (the periodic reconsideration).
   */
  private async inPool(
    gpuType: string,
    wait: boolean,
    fn: (c: PoolClient, view: PoolView) => Promise<void>,
  ): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      if (wait) await c.query('SELECT pg_advisory_xact_lock($1)', [poolLockKey(gpuType)]);
      else {
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
          poolLockKey(gpuType),
        ]);
        if (!rows[0]!.ok) return ROLLBACK;
      }
      await fn(c, await this.loadView(c, gpuType));
    });
  }

  /** A pool's state as of now (no lock: for reads). */
  poolView(gpuType: string): Promise<PoolView> {
    return this.loadView(this.pool, gpuType);
  }

  async poolTypes(): Promise<string[]> {
    const { rows } = await this.pool.query<{ gpu_type: string }>(
      `SELECT DISTINCT gpu_type FROM ${this.t.gpus} ORDER BY gpu_type`,
    );
    return rows.map((r) => r.gpu_type);
  }

  private async loadView(q: Pool | PoolClient, gpuType: string): Promise<PoolView> {
    const lossS = this.opts.hostLossAfterMs / 1000;
    const gpus = await q.query<GpuRow>(
      `SELECT g.*, (g.present AND h.lost_at IS NULL AND h.last_beat_at > now() - make_interval(secs => $2::float8)) AS usable
           FROM ${this.t.gpus} g JOIN ${this.t.hosts} h USING (host_id) WHERE g.gpu_type = $1 ORDER BY g.host_id, g.gpu_index`,
      [gpuType, lossS],
    );
    const held = await q.query<RequestRow>(
      `SELECT * FROM ${this.t.requests} WHERE gpu_type = $1 AND phase = 'allocated'`,
      [gpuType],
    );
    const queued = await q.query<RequestRow>(
      `SELECT * FROM ${this.t.requests} WHERE gpu_type = $1 AND phase = 'queued' ORDER BY queue_seq`,
      [gpuType],
    );
    const past = await q.query<{ ms: number }>(
      `SELECT extract(epoch FROM (released_at - allocated_at)) * 1000 AS ms FROM ${this.t.requests}
          WHERE gpu_type = $1 AND phase = 'released' AND allocated_at IS NOT NULL
          ORDER BY released_at DESC LIMIT 50`,
      [gpuType],
    );
    const tenants = [...new Set([...held.rows, ...queued.rows].map((r) => r.tenant))];
    const quotas = new Map<string, number>();
    if (tenants.length) {
      const { rows } = await q.query<{ tenant: string; max_slots: number }>(
        `SELECT tenant, max_slots FROM ${this.t.quotas} WHERE tenant = ANY($1)`,
        [tenants],
      );
      for (const r of rows) quotas.set(r.tenant, r.max_slots);
    }
    const heldByTenant = new Map<string, number>();
    for (const r of held.rows) heldByTenant.set(r.tenant, (heldByTenant.get(r.tenant) ?? 0) + r.slots);
    return {
      gpus: gpus.rows.map((g) => ({
        uuid: g.uuid,
        hostId: g.host_id,
        index: g.gpu_index,
        gpuType: g.gpu_type,
        model: g.model,
        migMode: g.mig_mode,
        migInstances: g.mig_instances,
        sandbox: g.sandbox,
        cudaCheckpoint: g.cuda_checkpoint,
        usable: g.usable,
      })),
      held: held.rows.map((r) => ({
        requestId: r.request_id,
        device: r.device!,
        start: r.start_slot ?? 0,
        size: r.slots,
        slice: r.slice,
        tenant: r.tenant,
        kernelId: r.kernel_id,
        slots: r.slots,
        allocatedAtMs: r.allocated_at!.getTime(),
        idleSinceMs: r.idle_since?.getTime() ?? null,
        idleHibernateMs: r.idle_hibernate_ms === null ? null : Number(r.idle_hibernate_ms),
      })),
      queued: queued.rows.map(toQueued),
      heldByTenant,
      quotas,
      pastHoldsMs: past.rows.map((r) => Number(r.ms)),
    };
  }

  /** Places what can be placed, in queue order (fair share, FIFO, bounded backfill). Returns how many. */
  private async decide(c: PoolClient, view: PoolView, gpuType: string): Promise<number> {
    let placed = 0;
    for (;;) {
      const now = new Date();
      const order = orderQueue(view.queued, view.heldByTenant);
      let front: QueuedRequest | null = null;
      let done = true;
      for (const q of order) {
        if (overQuota(q, view.heldByTenant, view.quotas.get(q.tenant) ?? this.opts.defaultQuotaSlots))
          continue;
        if (front && q.slots >= front.slots) continue;
        const choice = choosePlacement(view.gpus, view.held, {
          requestId: q.requestId,
          gpuType,
          profile: q.row.profile,
        });
        if (!choice) {
          if (!front) front = q;
          if (!backfillAllowed(front, now.getTime(), this.opts.backfillMaxWaitMs)) break;
          continue;
        }
        const slots = Array.from({ length: choice.size }, (_, k) => choice.start + k);
        await c.query(
          `INSERT INTO ${this.t.slotHolds} (device, slot, request_id) SELECT $1, s, $3 FROM unnest($2::int[]) AS s`,
          [choice.gpu.uuid, slots, q.requestId],
        );
        await c.query(
          `UPDATE ${this.t.requests}
              SET phase = 'allocated', host_id = $2, device = $3, slice = $4, start_slot = $5,
                  visible_device = $6, allocated_at = $7, reason = $8
            WHERE request_id = $1 AND phase = 'queued'`,
          [
            q.requestId,
            choice.gpu.hostId,
            choice.gpu.uuid,
            choice.slice,
            choice.start,
            choice.visibleDevice,
            now,
            choice.how === 'whole-gpu' || choice.how === 'existing-instance'
              ? null
              : `MIG ${choice.how}: the host creates ${choice.slice} at slot ${choice.start}`,
          ],
        );
        await this.outbox.add(c, GpuAllocated, {
          requestId: q.requestId,
          tenant: q.tenant,
          time: now,
          data: {
            requestId: q.requestId,
            kernelId: q.row.kernel_id,
            hostId: choice.gpu.hostId,
            gpuType,
            device: choice.gpu.uuid,
            slice: choice.slice,
            startSlot: choice.slice === null ? null : choice.start,
          },
        });
        view.queued = view.queued.filter((x) => x.requestId !== q.requestId);
        view.held.push({
          requestId: q.requestId,
          device: choice.gpu.uuid,
          start: choice.start,
          size: choice.size,
          slice: choice.slice,
          tenant: q.tenant,
          kernelId: q.row.kernel_id,
          slots: choice.size,
          allocatedAtMs: now.getTime(),
          idleSinceMs: null,
          idleHibernateMs: q.row.idle_hibernate_ms === null ? null : Number(q.row.idle_hibernate_ms),
        });
        view.heldByTenant.set(q.tenant, (view.heldByTenant.get(q.tenant) ?? 0) + choice.size);
        placed++;
        done = false;
        break;
      }
      if (done) return placed;
    }
  }

  private async releaseIn(
    c: PoolClient,
    view: PoolView,
    requestId: string,
    reason: GpuReleaseRequest['reason'],
    detail: string | null,
    now: Date,
  ): Promise<void> {
    const { rows } = await c.query<RequestRow>(
      `SELECT * FROM ${this.t.requests} WHERE request_id = $1 FOR UPDATE`,
      [requestId],
    );
    const r = rows[0];
    if (!r || (r.phase !== 'queued' && r.phase !== 'allocated')) return;
    await c.query(
      `UPDATE ${this.t.requests} SET phase = 'released', released_at = $2, reason = $3, detail = $4, idle_since = NULL
        WHERE request_id = $1`,
      [requestId, now, reason, detail ?? (r.phase === 'queued' ? 'left the queue' : null)],
    );
    view.queued = view.queued.filter((q) => q.requestId !== requestId);
    if (r.phase !== 'allocated') return;
    await c.query(`DELETE FROM ${this.t.slotHolds} WHERE request_id = $1`, [requestId]);
    view.held = view.held.filter((h) => h.requestId !== requestId);
    view.heldByTenant.set(r.tenant, Math.max(0, (view.heldByTenant.get(r.tenant) ?? 0) - r.slots));
    await this.outbox.add(c, GpuReleased, {
      requestId,
      tenant: r.tenant,
      time: now,
      data: {
        requestId,
        kernelId: r.kernel_id,
        device: r.device!,
        slice: r.slice,
        reason,
        ...(detail ? { detail: detail.slice(0, 500) } : {}),
      },
    });
  }
}

export interface HeartbeatGpu {
  uuid: string;
  index: number;
  model: string;
  gpuType: string;
  memoryBytes: number;
  driverVersion: string;
  migMode: 'enabled' | 'disabled' | 'unsupported';
  migInstances: { profile: string; start: number; size: number; uuid?: string | undefined }[];
  sandbox: { wholeGpu: boolean; migSlices: boolean; reason?: string | undefined };
  cudaCheckpoint: boolean;
}

function toQueued(r: RequestRow): QueuedRequest & { row: RequestRow } {
  return {
    requestId: r.request_id,
    tenant: r.tenant,
    slots: r.slots,
    queueSeq: Number(r.queue_seq),
    requestedAtMs: r.requested_at.getTime(),
    row: r,
  };
}
