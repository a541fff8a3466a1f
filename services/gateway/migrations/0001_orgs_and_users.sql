-- Tenancy: every notebook, kernel and ledger row belongs to one org.
CREATE TABLE orgs (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  tier        text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'team', 'gpu', 'enterprise')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id            text PRIMARY KEY,
  email         text NOT NULL UNIQUE,
  display_name  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE org_members (
  org_id   text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id  text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role     text NOT NULL CHECK (role IN ('admin', 'member')),
  PRIMARY KEY (org_id, user_id)
);
