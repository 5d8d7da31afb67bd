"""``s3node put``, ``get``, ``ls``, ``stat`` and ``rm`` against a real standalone process."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from cli.cli_run import MiB, run_s3node, sha256_of, write_pattern

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_put_prints_the_id_and_get_verifies_the_checksum(
    standalone_url: str, tmp_path: Path
) -> None:
    """`put FILE` prints only the new file's id; `get ID -o PATH` writes the same bytes,
    says the sha256 was verified, and leaves no temporary file beside it."""
    source = tmp_path / "report.pdf"
    digest = write_pattern(source, 2 * MiB + 123, seed=1)

    put = run_s3node("put", str(source), url=standalone_url)
    assert put.code == 0, put.stderr
    file_id = put.stdout.strip()
    assert UUID.match(file_id), put.stdout
    assert put.stderr == ""

    out = tmp_path / "out" / "copy.pdf"
    out.parent.mkdir()
    got = run_s3node("get", file_id, "-o", str(out), url=standalone_url)
    assert got.code == 0, got.stderr
    assert sha256_of(out) == digest
    assert f"sha256 verified ({digest})" in got.stdout
    assert [p.name for p in out.parent.iterdir()] == ["copy.pdf"]


def test_put_json_gives_the_record_or_a_list_of_records(
    standalone_url: str, tmp_path: Path
) -> None:
    """`put --json` prints the server's record for one file (size, checksum, content type
    guessed from the name) and a list of records, in order, for several."""
    one, two = tmp_path / "notes.txt", tmp_path / "blob.bin"
    one.write_text("some notes\n")
    digest = write_pattern(two, 3 * MiB, seed=2)

    single = run_s3node("put", "--json", str(one), url=standalone_url)
    assert single.code == 0, single.stderr
    record = single.json()
    assert record["filename"] == "notes.txt"
    assert record["content_type"] == "text/plain"
    assert record["size"] == 11 and record["status"] == "completed"
    assert record["checksum"] == sha256_of(one)

    several = run_s3node("put", "--json", "--content-type", "application/x-test",
                         str(one), str(two), url=standalone_url)
    assert several.code == 0, several.stderr
    first, second = several.json()
    assert (first["filename"], second["filename"]) == ("notes.txt", "blob.bin")
    assert first["content_type"] == second["content_type"] == "application/x-test"
    assert second["checksum"] == digest and second["chunk_count"] == 3


def test_put_keeps_unusual_file_names(standalone_url: str, tmp_path: Path) -> None:
    """A file name with double quotes, spaces and non-ASCII letters is recorded exactly."""
    source = tmp_path / 'the "final" résumé.txt'
    source.write_text("cv\n")
    put = run_s3node("put", "--json", str(source), url=standalone_url)
    assert put.code == 0, put.stderr
    assert put.json()["filename"] == 'the "final" résumé.txt'


def test_get_without_output_uses_the_file_name_and_never_overwrites(
    standalone_url: str, tmp_path: Path
) -> None:
    """`get ID` writes to the file's name in the current folder; when that exists it exits 1
    and leaves it alone; `-o FOLDER` writes into the folder; `--json` describes the result."""
    source = tmp_path / "photo.jpg"
    digest = write_pattern(source, 100_000, seed=3)
    file_id = run_s3node("put", str(source), url=standalone_url).stdout.strip()
    work = tmp_path / "work"
    work.mkdir()

    first = run_s3node("get", file_id, url=standalone_url, cwd=work)
    assert first.code == 0, first.stderr
    assert sha256_of(work / "photo.jpg") == digest

    (work / "photo.jpg").write_bytes(b"mine")
    again = run_s3node("get", file_id, url=standalone_url, cwd=work)
    assert again.code == 1
    assert "photo.jpg exists already" in again.stderr
    assert (work / "photo.jpg").read_bytes() == b"mine"

    into = run_s3node("get", "--json", file_id, "-o", str(tmp_path / "work"), url=standalone_url)
    assert into.code == 0, into.stderr
    assert into.json() == {
        "file_id": file_id, "path": str(work / "photo.jpg"), "size": 100_000,
        "checksum_algorithm": "sha256", "checksum": digest, "verified": True,
    }
    assert sha256_of(work / "photo.jpg") == digest


def test_get_to_stdout(standalone_url: str, tmp_path: Path) -> None:
    """`get ID -o -` writes the bytes to stdout and its verification note to stderr."""
    source = tmp_path / "hello.txt"
    source.write_text("hello, s3node\n")
    file_id = run_s3node("put", str(source), url=standalone_url).stdout.strip()
    got = run_s3node("get", file_id, "-o", "-", url=standalone_url)
    assert got.code == 0, got.stderr
    assert got.stdout == "hello, s3node\n"
    assert "-: 14 bytes, sha256 verified" in got.stderr


def test_ls_pages_follows_the_cursor_and_filters(standalone_url: str, tmp_path: Path) -> None:
    """`ls` lists newest first as a table or JSON; `--limit` pages and gives the next cursor;
    `--all` follows it to the end; `--cursor` goes on from it; `--status` filters."""
    ids = []
    for i in range(3):
        source = tmp_path / f"ls-{i}.txt"
        source.write_text(f"file {i}\n")
        ids.append(run_s3node("put", str(source), url=standalone_url).stdout.strip())
    newest_first = ids[::-1]

    page = run_s3node("ls", "--json", "--limit", "2", url=standalone_url)
    assert page.code == 0, page.stderr
    document = page.json()
    assert [f["file_id"] for f in document["files"]] == newest_first[:2]
    assert document["next_cursor"]

    rest = run_s3node("ls", "--json", "--limit", "1", "--cursor", document["next_cursor"],
                      url=standalone_url)
    assert [f["file_id"] for f in rest.json()["files"]] == newest_first[2:]

    everything = run_s3node("ls", "--all", "--json", "--limit", "2", url=standalone_url)
    assert everything.code == 0, everything.stderr
    listed = everything.json()
    assert listed["next_cursor"] is None
    found = [f["file_id"] for f in listed["files"]]
    assert found[:3] == newest_first and len(found) == len(set(found))

    table = run_s3node("ls", "--limit", "3", "--status", "completed", url=standalone_url)
    assert table.code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["FILE", "ID", "SIZE", "STATUS", "CREATED", "NAME"]
    assert [row.split()[0] for row in rows] == newest_first
    assert rows[0].split()[1:4] == ["7", "B", "completed"] and rows[0].endswith("ls-2.txt")
    assert "more: s3node ls --cursor" in table.stderr

    failed = run_s3node("ls", "--all", "--json", "--status", "failed", url=standalone_url)
    assert not set(ids) & {f["file_id"] for f in failed.json()["files"]}


def test_stat_shows_chunks_and_replica_states(standalone_url: str, tmp_path: Path) -> None:
    """`stat ID` shows the record and one line per chunk with its replicas on two nodes,
    each stored; `--json` is the server's metadata document."""
    source = tmp_path / "three-chunks.bin"
    digest = write_pattern(source, 2 * MiB + 10, seed=4)
    file_id = run_s3node("put", str(source), url=standalone_url).stdout.strip()

    as_json = run_s3node("stat", "--json", file_id, url=standalone_url)
    assert as_json.code == 0, as_json.stderr
    metadata = as_json.json()
    assert metadata["checksum"] == digest
    assert [c["index"] for c in metadata["chunks"]] == [0, 1, 2]

    text = run_s3node("stat", file_id, url=standalone_url)
    assert text.code == 0, text.stderr
    assert re.search(rf"^file id +{file_id}$", text.stdout, re.MULTILINE)
    assert re.search(rf"^checksum +sha256 {digest}$", text.stdout, re.MULTILINE)
    assert re.search(r"^size +2\.0 MiB \(2097162 bytes\)$", text.stdout, re.MULTILINE)
    chunk_lines = [line for line in text.stdout.splitlines() if re.match(r"^[0-2] ", line)]
    assert len(chunk_lines) == 3
    for line in chunk_lines:
        assert re.search(r"node-\d stored, node-\d stored$", line), line


def test_stat_of_a_small_file_says_it_is_inline(standalone_url: str, tmp_path: Path) -> None:
    """A file under --inline-max-size has no chunk: `stat` says where its bytes are."""
    source = tmp_path / "small.txt"
    source.write_bytes(b"tiny" * 10)
    file_id = run_s3node("put", str(source), url=standalone_url).stdout.strip()
    as_json = run_s3node("stat", "--json", file_id, url=standalone_url).json()
    assert as_json["inline"] is True and as_json["chunks"] == []
    text = run_s3node("stat", file_id, url=standalone_url)
    assert re.search(r"^chunks +none: kept inline in the metadata store$", text.stdout,
                     re.MULTILINE), text.stdout


def test_rm_deletes_each_id_and_reports_the_ones_it_cannot(
    standalone_url: str, tmp_path: Path
) -> None:
    """`rm A B` deletes both; with an unknown id among them, the others are still deleted,
    the unknown one is reported with the server's error, and the exit code is 1."""
    ids = []
    for i in range(3):
        source = tmp_path / f"rm-{i}.txt"
        source.write_text("x")
        ids.append(run_s3node("put", str(source), url=standalone_url).stdout.strip())

    both = run_s3node("rm", ids[0], ids[1], url=standalone_url)
    assert both.code == 0, both.stderr
    assert both.stdout.splitlines() == [f"deleted {ids[0]}", f"deleted {ids[1]}"]
    assert run_s3node("stat", ids[0], url=standalone_url).code == 1

    unknown = str(uuid.uuid4())
    mixed = run_s3node("rm", unknown, ids[2], url=standalone_url)
    assert mixed.code == 1
    assert mixed.stdout.splitlines() == [f"deleted {ids[2]}"]
    assert f"s3node: file_not_found: no file {unknown}" in mixed.stderr
    assert f"(HTTP 404 from DELETE /files/{unknown})" in mixed.stderr
    assert run_s3node("stat", ids[2], url=standalone_url).code == 1
