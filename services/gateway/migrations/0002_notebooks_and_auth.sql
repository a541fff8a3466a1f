-- Sign-in: scrypt password hashes (salt and parameters inside the string).
CREATE TABLE user_credentials (
  user_id        text PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  password_hash  text NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Notebooks: metadata and access; the document itself lives in doc-sync.
CREATE TABLE notebooks (
  id           text PRIMARY KEY,
  org_id       text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  owner_id     text NOT NULL REFERENCES users(id),
  title        text NOT NULL,
  kernel_id    text NOT NULL UNIQUE,
  link_access  text NOT NULL DEFAULT 'none' CHECK (link_access IN ('none', 'view', 'edit')),
  link_token   text UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notebooks_org ON notebooks (org_id);

CREATE TABLE notebook_members (
  notebook_id  text NOT NULL REFERENCES notebooks(id) ON DELETE CASCADE,
  user_id      text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role         text NOT NULL CHECK (role IN ('editor', 'runner', 'viewer')),
  PRIMARY KEY (notebook_id, user_id)
);
CREATE INDEX notebook_members_user ON notebook_members (user_id);

-- Kernels started through the Jupyter Server–compatible API (not tied to an editor notebook).
CREATE TABLE jupyter_kernels (
  id          text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name        text NOT NULL DEFAULT 'python3',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jupyter_sessions (
  id          text PRIMARY KEY,
  kernel_id   text NOT NULL REFERENCES jupyter_kernels(id) ON DELETE CASCADE,
  org_id      text NOT NULL,
  user_id     text NOT NULL,
  path        text NOT NULL,
  name        text NOT NULL,
  type        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Invitations into an org: signing up with one joins that org instead of creating a new one.
CREATE TABLE org_invites (
  token       text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  created_by  text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL,
  used_by     text REFERENCES users(id)
);
