-- s3node metadata schema, version 3 (PostgreSQL): self-healing (docs/metadata.md).
-- What the operator wants of each node apart from its health, when a node was
-- first found down, damaged files, the persistent repair queue and the
-- cluster-wide counters.

-- A node's health (state: active/down, the health checker's) and the
-- operator's intent (admin_state: active/draining/drained) are kept apart;
-- 'draining' is no longer a health state.  down_since: when a health check
-- first found the node down (NULL while it answers).  drain_replicas: the
-- replica rows the node held when its drain started (NULL: never drained).
ALTER TABLE storage_nodes ADD COLUMN admin_state text NOT NULL DEFAULT 'active'
    CHECK (admin_state IN ('active', 'draining', 'drained'));
ALTER TABLE storage_nodes ADD COLUMN down_since timestamptz;
ALTER TABLE storage_nodes ADD COLUMN drain_replicas bigint CHECK (drain_replicas >= 0);
-- A node draining before this migration keeps draining (and answered health
-- checks): its drain counts the replica rows it holds now.
UPDATE storage_nodes n SET admin_state = 'draining', state = 'active',
    drain_replicas = (SELECT count(*) FROM chunk_replicas r WHERE r.node_id = n.id)
WHERE n.state = 'draining';
ALTER TABLE storage_nodes DROP CONSTRAINT storage_nodes_state_check;
ALTER TABLE storage_nodes ADD CONSTRAINT storage_nodes_state_check
    CHECK (state IN ('active', 'down'));

-- Some chunk of the file has no readable replica left (downloads answer
-- file_damaged); cleared when a copy is recovered.
ALTER TABLE files ADD COLUMN damaged boolean NOT NULL DEFAULT false;
-- The damaged files (few, or none): counted by durability_counts, listed by operators.
CREATE INDEX files_damaged_idx ON files (status, id) WHERE damaged;

-- The persistent repair queue: one entry per chunk the repair planner found
-- needing a copy (degraded, on a draining node, misplaced).  An entry goes
-- with its chunk (a deleted file's chunks take their entries along).
CREATE TABLE repair_queue (
    file_id     uuid        NOT NULL,
    chunk_index integer     NOT NULL,
    reason      text        NOT NULL CHECK (reason IN ('degraded', 'draining', 'misplaced')),
    -- healthy replicas when queued: fewer are repaired first
    priority    integer     NOT NULL,
    -- failed tries so far, and why the last one failed
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  text,
    -- not tried before this time
    due_at      timestamptz NOT NULL,
    enqueued_at timestamptz NOT NULL,
    PRIMARY KEY (file_id, chunk_index),
    FOREIGN KEY (file_id, chunk_index) REFERENCES chunks (file_id, chunk_index) ON DELETE CASCADE
);
-- due_repairs: lowest priority first, then earliest due.
CREATE INDEX repair_queue_due_idx ON repair_queue (priority, due_at, file_id, chunk_index);

-- Cluster-wide counters (repairs done, corruptions found...), added to by
-- every gateway, read by each for its metrics.
CREATE TABLE cluster_counters (
    name  text   PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
    value bigint NOT NULL CHECK (value >= 0)
);
