-- Invitations name the person they are for (optional) and the role they join with; used_at for the members page.
ALTER TABLE org_invites ADD COLUMN email text;
ALTER TABLE org_invites ADD COLUMN role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member'));
ALTER TABLE org_invites ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE org_invites ADD COLUMN used_at timestamptz;
CREATE INDEX org_invites_pending ON org_invites (org_id) WHERE used_by IS NULL;
