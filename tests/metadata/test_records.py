"""The pure helpers both backends share: timestamps, cursors, input checks, row folding."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3node.errors import InvalidRequest
from s3node.metadata import _records as r
from s3node.metadata import _rows
from s3node.records import ReplicaRecord, ReplicaState

moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)


@given(moments)
def test_micros_round_trip(moment: datetime) -> None:
    """Every UTC datetime survives the trip through integer microseconds exactly."""
    assert r.from_micros(r.to_micros(moment)) == moment


@given(moments, st.uuids())
def test_cursor_round_trip(moment: datetime, file_id: uuid.UUID) -> None:
    """A cursor decodes to the timestamp and id it was made from, and is URL-safe."""
    cursor = r.encode_cursor(moment, file_id)
    assert r.decode_cursor(cursor) == (r.to_micros(moment), file_id)
    assert cursor.replace("-", "").replace("_", "").isalnum()


def test_check_aware_converts_to_utc() -> None:
    """Aware datetimes in other zones become UTC; naive ones are refused."""
    plus2 = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert r.check_aware(plus2, "t") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        r.check_aware(datetime(2026, 1, 1), "t")


def test_chunks_from_rows_folds_replicas() -> None:
    """Joined chunk/replica rows fold into chunk records, a chunk without replicas included."""
    fid = uuid.uuid4()
    rows = [
        (str(fid), 0, "a" * 32, 5, "sha256", b"\x01", "n1", "stored"),
        (str(fid), 0, "a" * 32, 5, "sha256", b"\x01", "n2", "missing"),
        (str(fid), 1, "b" * 32, 6, "sha256", memoryview(b"\x02"), None, None),
    ]
    chunks = _rows.chunks_from_rows(rows)[fid]
    assert [c.index for c in chunks] == [0, 1]
    assert chunks[0].replicas == (
        ReplicaRecord("n1", ReplicaState.STORED), ReplicaRecord("n2", ReplicaState.MISSING)
    )
    assert chunks[1].replicas == () and chunks[1].checksum == "02"


def test_importing_the_package_stays_light() -> None:
    """Importing s3node.metadata (as s3node.interfaces does) loads neither Twisted nor a driver."""
    code = (
        "import sys, s3node.interfaces, s3node.metadata; "
        "print(sorted(m for m in ('twisted', 'psycopg2', 'txpostgres', 'sqlite3') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
