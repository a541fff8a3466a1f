-- doc-sync's tables (schema doc_sync by default). The ops log itself is in S3.
CREATE TABLE notebooks (
  id          text PRIMARY KEY,
  org         text NOT NULL,
  title       text NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);

-- Full Y.Doc states (Y.encodeStateAsUpdate). Every row is a version the user can restore.
CREATE TABLE snapshots (
  version_id  text PRIMARY KEY,
  notebook_id text NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
  seq         bigint NOT NULL,
  reason      text NOT NULL,
  bytes       integer NOT NULL,
  cells       integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  state       bytea NOT NULL
);
CREATE INDEX snapshots_by_notebook ON snapshots (notebook_id, seq DESC, created_at DESC);

-- Write-ahead log: each accepted update is here before its author is told it is durable.
-- Rows move to the S3 ops log in batches and are then deleted.
CREATE TABLE wal (
  notebook_id text NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
  seq         bigint NOT NULL,
  "update"    bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (notebook_id, seq)
);
