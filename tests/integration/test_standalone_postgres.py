"""``twistd -n s3node standalone --db postgresql://...``: one machine, metadata in PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
import pytest_twisted
from integration.conftest import CHUNK, GATEWAY_READY, TIMEOUT
from integration.e2e_client import MiB, get_hash, get_json, post_bytes
from support.postgres import PostgresCluster, require_postgres
from support.processes import start_twistd
from twisted.internet.threads import deferToThread

pytestmark = [pytest.mark.integration, pytest.mark.postgresql]


@pytest_twisted.ensureDeferred
async def test_standalone_keeps_its_metadata_in_postgresql(tmp_path):
    """
    Standalone with ``--db postgresql://...`` stores a file across its nodes,
    records it in that database (no SQLite file is created), serves it back
    byte-exact, and finds it again after a restart.
    """
    pg = PostgresCluster(require_postgres())
    proc = None
    try:
        await deferToThread(pg.start)
        db = pg.create_database("s3node_standalone")
        data_dir = tmp_path / "data"
        argv = ["s3node", "standalone", "--data-dir", str(data_dir), "--db", db,
                "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", CHUNK,
                "--s3-listen", "none", "--no-fsync"]

        def start():
            return start_twistd(argv, cwd=tmp_path, ready_pattern=GATEWAY_READY,
                                timeout=TIMEOUT)

        proc = await deferToThread(start)
        data = hashlib.sha512(b"standalone-pg").digest() * (3 * MiB // 64 + 1)
        code, reply = await post_bytes(f"http://127.0.0.1:{proc.port}", data)
        assert code == 201, reply
        assert reply["chunk_count"] == 4
        assert not (data_dir / "metadata.sqlite3").exists()
        conn = pg.connect("s3node_standalone")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT status FROM files WHERE id = %s", (reply["file_id"],))
                assert cur.fetchall() == [("completed",)]
        finally:
            conn.close()

        await deferToThread(proc.stop)
        proc = await deferToThread(start)
        url = f"http://127.0.0.1:{proc.port}/files/{reply['file_id']}"
        code, digest, size = await get_hash(url)
        assert (code, size) == (200, len(data))
        assert digest == hashlib.sha256(data).hexdigest()
        code, meta = await get_json(url + "/metadata")
        assert code == 200 and meta["status"] == "completed"
    finally:
        if proc is not None:
            await deferToThread(proc.stop)
        await deferToThread(pg.cleanup)
