"""``s3node.storage.wire``: data messages framed and parsed exactly as protobuf does."""

from __future__ import annotations

import pytest

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.storage.wire import DataMessage, data_parser, frame_data, serialize


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 1024 * 1024])
def test_frame_data_is_protobufs_encoding(size: int) -> None:
    """A framed piece is byte for byte what protobuf serializes, for both message types."""
    piece = bytes(range(256)) * (size // 256) + bytes(size % 256)
    framed = frame_data(memoryview(piece))
    assert framed == pb.PutChunkRequest(data=piece).SerializeToString()
    assert framed == pb.GetChunkResponse(data=piece).SerializeToString()
    assert serialize(DataMessage(piece)) == framed
    assert pb.PutChunkRequest.FromString(framed).data == piece


@pytest.mark.parametrize("size", [0, 5, 300, 70_000])
def test_data_parser_hands_out_a_view_of_the_data(size: int) -> None:
    """A data message parses to a DataMessage whose data is the piece, without protobuf."""
    piece = b"\xab" * size
    parsed = data_parser(pb.PutChunkRequest.FromString)(
        pb.PutChunkRequest(data=piece).SerializeToString())
    assert isinstance(parsed, DataMessage)
    assert parsed.WhichOneof("kind") == "data"
    assert bytes(parsed.data) == piece


def test_other_messages_go_to_protobuf() -> None:
    """A header message, or bytes with anything after the data field, are protobuf's to parse."""
    parse = data_parser(pb.PutChunkRequest.FromString)
    header = pb.PutChunkRequest(header=pb.PutChunkHeader(chunk_id="ab" * 16, size=3))
    parsed = parse(header.SerializeToString())
    assert parsed.WhichOneof("kind") == "header"
    assert parsed.header.size == 3
    trailing = frame_data(b"abc") + header.SerializeToString()
    assert not isinstance(parse(trailing), DataMessage)
    assert serialize(header) == header.SerializeToString()


def test_a_truncated_data_message_is_not_taken_for_data() -> None:
    """A length that runs past the buffer falls back to protobuf, which refuses it."""
    framed = frame_data(b"x" * 300)
    with pytest.raises(Exception):  # noqa: B017 - protobuf's DecodeError
        data_parser(pb.PutChunkRequest.FromString)(framed[:-1])
