-- s3node metadata schema, version 2 (PostgreSQL): durability (docs/durability.md).
-- The sweeper's retries, the reconciler's walk of a node's replicas, and the
-- leases that let one gateway at a time run the background workers.

-- When the sweeper next tries a failed or deleting file (NULL: as soon as it
-- failed or was deleted), and how many of its sweeps left replicas behind.
ALTER TABLE files ADD COLUMN sweep_after timestamptz;
ALTER TABLE files ADD COLUMN sweep_attempts integer NOT NULL DEFAULT 0
    CHECK (sweep_attempts >= 0);

-- files_to_sweep: the failed and deleting files, earliest due first.
CREATE INDEX files_sweep_idx ON files ((coalesce(sweep_after, updated_at)), updated_at, id)
    WHERE status IN ('failed', 'deleting');

-- Each replica's chunk id, copied from its chunk when the row is written
-- (a chunk row never changes), so that a node's replicas are read in chunk id
-- order straight from an index (node_replicas) and found by the id a node
-- reports (set_replica_state_by_chunk).  Collated "C": byte order, the order
-- in which the nodes list their chunks, whatever the database's locale.
ALTER TABLE chunk_replicas ADD COLUMN chunk_id text COLLATE "C";
UPDATE chunk_replicas r SET chunk_id = c.chunk_id
FROM chunks c
WHERE c.file_id = r.file_id AND c.chunk_index = r.chunk_index;
ALTER TABLE chunk_replicas ALTER COLUMN chunk_id SET NOT NULL;
CREATE INDEX chunk_replicas_node_chunk_idx
    ON chunk_replicas (node_id, chunk_id, file_id, chunk_index);

-- One row per lease (e.g. 'background'): who holds it and until when.
CREATE TABLE leases (
    name       text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
    holder     text        NOT NULL CHECK (length(holder) BETWEEN 1 AND 255),
    expires_at timestamptz NOT NULL
);
