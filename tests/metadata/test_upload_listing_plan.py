"""
ListMultipartUploads' page query on the SQL backends is a seek of the
``(bucket, key, id)`` index in its order (migration 0007): a page deep in the
listing costs what the first does (no sort, no offset).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import pytest_twisted

from s3node.interfaces import MetadataStore
from s3node.metadata._listing import Bound, range_sql
from s3node.metadata._objects import UPLOAD_COLUMNS

pytestmark = pytest.mark.sql_only  # query plans: the memory store has none

INDEX = "multipart_uploads_key_id_idx"


def _page_sql(mark: str, lower: Bound) -> tuple[str, list[Any]]:
    """The statement the backends send for a page from ``lower`` (as in their ``fetch``)."""
    clauses, args = range_sql(lower, "z", mark=mark, tail_column="id")
    sql = (f"SELECT {UPLOAD_COLUMNS} FROM multipart_uploads"
           f" WHERE {' AND '.join([f'bucket = {mark}', *clauses])}"
           f" ORDER BY key, id LIMIT {mark}")
    return sql, ["mpu", *args, 1000]


def _plan(backend: str, url: str, lower: Bound) -> str:
    if backend == "sqlite":
        sql, args = _page_sql("?", lower)
        conn = sqlite3.connect(url.removeprefix("sqlite:"))
        try:
            return " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        finally:
            conn.close()
    import psycopg2

    sql, args = _page_sql("%s", lower)
    pg = psycopg2.connect(url)
    try:
        with pg.cursor() as cur:
            cur.execute("SET enable_seqscan = off")  # an empty table: ask what it can do
            cur.execute(f"EXPLAIN {sql}", args)
            return " ".join(row[0] for row in cur.fetchall())
    finally:
        pg.close()


@pytest_twisted.ensureDeferred
async def test_upload_pages_seek_the_key_id_index(store: MetadataStore, backend: str,
                                                  db_url: str) -> None:
    """From a key and upload id, or from a key alone, the page reads the index in order."""
    await store.create_bucket("mpu")
    for lower in (Bound("same/key", tail="0" * 32), Bound("dir/", inclusive=True),
                  Bound("a", inclusive=False)):
        plan = _plan(backend, db_url, lower)
        assert INDEX in plan, plan
        assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
        assert "Filter" not in plan, plan  # every bound is an index condition
