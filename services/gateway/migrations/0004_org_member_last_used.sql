-- Which org a person used last (switching, joining, signing in there): a plain sign-in lands there again.
-- Per membership, so leaving an org forgets it with the row; NULL (older rows) sorts after any use.
ALTER TABLE org_members ADD COLUMN last_used_at timestamptz;
CREATE INDEX org_members_user_last_used ON org_members (user_id, last_used_at DESC NULLS LAST);
