"""Header values built from uploads, and the incremental multipart reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3node.errors import MalformedMultipart
from s3node.gateway.headers import clean_content_type, clean_filename, content_disposition
from s3node.gateway.multipart import MultipartReader, PartData, PartEnd, PartStart


@given(st.text(max_size=300))
def test_content_disposition_is_always_one_safe_ascii_line(name):
    """Whatever the filename, Content-Disposition is printable ASCII with a quoted
    fallback free of quotes and backslashes."""
    header = content_disposition(name)
    assert header.isascii() and header.isprintable()
    assert header.startswith('attachment; filename="')
    fallback = header[len('attachment; filename="'):].split('"', 1)[0]
    assert "\\" not in fallback and fallback


def test_content_disposition_examples():
    """Plain names get a bare filename; others also get filename*=UTF-8''."""
    assert content_disposition("a.txt") == 'attachment; filename="a.txt"'
    assert content_disposition("") == 'attachment; filename="download"'
    assert content_disposition("\u65e5.txt") == (
        "attachment; filename=\".txt\"; filename*=UTF-8''%E6%97%A5.txt")


def test_clean_content_type_and_filename():
    """Malformed media types fall back to application/octet-stream; control characters
    leave filenames, which are cut at 1024 characters."""
    assert clean_content_type("text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    for bad in (None, "", "text", "a/b\r\nX: y", "a/b; x", "x" * 300 + "/y"):
        assert clean_content_type(bad) == "application/octet-stream"
    assert clean_filename("a\x00b\nc\x7f") == "abc"
    assert len(clean_filename("x" * 5000)) == 1024


BODY = (b"--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n"
        b"Content-Type: application/x-y\r\n\r\n" + bytes(range(256)) * 4 + b"\r\n--B--\r\n")


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=40))
def test_multipart_any_split_gives_the_same_events(cuts):
    """However the body is split into writes, the reader yields the same parts and bytes."""
    reader = MultipartReader(b"multipart/form-data; boundary=B")
    events, pos = [], 0
    for n in cuts:
        events += reader.feed(BODY[pos:pos + n])
        pos += n
    events += reader.feed(BODY[pos:])
    reader.close()
    starts = [e for e in events if isinstance(e, PartStart)]
    assert starts == [PartStart("note", None, None), PartStart("file", "f.bin", "application/x-y")]
    data = b"".join(e.data for e in events if isinstance(e, PartData))
    assert data == b"hello" + bytes(range(256)) * 4
    assert sum(isinstance(e, PartEnd) for e in events) == 2


@pytest.mark.parametrize("ctype", [None, b"text/plain", b"multipart/form-data",
                                   b"multipart/form-data; boundary=" + b"x" * 201])
def test_multipart_needs_form_data_with_a_boundary(ctype):
    """A Content-Type that is not multipart/form-data with a sane boundary is refused."""
    with pytest.raises(MalformedMultipart):
        MultipartReader(ctype)


def test_multipart_truncated_or_garbage_is_refused():
    """A body cut before its closing boundary, or garbage, raises MalformedMultipart."""
    reader = MultipartReader(b"multipart/form-data; boundary=B")
    reader.feed(BODY[:-10])
    with pytest.raises(MalformedMultipart):
        reader.close()
    with pytest.raises(MalformedMultipart):
        MultipartReader(b"multipart/form-data; boundary=B").feed(b"garbage" * 10)


def test_multipart_header_block_is_bounded():
    """A part whose headers exceed 16 KiB is refused instead of buffered."""
    reader = MultipartReader(b"multipart/form-data; boundary=B")
    with pytest.raises(MalformedMultipart):
        reader.feed(b"--B\r\nX-Big: " + b"a" * 20000)
