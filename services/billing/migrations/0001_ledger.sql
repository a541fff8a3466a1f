-- Billing's schema. Runs with search_path = <schema>, public, so a rebuild can
-- create the same tables in a fresh schema (quire billing rebuild).

-- 1. The journal: every accepted source event, once (the exactly-once sink).
CREATE TABLE event_journal (
  event_id         uuid PRIMARY KEY,
  type             text NOT NULL,
  tenant           text NOT NULL,
  subject          text NOT NULL,
  event_time       timestamptz NOT NULL,
  kernel_id        text,
  run_id           text,
  host_id          text,
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL,
  kafka_ts         timestamptz NOT NULL,
  data             jsonb NOT NULL,
  ingested_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_journal_kernel ON event_journal (kernel_id, event_time) WHERE kernel_id IS NOT NULL;
CREATE INDEX event_journal_run ON event_journal (run_id, event_time) WHERE run_id IS NOT NULL;

CREATE TABLE host_heartbeats (
  host_id   text NOT NULL,
  hb_time   timestamptz NOT NULL,
  event_id  uuid NOT NULL,
  PRIMARY KEY (host_id, hb_time, event_id)
);

-- Messages refused at the sink (also sent to <topic>.dlq), so the offset can move past them.
CREATE TABLE rejected_messages (
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL,
  event_id         text,
  type             text,
  reason           text NOT NULL,
  rejected_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- The ledger's position in each partition, written in the same transaction as the journal rows.
CREATE TABLE consumer_offsets (
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  next_offset      bigint NOT NULL,
  max_event_time   timestamptz,
  accepted         bigint NOT NULL DEFAULT 0,
  duplicates       bigint NOT NULL DEFAULT 0,
  rejected         bigint NOT NULL DEFAULT 0,
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (topic, kafka_partition)
);

-- 2. Work queue of the metering step: keys whose usage must be recomputed.
CREATE TABLE dirty_keys (
  kind          text NOT NULL CHECK (kind IN ('kernel', 'run', 'host')),
  key           text NOT NULL,
  min_time      timestamptz NOT NULL,
  max_time      timestamptz NOT NULL,
  min_kafka_ts  timestamptz NOT NULL,
  events        integer NOT NULL,
  PRIMARY KEY (kind, key)
);

-- Derived from heartbeats by the metering step: when a host was lost (no heartbeat for longer than the threshold).
CREATE TABLE host_gaps (
  host_id    text NOT NULL,
  gap_start  timestamptz NOT NULL,
  gap_end    timestamptz NOT NULL,
  PRIMARY KEY (host_id, gap_start)
);
CREATE TABLE hosts (
  host_id         text PRIMARY KEY,
  last_heartbeat  timestamptz NOT NULL
);

CREATE TABLE kernel_meter (
  kernel_id          text PRIMARY KEY,
  org_id             text,
  recheck_after_w    timestamptz,
  computed_at_w      timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX kernel_meter_recheck ON kernel_meter (recheck_after_w) WHERE recheck_after_w IS NOT NULL;

CREATE TABLE kernel_host_spans (
  kernel_id   text NOT NULL,
  host_id     text NOT NULL,
  span_start  timestamptz NOT NULL,
  span_end    timestamptz
);
CREATE INDEX kernel_host_spans_kernel ON kernel_host_spans (kernel_id);
CREATE INDEX kernel_host_spans_host ON kernel_host_spans (host_id, span_end);

-- 3. The usage ledger: append-only. A row is a change of one usage key's
-- quantity (the first row of a key is its usage; later rows are corrections).
-- Quantities are integers in base units (see README); nothing here is ever updated.
CREATE TABLE ledger (
  seq               bigserial PRIMARY KEY,
  entry_id          uuid NOT NULL UNIQUE,
  usage_key         text NOT NULL,
  kind              text NOT NULL CHECK (kind IN ('usage', 'correction')),
  period_start      timestamptz NOT NULL,
  org_id            text NOT NULL,
  user_id           text,
  notebook_id       text,
  kernel_id         text,
  execution_id      text,
  cell_id           text,
  agent_run_id      text,
  resource          text NOT NULL,
  sku               text NOT NULL,
  charge_to         text NOT NULL CHECK (charge_to IN ('org', 'agent-run')),
  base_unit         text NOT NULL,
  base_quantity     numeric NOT NULL,
  event_count       integer NOT NULL,
  first_event_time  timestamptz,
  last_event_time   timestamptz,
  watermark         timestamptz,
  booked_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ledger_org_period ON ledger (org_id, period_start, seq);
CREATE INDEX ledger_key ON ledger (usage_key, seq);

-- The running sum of the ledger per usage key (a cache the metering step diffs against).
CREATE TABLE ledger_current (
  usage_key         text PRIMARY KEY,
  period_start      timestamptz NOT NULL,
  org_id            text NOT NULL,
  user_id           text,
  notebook_id       text,
  kernel_id         text,
  execution_id      text,
  cell_id           text,
  agent_run_id      text,
  resource          text NOT NULL,
  sku               text NOT NULL,
  charge_to         text NOT NULL,
  base_unit         text NOT NULL,
  base_quantity     numeric NOT NULL,
  event_count       integer NOT NULL,
  first_event_time  timestamptz,
  last_event_time   timestamptz,
  last_seq          bigint NOT NULL
);
CREATE INDEX ledger_current_kernel ON ledger_current (kernel_id) WHERE agent_run_id IS NULL;
CREATE INDEX ledger_current_run ON ledger_current (agent_run_id) WHERE agent_run_id IS NOT NULL;

-- 4. Rated lines (org × month × user × notebook × resource × sku): what UsageRated has published so far.
CREATE TABLE rated_lines (
  line_key            text PRIMARY KEY,
  org_id              text NOT NULL,
  month               date NOT NULL,
  user_id             text,
  notebook_id         text,
  resource            text NOT NULL,
  sku                 text NOT NULL,
  charge_to           text NOT NULL,
  base_quantity       numeric NOT NULL,
  published_quantity  numeric NOT NULL DEFAULT 0,
  published_amount    numeric NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rated_lines_org_month ON rated_lines (org_id, month);

-- 5. Quotas (monthly) and the signals already sent.
CREATE TABLE quotas (
  org_id         text NOT NULL,
  user_id        text NOT NULL DEFAULT '',
  quota          text NOT NULL CHECK (quota IN ('compute', 'gpu', 'agent')),
  monthly_limit  numeric NOT NULL CHECK (monthly_limit > 0),
  hard_cap       boolean NOT NULL DEFAULT false,
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (org_id, user_id, quota)
);
CREATE TABLE quota_signals (
  org_id        text NOT NULL,
  user_id       text NOT NULL DEFAULT '',
  quota         text NOT NULL,
  month         date NOT NULL,
  level         text NOT NULL CHECK (level IN ('warning', 'exceeded')),
  used          numeric NOT NULL,
  monthly_limit numeric NOT NULL,
  signalled_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (org_id, user_id, quota, month, level)
);

-- 6. Transactional outbox for billing.usage.v1 (published after commit, at least once, stable ids).
CREATE TABLE outbox (
  seq           bigserial PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  type          text NOT NULL,
  subject       text NOT NULL,
  tenant        text NOT NULL,
  event_time    timestamptz NOT NULL,
  data          jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- 7. Metering state and rounds.
CREATE TABLE meter_state (
  id           integer PRIMARY KEY CHECK (id = 1),
  swept_w      timestamptz,
  rounds       bigint NOT NULL DEFAULT 0,
  last_round   timestamptz
);
INSERT INTO meter_state (id) VALUES (1);

CREATE TABLE meter_lag_samples (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL,
  events      integer NOT NULL,
  lag_ms      double precision NOT NULL,
  metered_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- 8. Finance exports: each pinned to a ledger high-water mark.
CREATE TABLE exports (
  id            uuid PRIMARY KEY,
  org_id        text NOT NULL,
  from_time     timestamptz NOT NULL,
  to_time       timestamptz NOT NULL,
  format        text NOT NULL CHECK (format IN ('csv', 'parquet')),
  mode          text NOT NULL CHECK (mode IN ('full', 'incremental')),
  hwm_from      bigint NOT NULL,
  hwm_to        bigint NOT NULL,
  bucket        text NOT NULL,
  object_key    text NOT NULL,
  sha256        text NOT NULL,
  bytes         integer NOT NULL,
  rows          integer NOT NULL,
  total_amount  numeric NOT NULL,
  currency      text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (org_id, from_time, to_time, format, mode, hwm_from, hwm_to)
);
