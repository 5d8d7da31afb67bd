"""
The hostile requests of ``test_hostile_s3.py``: XML documents, garbage
``Authorization`` values, ``aws-chunked`` frames and generated DeleteObjects
bodies, each built from a valid request so that only the hostile part is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import strategies as st
from integration.test_s3_api import _signing_key

__all__ = ["KEYS", "authorization_variants", "chunked_frames", "delete_documents", "frame",
           "hostile_documents"]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def hostile_documents(root: str, inner: str, canary: str) -> dict[str, bytes]:
    """Documents that must all be refused as ``root`` documents; ``inner`` would be valid."""
    dtd = f"<!DOCTYPE {root} ["
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    docs = {
        "billion laughs": f'{dtd}<!ENTITY l0 "lol">{laughs}]><{root}>&l9;{inner}</{root}>',
        "quadratic blowup": f'{dtd}<!ENTITY a "{"x" * 50_000}">]><{root}>{"&a;" * 2000}'
                            f"{inner}</{root}>",
        "external entity (file)": f'{dtd}<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                  f"<{root}>{inner}<Key>&x;</Key></{root}>",
        "external entity (http)": f'{dtd}<!ENTITY x SYSTEM "{canary}/entity">]>'
                                  f"<{root}>{inner}<Key>&x;</Key></{root}>",
        "parameter entity (http)": f'{dtd}<!ENTITY % p SYSTEM "{canary}/parameter"> %p;]>'
                                   f"<{root}>{inner}</{root}>",
        "external DTD (http)": f'<!DOCTYPE {root} SYSTEM "{canary}/dtd"><{root}>{inner}</{root}>',
        "public DTD (http)": f'<!DOCTYPE {root} PUBLIC "-//x//y" "{canary}/public">'
                             f"<{root}>{inner}</{root}>",
        "empty internal DTD": f"{dtd}]><{root}>{inner}</{root}>",
        "xinclude": f'<{root} xmlns:xi="http://www.w3.org/2001/XInclude">'
                    f'<Object><Key><xi:include href="file:///etc/passwd" parse="text"/></Key>'
                    f"</Object><Part><PartNumber><xi:include href=\"{canary}/xi\"/></PartNumber>"
                    f"</Part><LocationConstraint><xi:include href=\"{canary}/xi\"/>"
                    f"</LocationConstraint></{root}>",
        "deep nesting": f"<{root}>{inner}" + "<a>" * 100_000 + "</a>" * 100_000 + f"</{root}>",
        "too many elements": f"<{root}>{inner}" + "<x/>" * 100_000 + f"</{root}>",
        "truncated": f"<{root}>{inner}</{root}>"[:-5],
        "unclosed": f"<{root}>{inner}",
        "wrong root": f"<Foo>{inner}</Foo>",
        "two roots": f"<{root}>{inner}</{root}><{root}>{inner}</{root}>",
        "not xml": "this is not XML at all",
        "unknown encoding": f'<?xml version="1.0" encoding="x-no-such-codec"?>'
                            f"<{root}>{inner}</{root}>",
        "multi-byte encoding": f'<?xml version="1.0" encoding="utf-7"?><{root}>{inner}</{root}>',
        "declared utf-16, sent utf-8": f'<?xml version="1.0" encoding="utf-16"?>'
                                       f"<{root}>{inner}</{root}>",
        "bad character reference": f"<{root}>{inner}<Key>&#0;&#x110000;</Key></{root}>",
        "undefined entity": f"<{root}>{inner}<Key>&nope;</Key></{root}>",
    }
    out = {name: text.encode() for name, text in docs.items()}
    valid = f"<{root}>{inner}</{root}>".encode()
    out["invalid utf-8"] = valid.replace(b"<", b"<\xff\xfe", 1)
    out["overlong utf-8"] = f"<{root}>{inner}".encode() + b"<Key>\xc0\xbc</Key>" + \
        f"</{root}>".encode()
    out["truncated utf-8"] = f"<{root}>{inner}<Key>".encode() + "é".encode()[:1]
    out["NUL bytes"] = valid.replace(b">", b">\x00", 1)
    out["utf-32 bom"] = "\ufeff".encode("utf-32")[:4] + valid
    return out


def authorization_variants(good: str, access: str) -> dict[str, tuple[str, set[tuple[int, str]]]]:
    """Garbage made from a good ``Authorization`` value, with the answers each may get."""
    algorithm, _, rest = good.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    cred, signed_headers, signature = parts["Credential"], parts["SignedHeaders"], parts[
        "Signature"]
    _, date, region, service, term = cred.split("/")
    malformed = {(400, "AuthorizationHeaderMalformed")}
    mismatch = {(403, "SignatureDoesNotMatch")}

    def auth(c: str = cred, h: str = signed_headers, s: str = signature,
             a: str = algorithm) -> str:
        return f"{a} Credential={c}, SignedHeaders={h}, Signature={s}"

    return {
        "empty": ("", {(400, "InvalidRequest")}),
        "algorithm only": (algorithm, malformed),
        "wrong algorithm": (auth(a="AWS4-HMAC-SHA512"), {(400, "InvalidRequest")}),
        "SigV2": (f"AWS {access}:c2lnbmF0dXJl", {(400, "InvalidRequest")}),
        "bearer": ("Bearer abc.def.ghi", {(400, "InvalidRequest")}),
        "basic": ("Basic " + base64.b64encode(b"a:b").decode(), {(400, "InvalidRequest")}),
        "no Credential": (f"{algorithm} SignedHeaders={signed_headers}, Signature={signature}",
                          malformed),
        "no SignedHeaders": (f"{algorithm} Credential={cred}, Signature={signature}",
                             malformed),
        "no Signature": (f"{algorithm} Credential={cred}, SignedHeaders={signed_headers}",
                         malformed),
        "repeated Signature": (auth() + f", Signature={signature}", malformed),
        "extra component": (auth() + ", Extra=1", malformed),
        "no equals": (f"{algorithm} Credential", malformed),
        "commas only": (f"{algorithm} ,,,,", malformed),
        "non-hex signature": (auth(s="z" * 64), mismatch),
        "upper-case signature": (auth(s=signature.upper()), mismatch),
        "short signature": (auth(s=signature[:10]), mismatch),
        "long signature": (auth(s=signature * 2), mismatch),
        "empty signature": (auth(s=""), mismatch),
        "flipped signature": (auth(s=signature[:-1] + ("0" if signature[-1] != "0" else "1")),
                              mismatch),
        "SignedHeaders without host": (auth(h=signed_headers.replace("host;", "")), malformed),
        "SignedHeaders upper case": (auth(h=signed_headers.upper()), malformed),
        "SignedHeaders repeated": (auth(h=f"{signed_headers};host"), malformed),
        "SignedHeaders empty": (auth(h=""), malformed),
        "SignedHeaders with spaces": (auth(h=signed_headers.replace(";", " ; ")), malformed),
        "SignedHeaders absurd (1,000 names)": (
            auth(h=";".join([signed_headers, *(f"h{n}" for n in range(1000))])), mismatch),
        "SignedHeaders missing x-amz-date": (
            auth(h=";".join(h for h in signed_headers.split(";") if h != "x-amz-date")),
            {(403, "AccessDenied")}),
        "SignedHeaders naming absent headers": (auth(h=f"{signed_headers};x-nothing"),
                                                mismatch),
        "scope: wrong region": (auth(c=f"{access}/{date}/eu-west-1/{service}/{term}"),
                                malformed),
        "scope: wrong service": (auth(c=f"{access}/{date}/{region}/iam/{term}"), malformed),
        "scope: wrong date": (auth(c=f"{access}/20000101/{region}/{service}/{term}"),
                              malformed),
        "scope: date not a date": (auth(c=f"{access}/2000-1-1/{region}/{service}/{term}"),
                                   malformed),
        "scope: wrong terminator": (auth(c=f"{access}/{date}/{region}/{service}/aws5"),
                                    malformed),
        "scope: too short": (auth(c=f"{access}/{date}/{region}"), malformed),
        "scope: empty parts": (auth(c=f"{access}//{region}//{term}"), malformed),
        "scope: unknown key": (auth(c=f"S3NUNKNOWNKEY0000000/{date}/{region}/{service}/{term}"),
                               {(403, "InvalidAccessKeyId")}),
        "scope: empty key": (auth(c=f"/{date}/{region}/{service}/{term}"), malformed),
        "scope: key with slashes": (auth(c=f"{access}/x/{date}/{region}/{service}/{term}"),
                                    {(403, "InvalidAccessKeyId")}),
        "huge header (12 KiB)": (auth(c="A" * 12_000 + f"/{date}/{region}/{service}/{term}"),
                                 {(403, "InvalidAccessKeyId")}),
        "non-ASCII": (auth(c=f"{access}\u00e9/{date}/{region}/{service}/{term}"),
                      {(403, "InvalidAccessKeyId")}),
    }


def chunked_frames(secret: str, stamp: str, seed_signature: str,
                   chunks: list[bytes]) -> list[tuple[bytes, str]]:
    """Each chunk (the final empty one included) with its chained signature."""
    key = _signing_key(secret, stamp[:8])
    scope = f"{stamp[:8]}/us-east-1/s3/aws4_request"
    previous, out = seed_signature, []
    for data in [*chunks, b""]:
        string = (f"AWS4-HMAC-SHA256-PAYLOAD\n{stamp}\n{scope}\n{previous}\n{EMPTY_SHA256}\n"
                  f"{hashlib.sha256(data).hexdigest()}")
        previous = hmac.new(key, string.encode(), hashlib.sha256).hexdigest()
        out.append((data, previous))
    return out


def frame(data: bytes, signature: str, size: str | None = None) -> bytes:
    return (f"{size or f'{len(data):x}'};chunk-signature={signature}\r\n".encode() + data
            + b"\r\n")


KEYS = ["k0", "k1", "k 2", "k/3", "ü4"]
_fragment = st.sampled_from([
    "<Delete>", "</Delete>", "<Object>", "</Object>", "<Key>", "</Key>", "<Quiet>true</Quiet>",
    "<Quiet>maybe</Quiet>", "<VersionId>null</VersionId>", "<VersionId>v1</VersionId>",
    "<!DOCTYPE Delete>", "&amp;", "&x;", "<![CDATA[k0]]>", "<!-- c -->", "<?pi x?>", "\x00",
    "&#0;", '<?xml version="1.0"?>', ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"',
    *(f"<Object><Key>{k}</Key></Object>" for k in KEYS), *KEYS])
delete_documents = st.one_of(
    st.binary(max_size=512),
    st.lists(_fragment, max_size=16).map(lambda parts: "".join(parts).encode()),
    st.builds(lambda keys, quiet, noise: (
        "<Delete>" + (f"<Quiet>{quiet}</Quiet>" if quiet else "") + noise
        + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys) + "</Delete>").encode(),
        st.lists(st.sampled_from([*KEYS, "missing", "x" * 1100]), max_size=5),
        st.sampled_from(["", "true", "false"]), st.sampled_from(["", "<Extra/>", "text"])))
