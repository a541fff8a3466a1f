-- Agent runs (one per Temporal workflow agent-run:<run_id>) and their steps.
CREATE TABLE runs (
  run_id            text PRIMARY KEY,
  notebook_id       text NOT NULL,
  org_id            text NOT NULL,
  kernel_id         text NOT NULL,
  user_id           text NOT NULL,
  user_name         text NOT NULL,
  goal              text NOT NULL,
  mode              text NOT NULL CHECK (mode IN ('review', 'auto')),
  dry_run           boolean NOT NULL DEFAULT false,
  status            text NOT NULL,
  finish_reason     text,
  summary           text,
  provider          jsonb NOT NULL,
  budget            jsonb NOT NULL,
  usage             jsonb NOT NULL,
  changes           jsonb NOT NULL DEFAULT '[]',
  -- The notebook's encoded Y.Doc state when the run began (undo restores the cells the run touched from it).
  pre_run_state     bytea,
  undone            boolean NOT NULL DEFAULT false,
  started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at       timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX runs_by_notebook ON runs (notebook_id, started_at DESC);

CREATE TABLE steps (
  run_id            text NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  step              integer NOT NULL,
  summary           text NOT NULL,
  tool              text,
  cell_id           text,
  code              text,
  output_summary    text,
  prompt_tokens     integer NOT NULL,
  completion_tokens integer NOT NULL,
  cost              numeric(18, 6) NOT NULL,
  exec_ms           integer NOT NULL,
  dry_run           boolean NOT NULL DEFAULT false,
  at                timestamptz NOT NULL,
  PRIMARY KEY (run_id, step)
);

-- Transactional outbox for agent.v1: written with the row it reports, published after commit
-- (at least once, with the id it was given; consumers deduplicate by id).
CREATE TABLE outbox (
  seq           bigserial PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  subject       text NOT NULL,
  data          jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
