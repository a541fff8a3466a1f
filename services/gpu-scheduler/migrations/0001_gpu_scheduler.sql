-- The gpu-scheduler's schema. Runs with search_path = <schema>, public.
-- PostgreSQL is the scheduler's source of truth: every decision is one
-- transaction under the pool's advisory lock, and its gpu.v1 events are written
-- to the outbox in that same transaction (published after commit, at least once,
-- consumers deduplicate by event id).

-- Hosts as their heartbeats show them (event time, not arrival time).
CREATE TABLE hosts (
  host_id         text PRIMARY KEY,
  last_beat_at    timestamptz NOT NULL,
  last_seen_by    text NOT NULL,
  lost_at         timestamptz
);

-- GPUs from HostHeartbeat.gpus (the latest heartbeat that carried them).
CREATE TABLE gpus (
  uuid             text PRIMARY KEY,
  host_id          text NOT NULL REFERENCES hosts (host_id),
  gpu_index        integer NOT NULL,
  gpu_type         text NOT NULL,
  model            text NOT NULL,
  memory_bytes     bigint NOT NULL,
  driver_version   text NOT NULL,
  mig_mode         text NOT NULL CHECK (mig_mode IN ('enabled', 'disabled', 'unsupported')),
  mig_instances    jsonb NOT NULL DEFAULT '[]',
  sandbox          jsonb NOT NULL,
  cuda_checkpoint  boolean NOT NULL DEFAULT false,
  -- false once a heartbeat of its host no longer lists it.
  present          boolean NOT NULL DEFAULT true,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX gpus_type ON gpus (gpu_type) WHERE present;

-- Per-tenant GPU quota in memory slots (a whole GPU = 8); absent = the configured default.
CREATE TABLE tenant_quotas (
  tenant      text PRIMARY KEY,
  max_slots   integer NOT NULL CHECK (max_slots >= 0),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every request: queued → allocated → released, or rejected / cpu_fallback.
CREATE TABLE requests (
  request_id          text PRIMARY KEY,
  queue_seq           bigserial NOT NULL UNIQUE,
  kernel_id           text NOT NULL,
  tenant              text NOT NULL,
  user_id             text NOT NULL,
  gpu_type            text NOT NULL,
  profile             text NOT NULL,
  slots               integer NOT NULL CHECK (slots BETWEEN 1 AND 8),
  allow_cpu_fallback  boolean NOT NULL,
  idle_hibernate_ms   bigint,
  phase               text NOT NULL CHECK (phase IN ('queued', 'allocated', 'released', 'rejected', 'cpu_fallback')),
  requested_at        timestamptz NOT NULL,
  host_id             text,
  device              text,
  slice               text,
  start_slot          integer,
  visible_device      text,
  allocated_at        timestamptz,
  released_at         timestamptz,
  -- The kernel's last IDLE from kernel.lifecycle.v1 while allocated (null = busy or unknown): ETAs.
  idle_since          timestamptz,
  reason              text,
  detail              text
);
CREATE INDEX requests_queue ON requests (gpu_type, queue_seq) WHERE phase = 'queued';
CREATE INDEX requests_held ON requests (gpu_type) WHERE phase = 'allocated';
CREATE INDEX requests_kernel ON requests (kernel_id) WHERE phase = 'allocated';
CREATE INDEX requests_released ON requests (gpu_type, released_at DESC) WHERE phase = 'released';

-- One row per memory slot held: the primary key makes a double allocation of a
-- slot impossible whatever the code above it does.
CREATE TABLE slot_holds (
  device      text NOT NULL,
  slot        integer NOT NULL CHECK (slot BETWEEN 0 AND 7),
  request_id  text NOT NULL REFERENCES requests (request_id),
  PRIMARY KEY (device, slot)
);
CREATE INDEX slot_holds_request ON slot_holds (request_id);

-- gpu.v1 events written in the deciding transaction, published after it commits.
CREATE TABLE outbox (
  seq           bigserial PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  type          text NOT NULL,
  subject       text NOT NULL,
  data          jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at  timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
