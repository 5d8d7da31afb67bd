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

-- Multipart uploads under way: each part is a file of its own (completed,
-- named by no key); completing the upload moves the parts' chunk rows to the
-- object's new file without touching a byte (docs/s3.md, "Multipart").
CREATE TABLE multipart_uploads (
    id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    bucket       text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key          text COLLATE "C" NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 1024),
    content_type text        NOT NULL CHECK (length(content_type) <= 255),
    headers      text        NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL
);

-- ListMultipartUploads (by key, then age), and the sweeper's expiry (by age).
CREATE INDEX multipart_uploads_key_idx ON multipart_uploads (bucket, key, created_at, id);
CREATE INDEX multipart_uploads_created_idx ON multipart_uploads (created_at);

CREATE TABLE multipart_parts (
    upload_id   text COLLATE "C" NOT NULL REFERENCES multipart_uploads (id) ON DELETE CASCADE,
    part_number integer     NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    file_id     uuid        NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    etag        text        NOT NULL CHECK (etag ~ '^[0-9a-f]{32}$'),
    size        bigint      NOT NULL CHECK (size >= 0),
    modified_at timestamptz NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
