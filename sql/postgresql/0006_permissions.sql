-- Issue 11: what each access key may do (docs/security.md, "Permissions").
-- admin: everything (nodes, keys, the durability view, every bucket and /files).
-- grants: a user key's grants, space-separated PERM:SCOPE with PERM r, w or rw and
-- SCOPE '*' (every bucket), '/files' (the REST namespace) or a bucket name,
-- e.g. 'rw:/files r:photos'.  revoked_at now means "disabled" (enable clears it).
ALTER TABLE access_keys ADD COLUMN admin boolean NOT NULL DEFAULT false;
ALTER TABLE access_keys ADD COLUMN grants text NOT NULL DEFAULT ''
    CHECK (length(grants) <= 8000);
-- keys made before permissions existed could do everything: they stay admin
UPDATE access_keys SET admin = true;
