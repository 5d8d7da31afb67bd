"""The larger SQL statements of :mod:`s3node.metadata.sqlite` (SQLite dialect)."""

# unqualified: SQLite's RETURNING takes no table alias
FILE = (
    "id, filename, content_type, size, checksum_algorithm, checksum,"
    " chunk_size, status, created_at, updated_at"
)
CHUNKS_OF = (
    "SELECT c.file_id, c.chunk_index, c.chunk_id, c.size, c.checksum_algorithm,"
    " c.checksum, r.node_id, r.state"
    " FROM chunks c LEFT JOIN chunk_replicas r"
    " ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index"
)
UPSERT_REPLICA = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, node_id, state, updated_at)"
    " VALUES (?, ?, ?, ?, ?)"
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
UNDER_REPLICATED = """
SELECT c.file_id, c.chunk_index
FROM files f
JOIN chunks c ON c.file_id = f.id
LEFT JOIN chunk_replicas r
  ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index AND r.state = 'stored'
WHERE f.status = 'completed'
GROUP BY c.file_id, c.chunk_index
HAVING count(r.node_id) < ?
ORDER BY c.file_id, c.chunk_index
LIMIT ?
"""
