"""Progress bars on a terminal and nowhere else; flat memory for large transfers."""

from __future__ import annotations

import re
from pathlib import Path

from cli.cli_run import MiB, run_s3node, run_s3node_in_pty, run_s3node_measured, write_pattern

#: tqdm's closing figures: ``2.00M/2.00M [00:00<00:00, 9.87MB/s]`` (bytes, ETA, speed)
FINISHED_BAR = r"100%\|[^|\r\n]*\| *{size}/{size} \[\d\d:\d\d<\d\d:\d\d, +[\d.]+[kMG]?B/s\]"


def test_put_and_get_draw_bars_on_a_terminal(standalone_url: str, tmp_path: Path) -> None:
    """With stderr on a terminal, `put` of two files draws a bar for each file and a total bar,
    ending at 100% with size, speed and ETA; `get` draws one for the download; stdout still
    carries only the ids."""
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    write_pattern(first, 2 * MiB, seed=10)
    write_pattern(second, 2 * MiB, seed=11)

    put, screen = run_s3node_in_pty("put", str(first), str(second), url=standalone_url)
    assert put.code == 0, screen
    ids = put.stdout.split()
    assert len(ids) == 2
    assert re.search(r"first\.bin: +\d+%\|", screen), screen
    assert re.search(r"second\.bin: +\d+%\|", screen), screen
    assert re.search(r"total \(2 files\): +" + FINISHED_BAR.format(size=r"4\.00M"), screen), screen

    got, screen = run_s3node_in_pty("get", ids[0], "-o", str(tmp_path / "copy.bin"),
                                    url=standalone_url)
    assert got.code == 0, screen
    assert re.search(r"copy\.bin: +" + FINISHED_BAR.format(size=r"2\.00M"), screen), screen
    assert "sha256 verified" in got.stdout


def test_no_bars_off_a_terminal_or_with_quiet(standalone_url: str, tmp_path: Path) -> None:
    """`put` and `get` draw nothing when stderr is not a terminal, nor on a terminal with
    --quiet."""
    source = tmp_path / "quiet.bin"
    write_pattern(source, MiB, seed=12)

    piped = run_s3node("put", str(source), url=standalone_url)
    assert piped.code == 0 and piped.stderr == ""
    got = run_s3node("get", piped.stdout.strip(), "-o", str(tmp_path / "a"), url=standalone_url)
    assert got.code == 0 and got.stderr == ""

    put, screen = run_s3node_in_pty("put", "--quiet", str(source), url=standalone_url)
    assert put.code == 0 and screen == ""
    got_quiet, screen = run_s3node_in_pty("get", "-q", put.stdout.strip(), "-o",
                                          str(tmp_path / "b"), url=standalone_url)
    assert got_quiet.code == 0 and screen == ""


def test_large_transfers_keep_memory_flat(standalone_url: str, tmp_path: Path) -> None:
    """`put` and `get` of a 256 MiB file each peak under 80 MiB RSS, and the copy is exact."""
    source = tmp_path / "large.bin"
    digest = write_pattern(source, 256 * MiB, seed=13)

    put, put_peak = run_s3node_measured("put", "--json", str(source), url=standalone_url,
                                        cwd=tmp_path)
    assert put.code == 0, put.stderr
    assert put.json()["checksum"] == digest
    source.unlink()

    got, get_peak = run_s3node_measured("get", "--json", put.json()["file_id"], "-o",
                                        str(tmp_path / "copy.bin"), url=standalone_url,
                                        cwd=tmp_path)
    assert got.code == 0, got.stderr
    assert got.json()["checksum"] == digest
    assert put_peak < 80 * 1024, f"put peaked at {put_peak} KiB"
    assert get_peak < 80 * 1024, f"get peaked at {get_peak} KiB"
