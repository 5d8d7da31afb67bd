-- s3node metadata schema, version 1 (PostgreSQL).
-- Applied by s3node.metadata.migrations inside one transaction holding an
-- advisory lock; recorded in s3node_schema_version.

-- One row per file (one upload).  bucket/object-key columns arrive in a later
-- migration: nothing here makes filename unique or a key.
CREATE TABLE files (
    id                 uuid        PRIMARY KEY,
    filename           text        NOT NULL CHECK (length(filename) BETWEEN 1 AND 1024),
    content_type       text        NOT NULL CHECK (length(content_type) <= 255),
    size               bigint      CHECK (size >= 0),
    checksum_algorithm text        NOT NULL CHECK (length(checksum_algorithm) BETWEEN 1 AND 64),
    checksum           bytea,
    chunk_size         bigint      NOT NULL CHECK (chunk_size > 0),
    status             text        NOT NULL
        CHECK (status IN ('pending', 'uploading', 'completed', 'failed', 'deleting')),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    -- a completed file always has its size and checksum
    CHECK (status <> 'completed' OR (size IS NOT NULL AND checksum IS NOT NULL))
);

-- Listing newest first, filtered by status (numbered and keyset pages).
CREATE INDEX files_status_created_idx ON files (status, created_at DESC, id DESC);
-- Listing newest first, all statuses.
CREATE INDEX files_created_idx ON files (created_at DESC, id DESC);
-- The sweeper: failed/deleting files, and uploads not touched since a time.
CREATE INDEX files_status_updated_idx ON files (status, updated_at);

-- One row per chunk of a file.
CREATE TABLE chunks (
    file_id            uuid    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    chunk_index        integer NOT NULL CHECK (chunk_index >= 0),
    chunk_id           text    NOT NULL CHECK (chunk_id ~ '^[0-9a-f]{32,64}$'),
    size               bigint  NOT NULL CHECK (size >= 0),
    checksum_algorithm text    NOT NULL CHECK (length(checksum_algorithm) BETWEEN 1 AND 64),
    checksum           bytea   NOT NULL,
    PRIMARY KEY (file_id, chunk_index)
);

-- Which files use a chunk id (operators; content-addressed reuse).
CREATE INDEX chunks_chunk_id_idx ON chunks (chunk_id);

-- One row per replica of a chunk on a storage node.
CREATE TABLE chunk_replicas (
    file_id     uuid        NOT NULL,
    chunk_index integer     NOT NULL,
    node_id     text        NOT NULL CHECK (length(node_id) BETWEEN 1 AND 63),
    state       text        NOT NULL CHECK (state IN ('writing', 'stored', 'missing', 'corrupt')),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (file_id, chunk_index, node_id),
    FOREIGN KEY (file_id, chunk_index) REFERENCES chunks (file_id, chunk_index) ON DELETE CASCADE
);

-- Replicas held by a node (draining, repair, "files per node").
CREATE INDEX chunk_replicas_node_idx ON chunk_replicas (node_id, state);

-- The storage nodes the gateways know.
CREATE TABLE storage_nodes (
    id        text             PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63),
    address   text             NOT NULL CHECK (length(address) BETWEEN 1 AND 300),
    weight    double precision NOT NULL DEFAULT 1 CHECK (weight >= 0),
    zone      text             NOT NULL DEFAULT '',
    state     text             NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'draining', 'down')),
    capacity  bigint           CHECK (capacity >= 0),
    used      bigint           CHECK (used >= 0),
    last_seen timestamptz
);
