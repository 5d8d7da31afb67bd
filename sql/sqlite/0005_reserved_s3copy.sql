-- A placeholder for migration 0005, which the s3copy branch (CopyObject and chunk
-- sharing) adds: the runner needs numbers without gaps, and the auth branch's
-- 0006_permissions.sql comes after it.  Delete this file when s3copy's 0005 is merged.
SELECT 1;
