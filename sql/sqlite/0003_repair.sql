-- s3node metadata schema, version 3 (SQLite): self-healing (docs/metadata.md).
-- What the operator wants of each node apart from its health, when a node was
-- first found down, damaged files, the persistent repair queue and the
-- cluster-wide counters.  Timestamps: INTEGER microseconds since the Unix
-- epoch, UTC.

-- A node's health (state: active/down, the health checker's) and the
-- operator's intent (admin_state: active/draining/drained) are kept apart;
-- 'draining' is no longer a health state.  SQLite cannot change a CHECK in
-- place, so the table is rebuilt (nothing references it).  down_since: when
-- a health check first found the node down (NULL while it answers).
-- drain_replicas: the replica rows the node held when its drain started
-- (NULL: never drained).  A node draining before this migration keeps
-- draining (and answered health checks): its drain counts the replica rows
-- it holds now.
CREATE TABLE storage_nodes_0003 (
    id             TEXT    PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),
    address        TEXT    NOT NULL CHECK (length(address) BETWEEN 1 AND 300),
    weight         REAL    NOT NULL DEFAULT 1 CHECK (weight >= 0),
    zone           TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'down')),
    capacity       INTEGER CHECK (capacity >= 0),
    used           INTEGER CHECK (used >= 0),
    last_seen      INTEGER,
    admin_state    TEXT    NOT NULL DEFAULT 'active'
        CHECK (admin_state IN ('active', 'draining', 'drained')),
    down_since     INTEGER,
    drain_replicas INTEGER CHECK (drain_replicas >= 0)
);
INSERT INTO storage_nodes_0003 (id, address, weight, zone, state, capacity, used, last_seen,
                                admin_state, drain_replicas)
SELECT n.id, n.address, n.weight, n.zone,
       CASE WHEN n.state = 'draining' THEN 'active' ELSE n.state END,
       n.capacity, n.used, n.last_seen,
       CASE WHEN n.state = 'draining' THEN 'draining' ELSE 'active' END,
       CASE WHEN n.state = 'draining'
            THEN (SELECT count(*) FROM chunk_replicas r WHERE r.node_id = n.id) END
FROM storage_nodes n;
DROP TABLE storage_nodes;
ALTER TABLE storage_nodes_0003 RENAME TO storage_nodes;

-- Some chunk of the file has no readable replica left (downloads answer
-- file_damaged); cleared when a copy is recovered.
ALTER TABLE files ADD COLUMN damaged INTEGER NOT NULL DEFAULT 0 CHECK (damaged IN (0, 1));
-- The damaged files (few, or none): counted by durability_counts, listed by operators.
CREATE INDEX files_damaged_idx ON files (status, id) WHERE damaged;

-- The persistent repair queue: one entry per chunk the repair planner found
-- needing a copy (degraded, on a draining node, misplaced).  An entry goes
-- with its chunk (a deleted file's chunks take their entries along).
CREATE TABLE repair_queue (
    file_id     TEXT    NOT NULL,
    chunk_index INTEGER NOT NULL,
    reason      TEXT    NOT NULL CHECK (reason IN ('degraded', 'draining', 'misplaced')),
    -- healthy replicas when queued: fewer are repaired first
    priority    INTEGER NOT NULL,
    -- failed tries so far, and why the last one failed
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  TEXT,
    -- not tried before this time
    due_at      INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    PRIMARY KEY (file_id, chunk_index),
    FOREIGN KEY (file_id, chunk_index) REFERENCES chunks (file_id, chunk_index) ON DELETE CASCADE
) WITHOUT ROWID;
-- due_repairs: lowest priority first, then earliest due.
CREATE INDEX repair_queue_due_idx ON repair_queue (priority, due_at, file_id, chunk_index);

-- Cluster-wide counters (repairs done, corruptions found...), added to by
-- every gateway, read by each for its metrics.
CREATE TABLE cluster_counters (
    name  TEXT    PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    value INTEGER NOT NULL CHECK (value >= 0)
) WITHOUT ROWID;
