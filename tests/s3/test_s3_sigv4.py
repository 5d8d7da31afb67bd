"""Tests for :mod:`s3node.s3.sigv4` and :mod:`s3node.s3.canonical`: SigV4 against botocore's signer."""

from __future__ import annotations

import base64
import hashlib
import string
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.s3 import (
    ACCESS_KEY,
    SECRET_KEY,
    Wire,
    botocore_presigned,
    botocore_signed,
    header,
    lookup,
    seconds,
)

from s3node.s3 import errors
from s3node.s3.canonical import (
    UNSIGNED_PAYLOAD,
    Scope,
    canonical_headers,
    canonical_query,
    canonical_uri,
    sign,
    signing_key,
)
from s3node.s3.sigv4 import MAX_CLOCK_SKEW, SignedRequest, verify

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: every printable ASCII character, and some that are not ASCII at all
KEY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(string.printable), st.characters(codec="utf-8")),
    min_size=1,
    max_size=30,
)
METHODS = st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"])
#: query parameters; not the presigning ones, which make a request presigned
PARAM_NAME = KEY_TEXT.filter(lambda name: not name.startswith("X-Amz-"))
QUERY = st.lists(st.tuples(PARAM_NAME, st.one_of(st.none(), st.just(""), KEY_TEXT)), max_size=6)
HEADER_VALUE = st.text(alphabet=string.ascii_letters + string.digits + " \t-_.,;=", max_size=20)


def check(wire: Wire, now: float | None = None, region: str | None = "us-east-1"):
    """Parse and verify a wire request at its own signed time (or ``now``)."""
    request = SignedRequest.parse(*wire)
    return verify(request, lookup, request.time() if now is None else now, region)


def encode_query(params: list[tuple[str, str | None]]) -> str:
    """A query string as a conforming client writes it (independent of s3node's encoder)."""
    return "&".join(
        quote(k, safe="-_.~") + ("" if v is None else "=" + quote(v, safe="-_.~"))
        for k, v in params
    )


def url_for(key: str, query: str = "", host: str = "s3.example.test:9000") -> str:
    """A path-style URL for ``key`` in bucket ``bucket``, encoded as botocore's serializer does."""
    return f"http://{host}/bucket/{quote(key, safe='/~')}" + (f"?{query}" if query else "")


# -- the AWS documentation's worked examples -------------------------------------------

AWS_HOST = "examplebucket.s3.amazonaws.com"
EMPTY = hashlib.sha256(b"").hexdigest()


def aws_header_request(method, path, query, headers, signed, signature) -> Wire:
    """One of the header-signed examples of the S3 SigV4 documentation."""
    auth = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    )
    return method, path, query, [("Host", AWS_HOST), *headers, ("Authorization", auth)]


AWS_EXAMPLES = {
    "GET object": aws_header_request(
        "GET",
        "/test.txt",
        "",
        [
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ],
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    "PUT object": aws_header_request(
        "PUT",
        "/test%24file.text",
        "",
        [
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()),
        ],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    "GET bucket lifecycle": aws_header_request(
        "GET",
        "/",
        "lifecycle",
        [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY)],
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    "GET bucket (list objects)": aws_header_request(
        "GET",
        "/",
        "max-keys=2&prefix=J",
        [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY)],
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
    "presigned GET object": (
        "GET",
        "/test.txt",
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={ACCESS_KEY}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        ),
        [("Host", AWS_HOST)],
    ),
}


@pytest.mark.parametrize("name", list(AWS_EXAMPLES))
def test_aws_documentation_examples_verify(name: str) -> None:
    """The signed examples of the S3 SigV4 documentation verify with their example secret."""
    credentials = check(AWS_EXAMPLES[name])
    assert credentials.access_key == ACCESS_KEY
    assert str(credentials.scope) == "20130524/us-east-1/s3/aws4_request"


def test_aws_documentation_signing_key_and_string_to_sign() -> None:
    """The GET-object example's string to sign hashes the canonical request the documentation shows."""
    request = SignedRequest.parse(*AWS_EXAMPLES["GET object"])
    assert request.canonical_request() == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}"
    )
    assert request.string_to_sign().endswith(
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )


# -- botocore's signer, over generated requests ------------------------------------------


@SETTINGS
@given(method=METHODS, key=KEY_TEXT, params=QUERY, body=st.binary(max_size=64))
def test_botocore_header_signatures_verify(method, key, params, body) -> None:
    """Any request botocore's S3 signer signs in the Authorization header verifies, keys and queries of any characters included."""
    wire = botocore_signed(method, url_for(key, encode_query(params)), body=body)
    credentials = check(wire)
    assert credentials.payload_hash == hashlib.sha256(body).hexdigest()
    assert credentials.signature == header(wire, "authorization")[-64:]
    assert not credentials.presigned


@SETTINGS
@given(
    key=KEY_TEXT,
    values=st.lists(HEADER_VALUE, min_size=1, max_size=3),
    content_type=HEADER_VALUE,
)
def test_botocore_signatures_with_odd_header_spacing_verify(key, values, content_type) -> None:
    """Header values with leading, trailing and repeated spaces and tabs canonicalise as botocore signs them."""
    headers = [(f"x-amz-meta-m{i}", v) for i, v in enumerate(values)]
    wire = botocore_signed("PUT", url_for(key), [*headers, ("Content-Type", content_type)])
    check(wire)


@SETTINGS
# (no whitespace: botocore folds every Unicode space, S3 only spaces and tabs)
@given(key=KEY_TEXT, value=st.text(st.characters(exclude_categories=("Cs", "Cc", "Z")),
                                   min_size=1, max_size=12))
def test_botocore_signatures_of_non_ascii_header_values_verify(key, value) -> None:
    """botocore sends a non-ASCII header value as UTF-8 and signs those bytes; the verifier, which reads header bytes as Latin-1, hashes the same bytes (s3-tests' test_object_set_get_unicode_metadata)."""
    wire = botocore_signed("PUT", url_for(key), [("x-amz-meta-m", value + "\xe9")])
    assert header(wire, "x-amz-meta-m").encode("latin-1") == (value + "\xe9").encode("utf-8")
    check(wire)
    method, path, query, headers = wire
    changed = [(k, v + "x" if k == "x-amz-meta-m" else v) for k, v in headers]
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query, changed))


@SETTINGS
@given(key=KEY_TEXT, params=QUERY, body=st.binary(max_size=64))
def test_botocore_unsigned_payload_over_https_verifies(key, params, body) -> None:
    """botocore's S3 signer over https with a Content-MD5 and streaming input signs UNSIGNED-PAYLOAD, which verifies."""
    url = url_for(key, encode_query(params)).replace("http:", "https:")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    wire = botocore_signed(
        "PUT", url, [("Content-MD5", md5)], body, context={"has_streaming_input": True}
    )
    assert check(wire).payload_hash == UNSIGNED_PAYLOAD


def test_generic_signer_alphanumeric_paths_verify() -> None:
    """botocore's generic (non-S3) SigV4 signer agrees for paths it does not re-encode."""
    wire = botocore_signed(
        "GET",
        url_for("plain/key-1.txt", "a=b"),
        [("X-Amz-Content-SHA256", EMPTY)],
        signer=SigV4Auth,
    )
    check(wire)


@SETTINGS
@given(
    method=METHODS,
    key=KEY_TEXT,
    params=st.dictionaries(PARAM_NAME, st.one_of(st.just(""), KEY_TEXT), max_size=4),
    expires=st.integers(1, 604800),
)
def test_botocore_presigned_urls_verify(method, key, params, expires) -> None:
    """Any URL botocore's S3SigV4QueryAuth presigns verifies, with an UNSIGNED-PAYLOAD, until it expires."""
    wire = botocore_presigned(
        method, url_for(key, encode_query(list(params.items()))), expires=expires
    )
    request = SignedRequest.parse(*wire)
    assert request.expires == expires
    credentials = verify(request, lookup, request.time() + expires)
    assert credentials.presigned and credentials.payload_hash == UNSIGNED_PAYLOAD
    with pytest.raises(errors.AccessDenied, match="expired"):
        verify(request, lookup, request.time() + expires + 1)


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    """A request botocore signs with a Date header (and no x-amz-date) verifies at that date."""
    wire = botocore_signed("GET", url_for("k"), [("Date", "Fri, 24 May 2013 00:00:00 GMT")])
    assert not any(k.lower() == "x-amz-date" for k, _ in wire[3])
    request = SignedRequest.parse(*wire)
    check(wire, now=request.time() + 10)


def test_repeated_query_keys_verify() -> None:
    """Repeated query keys and keys without values sort by key, then value, as botocore signs them."""
    wire = botocore_signed("GET", url_for("k", "b=2&a=z&a=&a=y&uploads&c"))
    check(wire)
    assert canonical_query("b=2&a=z&a=&a=y&uploads&c") == "a=&a=y&a=z&b=2&c=&uploads="


# -- tampering: one changed byte is rejected --------------------------------------------


def mutate(text: str, index: int, skip_escapes: bool = True) -> str | None:
    """``text`` with the alphanumeric character at ``index`` (mod len) changed, outside %XX escapes."""
    places = [
        i
        for i, c in enumerate(text)
        if c.isascii() and c.isalnum() and not (skip_escapes and "%" in text[max(0, i - 2) : i])
    ]
    if not places:
        return None
    i = places[index % len(places)]
    return text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :]


def rejected(wire: Wire, now: float) -> bool:
    """Whether the request is refused (with any S3 error)."""
    try:
        verify(SignedRequest.parse(*wire), lookup, now)
    except errors.S3Error:
        return True
    return False


@SETTINGS
@given(
    key=KEY_TEXT,
    params=QUERY,
    body=st.binary(max_size=32),
    meta=HEADER_VALUE.filter(lambda v: any(c.isalnum() for c in v)),
    part=st.sampled_from(["method", "path", "query", "header", "date", "payload"]),
    index=st.integers(0, 200),
)
def test_one_changed_byte_is_rejected(key, params, body, meta, part, index) -> None:
    """Changing one byte of the method, path, query, a signed header, the date or the payload hash fails verification."""
    wire = botocore_signed(
        "PUT", url_for(key, encode_query(params)), [("x-amz-meta-a", meta)], body
    )
    now = SignedRequest.parse(*wire).time()
    assert not rejected(wire, now)
    method, path, query, headers = wire
    if part == "method":
        method = "POST"
    elif part == "path":
        changed = mutate(path, index)
        assume(changed is not None)
        path = changed
    elif part == "query":
        changed = mutate(query, index)
        assume(changed is not None)
        query = changed
    else:
        name = {"header": "x-amz-meta-a", "date": "x-amz-date", "payload": "x-amz-content-sha256"}
        target = name[part]
        value = header(wire, target)
        changed = mutate(value, index if part != "date" else len(value) - 2, skip_escapes=False)
        assert changed is not None
        headers = [(k, changed if k.lower() == target else v) for k, v in headers]
    assert rejected((method, path, query, headers), now)


def test_signature_mismatch_reports_the_string_to_sign() -> None:
    """A wrong secret fails with SignatureDoesNotMatch carrying the string to sign and canonical request."""
    wire = botocore_signed("GET", url_for("k"), secret="not the secret")
    with pytest.raises(errors.SignatureDoesNotMatch) as caught:
        check(wire)
    fields = dict(caught.value.fields)
    assert fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert fields["CanonicalRequest"].startswith("GET\n/bucket/k\n")
    assert caught.value.status == 403


# -- the distinct errors -----------------------------------------------------------------


def test_unknown_access_key_is_invalid_access_key_id() -> None:
    """An access key the lookup does not know is InvalidAccessKeyId (403)."""
    wire = botocore_signed("GET", url_for("k"))
    request = SignedRequest.parse(*wire)
    with pytest.raises(errors.InvalidAccessKeyId):
        verify(request, lambda key: None, request.time())


@pytest.mark.parametrize("offset", [MAX_CLOCK_SKEW + 1, -MAX_CLOCK_SKEW - 1])
def test_clock_skew_beyond_fifteen_minutes_is_rejected(offset: int) -> None:
    """A header-signed request more than 15 minutes from the server's clock is RequestTimeTooSkewed."""
    wire = botocore_signed("GET", url_for("k"))
    request = SignedRequest.parse(*wire)
    verify(request, lookup, request.time() + offset - (1 if offset > 0 else -1))
    with pytest.raises(errors.RequestTimeTooSkewed) as caught:
        verify(request, lookup, request.time() + offset)
    assert dict(caught.value.fields)["MaxAllowedSkewMilliseconds"] == "900000"


def test_presigned_url_from_the_future_is_not_yet_valid() -> None:
    """A presigned URL dated more than 15 minutes ahead of the server is AccessDenied."""
    wire = botocore_presigned("GET", url_for("k"))
    request = SignedRequest.parse(*wire)
    with pytest.raises(errors.AccessDenied, match="not yet valid"):
        verify(request, lookup, request.time() - MAX_CLOCK_SKEW - 1)


def test_wrong_region_is_authorization_header_malformed() -> None:
    """A signature for another region is AuthorizationHeaderMalformed naming the expected region."""
    wire = botocore_signed("GET", url_for("k"), region="eu-west-1")
    with pytest.raises(errors.AuthorizationHeaderMalformed) as caught:
        check(wire)
    assert dict(caught.value.fields) == {"Region": "us-east-1"}
    check(wire, region=None)


def test_presigned_wrong_region_is_a_query_parameters_error() -> None:
    """A presigned URL for another region is AuthorizationQueryParametersError."""
    with pytest.raises(errors.AuthorizationQueryParametersError):
        check(botocore_presigned("GET", url_for("k"), region="eu-west-1"))


def _authorized(value: str, extra: list[tuple[str, str]] | None = None) -> Wire:
    headers = [
        ("Host", "h"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY),
        ("Authorization", value),
    ]
    return "GET", "/b/k", "", headers + (extra or [])


GOOD_CREDENTIAL = f"Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request"
GOOD_AUTH = (
    f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
    f" Signature={'0' * 64}"
)


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (("GET", "/b/k", "", [("Host", "h")]), errors.AccessDenied),
        (_authorized("AWS AKID:c2lnbmF0dXJl"), errors.InvalidRequest),
        (_authorized("AWS4-HMAC-SHA256 Credential=x"), errors.AuthorizationHeaderMalformed),
        (
            _authorized(GOOD_AUTH.replace("aws4_request", "aws5")),
            errors.AuthorizationHeaderMalformed,
        ),
        (
            _authorized(GOOD_AUTH.replace("20130524/", "2013-05-24/")),
            errors.AuthorizationHeaderMalformed,
        ),
        (
            _authorized(GOOD_AUTH.replace("20130524/", "20130525/")),
            errors.AuthorizationHeaderMalformed,
        ),
        (_authorized(GOOD_AUTH.replace("host;", "")), errors.AuthorizationHeaderMalformed),
        (_authorized(GOOD_AUTH.replace("host;", "Host;")), errors.AuthorizationHeaderMalformed),
        (_authorized(GOOD_AUTH + ", Signature=x"), errors.AuthorizationHeaderMalformed),
        (_authorized(GOOD_AUTH, [("x-amz-meta-a", "b")]), errors.AccessDenied),
        (
            (
                "GET",
                "/b/k",
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                [("Host", "h"), ("Authorization", GOOD_AUTH)],
            ),
            errors.InvalidArgument,
        ),
        (
            ("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256", [("Host", "h")]),
            errors.AuthorizationQueryParametersError,
        ),
    ],
    ids=[
        "anonymous",
        "sigv2",
        "unparseable",
        "bad-terminator",
        "bad-date-format",
        "date-differs-from-x-amz-date",
        "host-not-signed",
        "uppercase-signed-header",
        "duplicate-component",
        "unsigned-x-amz-header",
        "two-mechanisms",
        "presigned-missing-parameters",
    ],
)
def test_malformed_signatures_get_their_own_errors(wire: Wire, error: type[errors.S3Error]) -> None:
    """Each malformed or missing signature is refused with the error S3 gives it."""
    with pytest.raises(error):
        check(wire, now=seconds("20130524T000000Z"))


def test_missing_content_sha256_is_missing_security_header() -> None:
    """A header-signed request without x-amz-content-sha256 is MissingSecurityHeader."""
    method, path, query, headers = _authorized(GOOD_AUTH)
    headers = [(k, v) for k, v in headers if k != "x-amz-content-sha256"]
    with pytest.raises(errors.MissingSecurityHeader):
        SignedRequest.parse(method, path, query, headers)


def test_invalid_content_sha256_is_invalid_argument() -> None:
    """An x-amz-content-sha256 that is neither a marker nor 64 hex digits is InvalidArgument."""
    method, path, query, headers = _authorized(GOOD_AUTH)
    headers = [(k, "nothex" if k == "x-amz-content-sha256" else v) for k, v in headers]
    with pytest.raises(errors.InvalidArgument):
        SignedRequest.parse(method, path, query, headers)


def test_missing_date_is_access_denied() -> None:
    """A header-signed request with neither x-amz-date nor Date is AccessDenied."""
    method, path, query, headers = _authorized(GOOD_AUTH)
    headers = [(k, v) for k, v in headers if k != "x-amz-date"]
    with pytest.raises(errors.AccessDenied, match="Date"):
        SignedRequest.parse(method, path, query, headers)


@pytest.mark.parametrize(
    ("expires", "ok"),
    [("0", False), ("1", True), ("604800", True), ("604801", False), ("1e3", False)],
)
def test_presigned_expiry_bounds(expires: str, ok: bool) -> None:
    """X-Amz-Expires must be a whole number of seconds from 1 to 604800 (seven days)."""
    wire = botocore_presigned("GET", url_for("k"), expires=3600)
    method, path, query, headers = wire
    wire = method, path, query.replace("X-Amz-Expires=3600", f"X-Amz-Expires={expires}"), headers
    if ok:
        SignedRequest.parse(*wire)
    else:
        with pytest.raises(errors.AuthorizationQueryParametersError):
            SignedRequest.parse(*wire)


def test_bytes_headers_are_accepted() -> None:
    """Header names and values given as bytes (as Twisted holds them) parse like text."""
    method, path, query, headers = botocore_signed("GET", url_for("k"))
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    request = SignedRequest.parse(method, path, query, raw)
    verify(request, lookup, request.time())


# -- the pure pieces ---------------------------------------------------------------------


def test_signing_key_derivation_matches_the_documented_chain() -> None:
    """The signing key is HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")."""
    import hmac

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    expected = h(
        h(h(h(b"AWS4" + SECRET_KEY.encode(), "20130524"), "us-east-1"), "s3"), "aws4_request"
    )
    assert signing_key(SECRET_KEY, Scope("20130524", "us-east-1", "s3")) == expected
    assert sign(expected, "x") == hmac.new(expected, b"x", hashlib.sha256).hexdigest()


@SETTINGS
@given(key=KEY_TEXT)
def test_canonical_uri_encodes_once_and_keeps_slashes(key: str) -> None:
    """The canonical URI of a key encoded by botocore is that same encoding: S3 neither double-encodes nor normalises."""
    path = "/bucket/" + quote(key, safe="/~")
    assert canonical_uri(path) == path


def test_canonical_uri_normalises_encodings() -> None:
    """Lowercase escapes and needlessly escaped unreserved characters canonicalise to S3's one form."""
    assert canonical_uri("/b/%7e%41a b!") == "/b/~Aa%20b%21"
    assert canonical_uri("") == "/"


def test_canonical_headers_fold_spaces_and_join_repeats() -> None:
    """Values are trimmed, inner runs of spaces and tabs fold to one space, and repeats join with commas."""
    headers = [("a", "  x \t y  "), ("b", "1"), ("a", "z")]
    assert canonical_headers(headers, ["a", "b", "c"]) == "a:x y,z\nb:1\nc:\n"
