"""
PostgreSQL compares chunk ids byte by byte, as the storage nodes list them,
even in a database whose default collation is a locale's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import pytest_twisted
from support.metadata import spread_over_nodes
from support.postgres import PostgresCluster
from twisted.internet import reactor

from s3node.metadata import open_metadata_store
from s3node.records import ReplicaState

pytestmark = pytest.mark.postgresql


@pytest.fixture
def icu_db(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database whose default collation is ICU's en-US; its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = postgres_cluster.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0'
                " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            )
    finally:
        conn.close()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest_twisted.ensureDeferred
async def test_node_replicas_is_byte_ordered_under_a_locale(
    icu_db: str, postgres_cluster: PostgresCluster
) -> None:
    """
    In an en-US database, where "F" sorts between "e0" and "f0", node_replicas after "F"
    still returns every id starting with a to f, and pages in byte order.
    """
    conn = postgres_cluster.connect(icu_db.rsplit("/", 1)[1])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 'e0' < 'F' AND 'F' < 'f0'")
            assert cur.fetchone() == (True,)  # the locale really is not byte order
    finally:
        conn.close()
    store = open_metadata_store(icu_db, reactor=reactor)
    try:
        await store.migrate()
        ids, _, _ = await spread_over_nodes(store)
        letters = await store.node_replicas(node_id="n1", after="F", upto=None, limit=10)
        assert [r.chunk_id for r in letters] == [i for i in ids if i[0] in "abcdef"]
        walked, after = [], ""
        while page := await store.node_replicas(node_id="n1", after=after, upto=None, limit=2):
            walked += [r.chunk_id for r in page]
            after = page[-1].chunk_id
        assert walked == ids
        changed = await store.set_replica_state_by_chunk(
            chunk_id="a" * 32, node_id="n1", state=ReplicaState.MISSING
        )
        assert changed == 1
    finally:
        await store.close()
