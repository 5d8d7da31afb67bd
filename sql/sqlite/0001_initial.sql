-- s3node metadata schema, version 1 (SQLite).
-- Applied by s3node.metadata.migrations inside one BEGIN IMMEDIATE
-- transaction; recorded in s3node_schema_version.
--
-- Types: ids are canonical lowercase UUID text; digests are BLOBs;
-- timestamps are INTEGER microseconds since the Unix epoch, UTC.

-- One row per file (one upload).
CREATE TABLE files (
    id                 TEXT    PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    filename           TEXT    NOT NULL CHECK (length(filename) BETWEEN 1 AND 1024),
    content_type       TEXT    NOT NULL CHECK (length(content_type) <= 255),
    size               INTEGER CHECK (size >= 0),
    checksum_algorithm TEXT    NOT NULL CHECK (length(checksum_algorithm) BETWEEN 1 AND 64),
    checksum           BLOB,
    chunk_size         INTEGER NOT NULL CHECK (chunk_size > 0),
    status             TEXT    NOT NULL
        CHECK (status IN ('pending', 'uploading', 'completed', 'failed', 'deleting')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CHECK (status <> 'completed' OR (size IS NOT NULL AND checksum IS NOT NULL))
);

CREATE INDEX files_status_created_idx ON files (status, created_at DESC, id DESC);
CREATE INDEX files_created_idx ON files (created_at DESC, id DESC);
CREATE INDEX files_status_updated_idx ON files (status, updated_at);

CREATE TABLE chunks (
    file_id            TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    chunk_index        INTEGER NOT NULL CHECK (chunk_index >= 0),
    chunk_id           TEXT    NOT NULL
        CHECK (length(chunk_id) BETWEEN 32 AND 64 AND chunk_id NOT GLOB '*[^0-9a-f]*'),
    size               INTEGER NOT NULL CHECK (size >= 0),
    checksum_algorithm TEXT    NOT NULL CHECK (length(checksum_algorithm) BETWEEN 1 AND 64),
    checksum           BLOB    NOT NULL,
    PRIMARY KEY (file_id, chunk_index)
) WITHOUT ROWID;

CREATE INDEX chunks_chunk_id_idx ON chunks (chunk_id);

CREATE TABLE chunk_replicas (
    file_id     TEXT    NOT NULL,
    chunk_index INTEGER NOT NULL,
    node_id     TEXT    NOT NULL CHECK (length(node_id) BETWEEN 1 AND 63),
    state       TEXT    NOT NULL CHECK (state IN ('writing', 'stored', 'missing', 'corrupt')),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (file_id, chunk_index, node_id),
    FOREIGN KEY (file_id, chunk_index) REFERENCES chunks (file_id, chunk_index) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX chunk_replicas_node_idx ON chunk_replicas (node_id, state);

CREATE TABLE storage_nodes (
    id        TEXT    PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),
    address   TEXT    NOT NULL CHECK (length(address) BETWEEN 1 AND 300),
    weight    REAL    NOT NULL DEFAULT 1 CHECK (weight >= 0),
    zone      TEXT    NOT NULL DEFAULT '',
    state     TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'down')),
    capacity  INTEGER CHECK (capacity >= 0),
    used      INTEGER CHECK (used >= 0),
    last_seen INTEGER
);
