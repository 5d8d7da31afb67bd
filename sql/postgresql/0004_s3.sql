-- s3node metadata schema, version 4 (PostgreSQL): the S3 namespace (docs/s3.md).
-- Buckets, the keys that name completed files, and S3 access keys.
-- Names and keys are collated "C": byte order, the order S3 lists keys in,
-- whatever the database's locale.

CREATE TABLE buckets (
    name       text COLLATE "C" PRIMARY KEY
        CHECK (name ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'),
    created_at timestamptz NOT NULL
);

-- One row per visible object: the completed file a bucket's key names now.
-- At most one per (bucket, key), and a file is named by one key at most.
-- Overwriting a key points its row at the new file in the transaction that
-- completes it (the old file moves to 'deleting' for the sweeper).
CREATE TABLE objects (
    bucket      text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key         text COLLATE "C" NOT NULL
        CHECK (octet_length(key) BETWEEN 1 AND 1024),
    file_id     uuid        NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    etag        text        NOT NULL CHECK (etag ~ '^[0-9a-f]{32}(-[0-9]{1,5})?$'),
    -- the stored headers: a JSON array of [name, value] pairs
    headers     text        NOT NULL DEFAULT '[]',
    modified_at timestamptz NOT NULL,
    PRIMARY KEY (bucket, key)
);

-- S3 access keys.  SigV4 derives its signing key from the secret itself, so
-- the secret is stored as it is (see docs/s3.md, "Access keys").
CREATE TABLE access_keys (
    id          text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9]{16,128}$'),
    secret      text        NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
