"""
The larger SQL statements of :mod:`s3node.metadata.sqlite` (SQLite dialect),
and the small helpers its modules share.
"""

from __future__ import annotations

from s3node.metadata._rows import STORED_PER_CHUNK
from s3node.metadata._sqlite_db import Connection

# unqualified: SQLite's RETURNING takes no table alias
FILE = (
    "id, filename, content_type, size, checksum_algorithm, checksum,"
    " chunk_size, status, created_at, updated_at, damaged"
)
CHUNKS_OF = (
    "SELECT c.file_id, c.chunk_index, c.chunk_id, c.size, c.checksum_algorithm,"
    " c.checksum, r.node_id, r.state"
    " FROM chunks c LEFT JOIN chunk_replicas r"
    " ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index"
)
# the replica's chunk id is copied from its chunk row; no chunk row, no insert
UPSERT_REPLICA = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state, updated_at)"
    " SELECT c.file_id, c.chunk_index, c.chunk_id, :node, :state, :now FROM chunks c"
    " WHERE c.file_id = :file_id AND c.chunk_index = :index"
    " ON CONFLICT (file_id, chunk_index, node_id)"
    " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
)
COMPLETE_CHECK = """
SELECT count(*), coalesce(sum(size), 0), coalesce(max(chunk_index), -1),
       coalesce(sum(stored < ?), 0), min(stored)
FROM (
    SELECT c.chunk_index, c.size,
           (SELECT count(*) FROM chunk_replicas r
            WHERE r.file_id = c.file_id AND r.chunk_index = c.chunk_index
              AND r.state = 'stored') AS stored
    FROM chunks c WHERE c.file_id = ?
)
"""
UNDER_REPLICATED = f"""
SELECT c.file_id, c.chunk_index {STORED_PER_CHUNK}
HAVING count(r.node_id) < ?
ORDER BY c.file_id, c.chunk_index
LIMIT ?
"""
# one statement: the oldest stale uploads become failed, due for sweeping now
CLAIM_STALE = """
UPDATE files SET status = 'failed', updated_at = :now, sweep_after = :now
WHERE id IN (
    SELECT id FROM files
    WHERE status IN ('pending', 'uploading') AND updated_at < :before
    ORDER BY updated_at, id
    LIMIT :limit
)
"""
# the partial index files_sweep_idx serves this order
DUE_FILES = f"""
SELECT {FILE}, sweep_attempts FROM files f
WHERE f.status IN ('failed', 'deleting') AND (f.sweep_after IS NULL OR f.sweep_after <= ?)
ORDER BY coalesce(f.sweep_after, f.updated_at), f.updated_at, f.id
LIMIT ?
"""
# taken when free, expired, or already ours; else nothing changes (0 rows)
TRY_LEASE = """
INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= :now
"""

# down_since follows state: kept (or set to now) while down, cleared when active
UPDATE_HEALTH = """
UPDATE storage_nodes SET state = :state, capacity = coalesce(:capacity, capacity),
    used = coalesce(:used, used), last_seen = coalesce(:seen, last_seen),
    down_since = CASE WHEN :state = 'down' THEN coalesce(down_since, :now) END
WHERE id = :node
"""
# the replica rows on a node (chunk_replicas_node_idx) and their chunks' bytes
NODE_USAGE = """
SELECT count(*), coalesce(sum(c.size), 0)
FROM chunk_replicas r JOIN chunks c ON c.file_id = r.file_id AND c.chunk_index = r.chunk_index
WHERE r.node_id = ?
"""


def status_of(conn: Connection, file_id: str) -> str | None:
    """The status of file ``file_id``; ``None`` when there is no such file."""
    row = conn.execute("SELECT status FROM files WHERE id = ?", (file_id,)).fetchone()
    return None if row is None else str(row[0])


def marks(n: int) -> str:
    """``n`` comma-separated ``?`` placeholders."""
    return ", ".join("?" * n)
