"""
The side-by-side benchmark's pure helpers (``bench/sbs_*.py``): statistics,
parsing, ratios; and the benches' credentials (``bench/bench_auth.py``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_auth import data_dir_auth
from sbs_client import BLOCK, parse_header, pattern_digest
from sbs_report import checks, report
from sbs_system import ProcessTree, median, percentile, rate_from_dd


def test_median_of_odd_and_even_counts_skips_missing_values() -> None:
    """The median is the middle value, or the mean of the middle two; ``None`` values are left out."""
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([None, 5.0]) == 5.0
    assert median([]) is None


def test_percentile_interpolates_between_ranks() -> None:
    """p50 of 1..4 is 2.5, p0 and p100 are the extremes."""
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile([], 50) is None


def test_rate_from_dd_reads_the_summary_line() -> None:
    """dd's last line gives bytes and seconds."""
    text = ("1024+0 records in\n1024+0 records out\n"
            "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.5 s, 429 MB/s\n")
    assert rate_from_dd(text) == 1073741824 / 2.5
    with pytest.raises(ValueError):
        rate_from_dd("dd: error writing")


def test_parse_header_splits_name_and_value() -> None:
    """A credentials header given on the command line becomes a (name, value) pair."""
    assert parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    for bad in ("no colon", ": empty name", " Lead: x"):
        with pytest.raises(ValueError):
            parse_header(bad)


def test_pattern_digest_is_the_digest_of_the_repeated_block() -> None:
    """The digest the client expects equals hashing the bytes it sends."""
    size = 2 * len(BLOCK) + 123
    sent = BLOCK * 2 + BLOCK[:123]
    assert pattern_digest(size, "sha256") == hashlib.sha256(sent).hexdigest()
    assert pattern_digest(size, "md5") == hashlib.md5(sent).hexdigest()


def test_process_tree_counts_this_process() -> None:
    """The tree of this process holds it, with CPU spent and RSS resident."""
    tree = ProcessTree([os.getpid()])
    assert os.getpid() in tree.pids()
    assert tree.cpu_seconds() > 0
    assert tree.rss_bytes() > 1024 * 1024
    assert tree.hwm_bytes() >= tree.rss_bytes() // 2


def _medians(r1: dict, swift: dict) -> dict:
    return {"ceilings": {"dd_MBps": 400.0}, "servers": {"s3node-r1": r1, "swift": swift}}


def test_checks_compare_ratios_with_the_goals() -> None:
    """A faster-than-goal figure is ok, a slower one missed, a missing one n/a."""
    found = {c["what"]: c for c in checks(_medians(
        {"big_put_MBps": 380.0, "big_get_MBps": 300.0, "small_put_p50_ms": 10.0},
        {"big_put_MBps": 300.0, "big_get_MBps": 300.0, "small_put_p50_ms": 20.0}))}
    assert found["1 GiB PUT r1 / dd conv=fdatasync"]["ok"] is True  # 0.95 >= 0.9
    assert found["1 GiB PUT r1 / Swift"]["ok"] is True
    assert found["1 GiB GET r1 / Swift"]["ok"] is False  # 1.0 < 1.5
    assert found["small PUT p50 r1 / Swift"]["ok"] is True  # 0.5 <= 1.0
    assert found["1 GiB PUT r2 / (dd / 2)"]["ok"] is None


def test_checks_take_a_labelled_server_when_it_is_the_only_one() -> None:
    """``s3node-r1@now`` (another checkout's) stands for ``s3node-r1``; two labels for none."""
    medians = {"ceilings": {"dd_MBps": 400.0},
               "servers": {"s3node-r1@now": {"big_put_MBps": 380.0},
                           "swift": {"big_put_MBps": 300.0}}}
    found = {c["what"]: c for c in checks(medians)}
    assert found["1 GiB PUT r1 / Swift"]["ratio"] == pytest.approx(380 / 300)
    medians["servers"]["s3node-r1@before"] = {"big_put_MBps": 200.0}
    assert {c["what"]: c for c in checks(medians)}["1 GiB PUT r1 / Swift"]["ok"] is None


def test_report_prints_every_server_and_every_check() -> None:
    """The report has a column per server and a line per check."""
    medians = _medians({"big_put_MBps": 100.0}, {"big_put_MBps": 200.0})
    args = SimpleNamespace(repeat=1, big=2**30, streams=8, stream_size=2**27, clients=16,
                           ops=10, small_size=4096)
    text, found = report(medians, args)
    assert "s3node-r1" in text and "swift" in text
    assert "0.50  (goal >= 1.0)  MISSED" in text
    assert len(found) == text.count("(goal ")


def test_markdown_has_a_column_per_server() -> None:
    """The Markdown table has one row per figure and the ceilings below it."""
    from sbs_report import ROWS, markdown

    text = markdown(_medians({"big_put_MBps": 100.0}, {"big_put_MBps": 200.0}))
    assert text.splitlines()[0] == "| figure | s3node-r1 | swift |"
    assert "| 1 GiB single stream PUT MB/s | 100 | 200 |" in text
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == len(ROWS) + 1
    assert "dd 400 MB/s" in text


def test_data_dir_auth_is_basic_with_the_saved_key(tmp_path: Path) -> None:
    """The key standalone saved in its data dir becomes HTTP Basic; no file, no header."""
    assert data_dir_auth(tmp_path) is None
    (tmp_path / "s3-credentials").write_text(
        "[default]\naws_access_key_id = S3NKEYKEYKEYKEYKEY1\n"
        "aws_secret_access_key = s3cr3t\n")
    expected = "Basic " + base64.b64encode(b"S3NKEYKEYKEYKEYKEY1:s3cr3t").decode()
    assert data_dir_auth(tmp_path) == expected
