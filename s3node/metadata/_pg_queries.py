"""The larger SQL statements of :mod:`s3node.metadata.postgres` (PostgreSQL dialect)."""

from s3node.metadata._rows import STORED_PER_CHUNK

FILE = (
    "f.id::text, f.filename, f.content_type, f.size, f.checksum_algorithm, f.checksum,"
    " f.chunk_size, f.status, f.created_at, f.updated_at, f.damaged"
)
CHUNKS_OF = (
    "SELECT c.file_id::text, c.chunk_index, c.chunk_id, c.size, c.checksum_algorithm,"
    " c.checksum, r.node_id, r.state"
    " FROM chunks c LEFT JOIN chunk_replicas r"
    " ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index"
)
_NEW_FILE = (
    "INSERT INTO files AS f (id, filename, content_type, checksum_algorithm, chunk_size,"
    " status, created_at, updated_at) VALUES (%(file_id)s::uuid, %(filename)s,"
    " %(content_type)s, %(file_algorithm)s, %(chunk_size)s, 'uploading', %(now)s, %(now)s)"
)
CREATE_FILE = f"{_NEW_FILE} RETURNING {FILE}"
# a chunk's row for the file row of the CTE ``f`` (none without one), and its
# replicas' rows for each chunk row of the CTE ``c``
_INSERT_CHUNK = (
    "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm, checksum)"
    " SELECT id, %(index)s, %(chunk_id)s, %(size)s, %(algorithm)s, %(checksum)s FROM f"
)
_INSERT_REPLICAS = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state, updated_at)"
    " SELECT c.file_id, c.chunk_index, %(chunk_id)s, n.node_id, n.state, %(now)s"
    " FROM c, unnest(%(nodes)s::text[], %(states)s::text[]) AS n (node_id, state)"
)
# the file, its first chunk and the chunk's replicas in one statement (the foreign
# keys are checked at its end); the parameters are RECORD_CHUNK's and the file's
CREATE_FILE_WITH_CHUNK = f"""
WITH f AS (
    {_NEW_FILE} RETURNING *
), c AS (
    {_INSERT_CHUNK}
    RETURNING file_id, chunk_index
), rep AS (
    {_INSERT_REPLICAS}
)
SELECT {FILE} FROM f
"""
RECORD_CHUNK = f"""
WITH f AS (
    UPDATE files SET updated_at = %(now)s, status = 'uploading'
    WHERE id = %(file_id)s::uuid AND status IN ('pending', 'uploading')
    RETURNING id
), c AS (
    {_INSERT_CHUNK}
    ON CONFLICT (file_id, chunk_index) DO NOTHING
    RETURNING file_id, chunk_index
), rep AS (
    {_INSERT_REPLICAS}
    RETURNING 1
)
SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM c), (SELECT count(*) FROM rep)
"""
# the replica's chunk id is copied from its chunk row; no chunk row, no row returned
UPSERT_REPLICA = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state, updated_at)"
    " SELECT c.file_id, c.chunk_index, c.chunk_id, %(node)s, %(state)s, %(now)s FROM chunks c"
    " WHERE c.file_id = %(file_id)s::uuid AND c.chunk_index = %(index)s"
    " ON CONFLICT (file_id, chunk_index, node_id)"
    " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
    " RETURNING 1"
)
#: :data:`UPSERT_REPLICA` for many (index, node) pairs of one file in one statement (a
#: completing upload's replicas: one round trip however many chunks); each pair once
UPSERT_REPLICAS = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state, updated_at)"
    " SELECT c.file_id, c.chunk_index, c.chunk_id, t.node, %(state)s, %(now)s"
    " FROM unnest(%(indexes)s::integer[], %(nodes)s::text[]) AS t(chunk_index, node)"
    " JOIN chunks c ON c.file_id = %(file_id)s::uuid AND c.chunk_index = t.chunk_index"
    " ON CONFLICT (file_id, chunk_index, node_id)"
    " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
    " RETURNING chunk_index"
)
COMPLETE_CHECK = """
SELECT count(*), coalesce(sum(size), 0), coalesce(max(chunk_index), -1),
       count(*) FILTER (WHERE stored < %(replicas)s), min(stored)
FROM (
    SELECT c.chunk_index, c.size,
           (SELECT count(*) FROM chunk_replicas r
            WHERE r.file_id = c.file_id AND r.chunk_index = c.chunk_index
              AND r.state = 'stored') AS stored
    FROM chunks c WHERE c.file_id = %(file_id)s::uuid
) s
"""
UNDER_REPLICATED = f"""
SELECT c.file_id::text, c.chunk_index {STORED_PER_CHUNK}
HAVING count(r.node_id) < %s
ORDER BY c.file_id, c.chunk_index
LIMIT %s
"""
# One statement: the oldest stale uploads become failed, due for sweeping now.
# FOR UPDATE re-reads a row a touch_file or record_chunk changed meanwhile (its
# new updated_at no longer matches) and SKIP LOCKED passes over a row one is
# changing right now: an upload that shows a sign of life is never claimed.
# MATERIALIZED: the pick runs once (an IN (subquery) may be rescanned and, with
# SKIP LOCKED, pick other rows the second time, claiming more than the limit).
CLAIM_STALE = """
WITH picked AS MATERIALIZED (
    SELECT id FROM files
    WHERE status IN ('pending', 'uploading') AND updated_at < %(before)s
    ORDER BY updated_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE files f SET status = 'failed', updated_at = %(now)s, sweep_after = %(now)s
    FROM picked
    WHERE f.id = picked.id AND f.status IN ('pending', 'uploading')
      AND f.updated_at < %(before)s
    RETURNING 1
)
SELECT count(*) FROM moved
"""
# the partial index files_sweep_idx serves this order
DUE_FILES = f"""
SELECT {FILE}, f.sweep_attempts FROM files f
WHERE f.status IN ('failed', 'deleting') AND (f.sweep_after IS NULL OR f.sweep_after <= %s)
ORDER BY coalesce(f.sweep_after, f.updated_at), f.updated_at, f.id
LIMIT %s
"""
# Taken when free, expired, or already ours.  ON CONFLICT locks the row and
# re-checks the condition, so of several gateways trying at once one wins.
TRY_LEASE = """
INSERT INTO leases AS l (name, holder, expires_at) VALUES (%(name)s, %(holder)s, %(until)s)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE l.holder = excluded.holder OR l.expires_at <= %(now)s
RETURNING 1
"""
