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

-- Multipart uploads under way: each part is a file of its own (completed,
-- named by no key); completing the upload moves the parts' chunk rows to the
-- object's new file without touching a byte (docs/s3.md, "Multipart").
CREATE TABLE multipart_uploads (
    id           TEXT    PRIMARY KEY NOT NULL
        CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    bucket       TEXT    NOT NULL REFERENCES buckets (name),
    key          TEXT    NOT NULL CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 1024),
    content_type TEXT    NOT NULL CHECK (length(content_type) <= 255),
    headers      TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- ListMultipartUploads (by key, then age), and the sweeper's expiry (by age).
CREATE INDEX multipart_uploads_key_idx ON multipart_uploads (bucket, key, created_at, id);
CREATE INDEX multipart_uploads_created_idx ON multipart_uploads (created_at);

CREATE TABLE multipart_parts (
    upload_id   TEXT    NOT NULL REFERENCES multipart_uploads (id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    file_id     TEXT    NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    etag        TEXT    NOT NULL CHECK (length(etag) = 32),
    size        INTEGER NOT NULL CHECK (size >= 0),
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
