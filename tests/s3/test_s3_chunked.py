"""Tests for :mod:`s3node.s3.chunked`: the aws-chunked encoding, against botocore and the AWS examples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum
from hypothesis import given, settings
from hypothesis import strategies as st
from support.s3 import ACCESS_KEY, SECRET_KEY, lookup

from s3node.s3 import errors
from s3node.s3.checksums import CRC32, CRC32C, PayloadCheck, parse_checksum
from s3node.s3.chunked import MAX_LINE, MAX_TRAILERS, ChunkedDecoder, decoded_content_length
from s3node.s3.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    Credentials,
    Scope,
    SignedRequest,
    signing_key,
    verify,
)

SETTINGS = settings(max_examples=150, deadline=None)
SCOPE = Scope("20130524", "us-east-1", "s3")
TIME = "20130524T000000Z"
EMPTY = hashlib.sha256(b"").hexdigest()


def credentials(mode: str, seed: str = "0" * 64) -> Credentials:
    """Credentials as :func:`verify` returns them for an aws-chunked request of ``mode``."""
    return Credentials(
        access_key=ACCESS_KEY,
        scope=SCOPE,
        timestamp=TIME,
        signature=seed,
        payload_hash=mode,
        presigned=False,
        signing_key=signing_key(SECRET_KEY, SCOPE),
    )


# -- an encoder written from the spec, independent of the decoder -------------------------


def _hmac_hex(text: str) -> str:
    key = signing_key(SECRET_KEY, SCOPE)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def encode_signed(chunks: list[bytes], seed: str, trailers: dict[str, str] | None = None) -> bytes:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) body, each signature chained per the spec."""
    out = io.BytesIO()
    previous = seed
    for data in [*chunks, b""]:
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{TIME}\n{SCOPE}\n{previous}\n{EMPTY}\n"
            + hashlib.sha256(data).hexdigest()
        )
        previous = _hmac_hex(sts)
        out.write(f"{len(data):x};chunk-signature={previous}\r\n".encode() + data)
        if data or trailers is None:
            out.write(b"\r\n")
    if trailers is not None:
        lines = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        sts = (
            f"AWS4-HMAC-SHA256-TRAILER\n{TIME}\n{SCOPE}\n{previous}\n"
            + hashlib.sha256(lines.encode()).hexdigest()
        )
        for k, v in trailers.items():
            out.write(f"{k}:{v}\r\n".encode())
        out.write(f"x-amz-trailer-signature:{_hmac_hex(sts)}\r\n\r\n".encode())
    return out.getvalue()


def decode(body: bytes, creds: Credentials, length: int, step: int) -> tuple[bytes, dict[str, str]]:
    """Feed ``body`` in pieces of ``step`` bytes; return the payload and the trailers."""
    decoder = ChunkedDecoder(creds, length)
    payload = bytearray()
    for start in range(0, len(body), step):
        for piece in decoder.feed(body[start : start + step]):
            payload += piece
    return bytes(payload), decoder.close()


# -- the AWS documentation's worked examples ----------------------------------------------

DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_CHUNK_SIGNATURES = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
DOC_TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def doc_body(signatures: list[str], trailer: str = "") -> bytes:
    """The example's wire body: 64 KiB and 1 KiB of ``a``, then the final chunk."""
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={signatures[2]}\r\n".encode()
        + (trailer.encode() if trailer else b"\r\n")
    )


def test_aws_example_seed_signature_verifies() -> None:
    """The chunked PUT example's headers verify and give the documented seed signature."""
    signed = (
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class"
    )
    headers = [
        ("Host", "s3.amazonaws.com"),
        ("x-amz-date", TIME),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "Authorization",
            (
                f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
                f"SignedHeaders={signed},Signature={DOC_SEED}"
            ),
        ),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("Content-Length", "66824"),
    ]
    request = SignedRequest.parse("PUT", "/examplebucket/chunkObject.txt", "", headers)
    creds = verify(request, lookup, request.time())
    assert creds.signature == DOC_SEED and creds.payload_hash == STREAMING_SIGNED
    body = doc_body(DOC_CHUNK_SIGNATURES)
    assert len(body) == 66824
    payload, trailers = decode(body, creds, 66560, 4096)
    assert payload == b"a" * 66560 and trailers == {}


def test_aws_example_chunk_signatures_are_what_our_encoder_makes() -> None:
    """The spec encoder used below reproduces the documented chunk signatures exactly."""
    assert encode_signed([b"a" * 65536, b"a" * 1024], DOC_SEED) == doc_body(DOC_CHUNK_SIGNATURES)


def test_aws_trailer_example_verifies() -> None:
    """The trailing-header example (CRC32C trailer, signed) decodes, and its checksum is the payload's."""
    trailer = (
        f"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{DOC_TRAILER_SIGNATURE}\r\n\r\n"
    )
    body = doc_body(DOC_TRAILER_CHUNK_SIGNATURES, trailer)
    creds = credentials(STREAMING_SIGNED_TRAILER, DOC_TRAILER_SEED)
    payload, trailers = decode(body, creds, 66560, 65536 + 3)
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert parse_checksum(CRC32C, trailers["x-amz-checksum-crc32c"]) == CRC32C.digest_of(payload)
    assert encode_signed([b"a" * 65536, b"a" * 1024], DOC_TRAILER_SEED, trailers) == body
    tampered = body.replace(b"sOO8/Q==", b"sOO8/R==")
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(tampered, creds, 66560, 1000)


# -- generated bodies ---------------------------------------------------------------------

CHUNKS = st.lists(st.binary(min_size=1, max_size=300), max_size=5)


@SETTINGS
@given(chunks=CHUNKS, step=st.integers(1, 700), trailer=st.booleans())
def test_signed_bodies_decode_in_any_pieces(chunks, step, trailer) -> None:
    """A signed aws-chunked body fed in pieces of any size decodes to its payload."""
    payload = b"".join(chunks)
    trailers = {"x-amz-checksum-crc32": base64.b64encode(CRC32.digest_of(payload)).decode()}
    mode = STREAMING_SIGNED_TRAILER if trailer else STREAMING_SIGNED
    body = encode_signed(chunks, "f" * 64, trailers if trailer else None)
    got, got_trailers = decode(body, credentials(mode, "f" * 64), len(payload), step)
    assert got == payload
    assert got_trailers == (trailers if trailer else {})


def test_payload_pieces_are_views_of_the_input_never_copies() -> None:
    """feed() returns the payload as read-only views into the bytes it was given (or those
    bytes themselves when they are all payload): the decoder never copies the data."""
    chunks = [b"a" * 5000, b"b" * 3000]
    body = encode_signed(chunks, "f" * 64)
    decoder = ChunkedDecoder(credentials(STREAMING_SIGNED, "f" * 64), 8000)
    head = body.index(b"\r\n") + 2  # where the first chunk's data starts
    first, middle = body[: head + 100], body[head + 100 : head + 4000]
    rest = body[head + 4000 :]
    (piece,) = decoder.feed(first)
    assert isinstance(piece, memoryview) and piece.obj is first and piece.readonly
    assert decoder.feed(middle)[0] is middle
    pieces = decoder.feed(rest)
    assert all(isinstance(p, memoryview) and p.obj is rest for p in pieces)
    assert b"".join([first[head:], middle, *pieces]) == b"".join(chunks)
    assert decoder.close() == {}


@SETTINGS
@given(chunks=st.lists(st.binary(min_size=1, max_size=100), min_size=1, max_size=4), data=st.data())
def test_any_changed_byte_of_a_signed_body_is_refused(chunks, data) -> None:
    """Changing any one byte of a signed body (data, size, signature or trailer) never decodes cleanly."""
    payload = b"".join(chunks)
    trailers = {"x-amz-checksum-crc32": base64.b64encode(CRC32.digest_of(payload)).decode()}
    body = encode_signed(chunks, "f" * 64, trailers)
    index = data.draw(st.integers(0, len(body) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([replacement]) + body[index + 1 :]
    creds = credentials(STREAMING_SIGNED_TRAILER, "f" * 64)
    try:
        got, got_trailers = decode(changed, creds, len(payload), 64)
    except errors.S3Error:
        return
    # the one harmless change: a size digit's case (hex is case-insensitive)
    assert (got, got_trailers) == (payload, trailers)
    assert body[index : index + 1].lower() == changed[index : index + 1].lower()


@SETTINGS
@given(payload=st.binary(max_size=3000), chunk_size=st.integers(1, 1024), step=st.integers(1, 500))
def test_botocore_unsigned_trailer_bodies_decode(payload, chunk_size, step) -> None:
    """botocore's own aws-chunked writer (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32) decodes, and its checksum verifies."""
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=CrtCrc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=chunk_size,
    )
    body = wrapper.read()
    got, trailers = decode(body, credentials(STREAMING_UNSIGNED_TRAILER), len(payload), step)
    assert got == payload
    check = PayloadCheck(checksum=(CRC32, None))
    check.update(got)
    check.finish(parse_checksum(CRC32, trailers["x-amz-checksum-crc32"]))


# -- framing errors and bounds -------------------------------------------------------------


def unsigned(body: bytes, length: int) -> tuple[bytes, dict[str, str]]:
    """Decode an unsigned-trailer body in one feed."""
    return decode(body, credentials(STREAMING_UNSIGNED_TRAILER), length, max(1, len(body)))


@pytest.mark.parametrize(
    ("body", "length", "error"),
    [
        (b"3\r\nabc\r\n", 3, errors.IncompleteBody),
        (b"3\r\nabc\r\n0\r\n\r\n", 4, errors.IncompleteBody),
        (b"3\r\nabcd\r\n0\r\n\r\n", 3, errors.InvalidChunkedEncoding),
        (b"3\nabc\r\n0\r\n\r\n", 3, errors.InvalidChunkedEncoding),
        (b"x\r\n", 0, errors.InvalidChunkedEncoding),
        (b"12345678901234567\r\n", 0, errors.InvalidChunkedEncoding),
        (b"4\r\nabcd\r\n0\r\n\r\n", 3, errors.InvalidChunkedEncoding),
        (b"0\r\n\r\nmore", 0, errors.InvalidChunkedEncoding),
        (b"0\r\nnot a header\r\n\r\n", 0, errors.InvalidChunkedEncoding),
        (b"0\r\na:1\r\na:2\r\n\r\n", 0, errors.InvalidChunkedEncoding),
    ],
    ids=[
        "ends-early",
        "shorter-than-declared",
        "data-longer-than-size",
        "bare-lf",
        "size-not-hex",
        "size-too-long",
        "more-than-declared",
        "data-after-end",
        "bad-trailer",
        "repeated-trailer",
    ],
)
def test_framing_errors_are_refused(body: bytes, length: int, error) -> None:
    """Each framing error is refused with a clear S3 error."""
    with pytest.raises(error):
        unsigned(body, length)


def test_lines_are_bounded() -> None:
    """A chunk line longer than MAX_LINE is refused even when it arrives a byte at a time."""
    decoder = ChunkedDecoder(credentials(STREAMING_UNSIGNED_TRAILER), 0)
    with pytest.raises(errors.InvalidChunkedEncoding, match="too long"):
        for _ in range(MAX_LINE + 2):
            decoder.feed(b"0")
    decoder = ChunkedDecoder(credentials(STREAMING_UNSIGNED_TRAILER), 0)
    with pytest.raises(errors.InvalidChunkedEncoding, match="too long"):
        decoder.feed(b"0;" + b"x" * MAX_LINE + b"\r\n")
    assert unsigned(b"0;" + b"x" * (MAX_LINE - 2) + b"\r\n\r\n", 0) == (b"", {})


def test_trailers_are_bounded() -> None:
    """More than MAX_TRAILERS trailing headers are refused."""
    many = b"".join(b"t%d:v\r\n" % i for i in range(MAX_TRAILERS + 1))
    with pytest.raises(errors.InvalidChunkedEncoding):
        unsigned(b"0\r\n" + many + b"\r\n", 0)


def test_signed_trailer_needs_its_signature() -> None:
    """A signed-trailer body whose trailers carry no trailer signature is refused."""
    body = encode_signed([b"abc"], "f" * 64, {"x-amz-checksum-crc32": "AAAAAA=="})
    stripped = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    with pytest.raises(errors.InvalidChunkedEncoding, match="signature is missing"):
        decode(stripped, credentials(STREAMING_SIGNED_TRAILER, "f" * 64), 3, 100)


def test_reordered_chunks_are_refused() -> None:
    """Swapping two signed chunks breaks the chain at the first of them."""
    body = encode_signed([b"one", b"two"], "f" * 64)
    first, second = body.split(b"\r\n3;")[0], body.split(b"\r\n3;")[1]
    swapped = (
        b"3;"
        + second.split(b"\r\n0;")[0]
        + b"\r\n"
        + first
        + b"\r\n0;"
        + second.split(b"\r\n0;")[1]
    )
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(swapped, credentials(STREAMING_SIGNED, "f" * 64), 6, 100)


def test_wrong_seed_is_refused() -> None:
    """Chunks chained from another request's signature are refused at the first chunk."""
    body = encode_signed([b"abc"], "e" * 64)
    decoder = ChunkedDecoder(credentials(STREAMING_SIGNED, "f" * 64), 3)
    with pytest.raises(errors.SignatureDoesNotMatch):
        decoder.feed(body)


def test_only_streaming_markers_make_a_decoder() -> None:
    """A decoder needs an aws-chunked payload marker; a plain payload hash is a programming error."""
    with pytest.raises(ValueError):
        ChunkedDecoder(credentials(EMPTY), 0)


def test_decoded_content_length_header() -> None:
    """x-amz-decoded-content-length is required and must be a whole number."""
    assert decoded_content_length({"x-amz-decoded-content-length": "66560"}) == 66560
    with pytest.raises(errors.MissingContentLength):
        decoded_content_length({})
    for bad in ("-1", "1.5", "", "١"):
        with pytest.raises(errors.InvalidArgument):
            decoded_content_length({"x-amz-decoded-content-length": bad})
