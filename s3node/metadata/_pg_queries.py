"""The larger SQL statements of :mod:`s3node.metadata.postgres` (PostgreSQL dialect)."""

FILE = (
    "f.id::text, f.filename, f.content_type, f.size, f.checksum_algorithm, f.checksum,"
    " f.chunk_size, f.status, f.created_at, f.updated_at"
)
CHUNKS_OF = (
    "SELECT c.file_id::text, c.chunk_index, c.chunk_id, c.size, c.checksum_algorithm,"
    " c.checksum, r.node_id, r.state"
    " FROM chunks c LEFT JOIN chunk_replicas r"
    " ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index"
)
RECORD_CHUNK = """
WITH f AS (
    UPDATE files SET updated_at = %(now)s, status = 'uploading'
    WHERE id = %(file_id)s::uuid AND status IN ('pending', 'uploading')
    RETURNING id
), c AS (
    INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm, checksum)
    SELECT id, %(index)s, %(chunk_id)s, %(size)s, %(algorithm)s, %(checksum)s FROM f
    ON CONFLICT (file_id, chunk_index) DO NOTHING
    RETURNING file_id, chunk_index
), rep AS (
    INSERT INTO chunk_replicas (file_id, chunk_index, node_id, state, updated_at)
    SELECT c.file_id, c.chunk_index, n.node_id, n.state, %(now)s
    FROM c, unnest(%(nodes)s::text[], %(states)s::text[]) AS n (node_id, state)
    RETURNING 1
)
SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM c), (SELECT count(*) FROM rep)
"""
UPSERT_REPLICA = (
    "INSERT INTO chunk_replicas (file_id, chunk_index, node_id, state, updated_at)"
    " VALUES (%s::uuid, %s, %s, %s, %s)"
    " ON CONFLICT (file_id, chunk_index, node_id)"
    " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
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
UNDER_REPLICATED = """
SELECT c.file_id::text, c.chunk_index
FROM files f
JOIN chunks c ON c.file_id = f.id
LEFT JOIN chunk_replicas r
  ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index AND r.state = 'stored'
WHERE f.status = 'completed'
GROUP BY c.file_id, c.chunk_index
HAVING count(r.node_id) < %s
ORDER BY c.file_id, c.chunk_index
LIMIT %s
"""
