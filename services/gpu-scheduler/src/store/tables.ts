/** Schema-qualified table names of one gpu-scheduler schema (tests run each in a schema of their own). */
export class Tables {
  readonly hosts: string;
  readonly gpus: string;
  readonly quotas: string;
  readonly requests: string;
  readonly slotHolds: string;
  readonly outbox: string;

  constructor(readonly schema: string) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    this.hosts = `${schema}.hosts`;
    this.gpus = `${schema}.gpus`;
    this.quotas = `${schema}.tenant_quotas`;
    this.requests = `${schema}.requests`;
    this.slotHolds = `${schema}.slot_holds`;
    this.outbox = `${schema}.outbox`;
  }
}

/** A row of `requests`. */
export interface RequestRow {
  request_id: string;
  queue_seq: string;
  kernel_id: string;
  tenant: string;
  user_id: string;
  gpu_type: string;
  profile: string;
  slots: number;
  allow_cpu_fallback: boolean;
  idle_hibernate_ms: string | null;
  phase: 'queued' | 'allocated' | 'released' | 'rejected' | 'cpu_fallback';
  requested_at: Date;
  host_id: string | null;
  device: string | null;
  slice: string | null;
  start_slot: number | null;
  visible_device: string | null;
  allocated_at: Date | null;
  released_at: Date | null;
  idle_since: Date | null;
  reason: string | null;
  detail: string | null;
}

export interface GpuRow {
  uuid: string;
  host_id: string;
  gpu_index: number;
  gpu_type: string;
  model: string;
  memory_bytes: string;
  driver_version: string;
  mig_mode: 'enabled' | 'disabled' | 'unsupported';
  mig_instances: { profile: string; start: number; size: number; uuid?: string }[];
  sandbox: { wholeGpu: boolean; migSlices: boolean; reason?: string };
  cuda_checkpoint: boolean;
  present: boolean;
  usable: boolean;
}
