"""``s3node.logging.json_observer``: one JSON object per event, loadable back into an event."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path, PurePosixPath

import pytest
from twisted.logger import Logger, LogPublisher, eventFromJSON, formatEvent
from twisted.python.failure import Failure

from s3node.logging import json_observer


def _log_to(out: io.StringIO | None = None) -> Logger:
    publisher = LogPublisher()
    publisher.addObserver(json_observer(out))
    return Logger(namespace="s3node.test", observer=publisher)


def test_each_event_is_one_json_line_with_its_fields() -> None:
    """Named fields, the formatted message and the level are keys of one line per event."""
    out = io.StringIO()
    log = _log_to(out)
    log.info("stored {chunk_id} on {node}", chunk_id="ab12", node="n1", request_id="0f" * 8)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.failure("it broke for {request_id}", Failure(), request_id="1e" * 8)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "stored ab12 on n1" and first["level"] == "info"
    assert first["request_id"] == "0f" * 8 and first["log_namespace"] == "s3node.test"
    assert second["level"] == "critical" and "ZeroDivisionError" in json.dumps(second)
    assert formatEvent(eventFromJSON(json.dumps(first))) == "stored ab12 on n1"


def test_ids_and_paths_are_written_as_their_text() -> None:
    """A UUID or a path field is its text in the line, not Twisted's "unpersistable"; the
    message formats them as before."""
    out = io.StringIO()
    file_id = uuid.uuid4()
    _log_to(out).info("upload {file_id} into {folder}", file_id=file_id,
                      folder=PurePosixPath("/data/node-1"))
    (line,) = (json.loads(text) for text in out.getvalue().splitlines())
    assert line["file_id"] == str(file_id) and line["folder"] == "/data/node-1"
    assert line["message"] == f"upload {file_id} into /data/node-1"
    assert formatEvent(eventFromJSON(json.dumps(line))) == line["message"]


def test_s3node_log_file_names_a_file_to_append_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With S3NODE_LOG_FILE set, the lines go to that file, after what it held."""
    path = tmp_path / "s3node.json"
    path.write_text('{"earlier": true}\n')
    monkeypatch.setenv("S3NODE_LOG_FILE", str(path))
    _log_to().info("hello {who}", who="world")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True} and lines[1]["message"] == "hello world"
