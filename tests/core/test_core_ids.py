"""Tests for :mod:`s3node.core.ids`."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3node.core.ids import CHUNK_ID_PATTERN, new_chunk_id, validate_chunk_id
from s3node.errors import InvalidChunkId, InvalidRequest

HEX = "0123456789abcdef"


@pytest.mark.parametrize("length", [32, 33, 40, 63, 64])
def test_valid_lengths_accepted(length: int) -> None:
    """Lowercase hex ids of 32 to 64 characters are returned unchanged."""
    text = ("0123456789abcdef" * 4)[:length]
    assert validate_chunk_id(text) is text


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../../etc/passwd",
        "a" * 31,
        "a" * 65,
        "A" * 32,
        "0123456789ABCDEF0123456789abcdef",
        "a" * 31 + "\x00",
        "a" * 32 + "\x00",
        "a" * 32 + "\n",
        "\n" + "a" * 32,
        "a" * 16 + "/" + "a" * 16,
        "٣" * 32,  # ARABIC-INDIC DIGIT THREE: isdigit() but not ASCII
        "ａ" * 32,  # FULLWIDTH a
        "g" * 32,
        " " + "a" * 32,
    ],
)
def test_invalid_strings_rejected(bad: str) -> None:
    """Path tricks, wrong lengths, upper case, NUL, newlines and unicode digits raise InvalidChunkId."""
    with pytest.raises(InvalidChunkId):
        validate_chunk_id(bad)


@pytest.mark.parametrize("bad", [None, 12345, b"a" * 32, ["a" * 32], 3.5])
def test_non_strings_rejected(bad: object) -> None:
    """Values that are not str raise InvalidChunkId naming their type."""
    with pytest.raises(InvalidChunkId, match=type(bad).__name__):
        validate_chunk_id(bad)


def test_error_is_a_bad_request_with_code() -> None:
    """InvalidChunkId is an InvalidRequest whose code is invalid_chunk_id."""
    with pytest.raises(InvalidRequest) as info:
        validate_chunk_id("nope")
    assert info.value.code == "invalid_chunk_id"


def test_error_message_truncates_and_escapes() -> None:
    """A long hostile value appears in the message truncated, with control characters escaped."""
    hostile = "\x1b[31m\r\n" + "x" * 10_000
    with pytest.raises(InvalidChunkId) as info:
        validate_chunk_id(hostile)
    message = info.value.message
    assert len(message) < 200
    assert "\x1b" not in message and "\r" not in message and "\n" not in message
    assert "10007 characters" in message


def test_new_chunk_id_shape_and_uniqueness() -> None:
    """New chunk ids are 32 lowercase hex characters, valid, and distinct."""
    ids = {new_chunk_id() for _ in range(1000)}
    assert len(ids) == 1000
    for chunk_id in ids:
        assert len(chunk_id) == 32
        assert validate_chunk_id(chunk_id) == chunk_id
        assert re.fullmatch(CHUNK_ID_PATTERN, chunk_id)


@given(st.text(alphabet=HEX, min_size=32, max_size=64))
def test_property_hex_of_valid_length_accepted(text: str) -> None:
    """Every lowercase hex string of 32 to 64 characters is valid."""
    assert validate_chunk_id(text) == text


@given(st.text(max_size=80))
def test_property_agrees_with_pattern(text: str) -> None:
    """An arbitrary string is accepted exactly when it matches CHUNK_ID_PATTERN and has no newline."""
    expected = re.fullmatch(CHUNK_ID_PATTERN, text) is not None
    try:
        validate_chunk_id(text)
        accepted = True
    except InvalidChunkId:
        accepted = False
    assert accepted == expected
    if accepted:
        assert set(text) <= set(HEX) and 32 <= len(text) <= 64
