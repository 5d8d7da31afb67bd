-- s3node metadata schema, version 4 (SQLite): the S3 namespace (docs/s3.md).
-- Buckets, the keys that name completed files, and S3 access keys.
-- Text compares with the BINARY collation: byte order of the UTF-8, the
-- order S3 lists keys in.

CREATE TABLE buckets (
    name       TEXT    PRIMARY KEY NOT NULL
        CHECK (length(name) BETWEEN 3 AND 63 AND name NOT GLOB '*[^a-z0-9.-]*'),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per visible object: the completed file a bucket's key names now.
-- At most one per (bucket, key), and a file is named by one key at most.
-- Overwriting a key points its row at the new file in the transaction that
-- completes it (the old file moves to 'deleting' for the sweeper).
CREATE TABLE objects (
    bucket      TEXT    NOT NULL REFERENCES buckets (name),
    key         TEXT    NOT NULL CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 1024),
    file_id     TEXT    NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    etag        TEXT    NOT NULL CHECK (length(etag) BETWEEN 32 AND 38),
    -- the stored headers: a JSON array of [name, value] pairs
    headers     TEXT    NOT NULL DEFAULT '[]',
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

-- S3 access keys.  SigV4 derives its signing key from the secret itself, so
-- the secret is stored as it is (see docs/s3.md, "Access keys").
CREATE TABLE access_keys (
    id          TEXT    PRIMARY KEY NOT NULL
        CHECK (length(id) BETWEEN 16 AND 128 AND id NOT GLOB '*[^A-Za-z0-9]*'),
    secret      TEXT    NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),
    description TEXT    NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;
