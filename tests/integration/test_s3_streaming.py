"""
Memory stays flat through the S3 API: a 2 GiB PutObject sent as a signed
``aws-chunked`` body (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, every chunk's
signature checked as it streams) and a 2 GiB GetObject leave the real twistd
gateway process's peak RSS within ``ALLOWANCE`` of what a 256 MiB transfer
reached, on both metadata backends: standalone on SQLite, and a gateway on
PostgreSQL with a storage node process of its own.

The process runs with the settings s3node ships (glibc's allocator as
:mod:`s3node._malloc` tunes it for the gateway: one arena, chunks mmapped, the
heap trimmed as chunks go through).  A buffer kept too long, a queue without a
bound or a heap that keeps the holes of freed socket reads would add tens to
hundreds of MiB (docs/s3.md, "Memory with 2 GiB").
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from support.nodeauth import write_secret
from support.processes import start_twistd
from support.s3stream import get_streamed, put_signed_chunked

MiB = 1024 * 1024
GiB = 1024 * MiB
#: how much higher the peak may go for 2 GiB than for the warm-up: "a few MiB", about one
#: 8 MiB chunk at the most, where a leak adds tens of MiB per GiB.  Measured on the 2-core
#: machine with the shipped settings: standalone 1.4 to 4.8 MiB more over fourteen runs
#: (peaks of 106-111 MiB after a 100 MiB warm-up, 110-113 after 2 GiB); on PostgreSQL 2.2
#: to 6.5 MiB over eight, and 7.5 once in CI; 18-25 MiB before the allocator was tuned
#: (docs/s3.md, "Memory with 2 GiB").  On 2026-12-01, with chunks passed between the
#: gateway and its nodes as memfds (docs/grpc.md, "Local bulk puts"), a 256 MiB warm-up
#: peaked lower than before (105-106 MiB against 112-114 at 3fadae9) while 2 GiB peaked
#: as before (113-119 against 115-117): +7.4 to +9.3 MiB, failing the 7 MiB allowance
#: this had.  With a 512 MiB warm-up: standalone +0.0 to +5.9 MiB over six runs (warm-up
#: peaks 110.2-115.7), on PostgreSQL +3.5 to +8.2 over four; 3fadae9 with its 256 MiB
#: warm-up gave +6.6 and +8.8 on PostgreSQL the same hour.  Since 2026-12-02 both
#: objects declare more than 256 MiB and get 32 MiB chunks (docs/gateway.md, "Large
#: chunks for large objects"): standalone 153.7 -> 158.2 and 152.6 -> 154.2 MiB,
#: PostgreSQL 162.2 -> 167.3 and 161.1 -> 164.4.
ALLOWANCE = 10 * MiB
#: the first transfer, whose peak is the baseline: long enough for the heap and the
#: transfer's worst moment to settle (the peak still creeps up by a few MiB over a longer
#: transfer, as its worst moment gets worse; a leak adds tens of MiB per GiB)
WARM_UP = 512 * MiB
GATEWAY_READY = r"s3node gateway listening on 127\.0\.0\.1:(?P<port>\d+)"
STORAGE_READY = r"s3node storage \S+ listening on 127\.0\.0\.1:(?P<port>\d+)"


def transfer(s3: Any, s3_url: str, key: tuple[str, str], name: str, size: int) -> None:
    """Put ``size`` bytes as signed aws-chunked, get them back; both checked by MD5."""
    block = os.urandom(MiB)
    sent = hashlib.md5()

    def make(offset: int, length: int) -> bytes:
        data = block[:length] if offset % (2 * MiB) == 0 else block[::-1][:length]
        sent.update(data)
        return data

    status, body = put_signed_chunked(f"{s3_url}/big/{name}", *key, size, MiB, make)
    assert status == 200, body[:500]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": name},
                                    ExpiresIn=3600)
    got = hashlib.md5()
    status, total = get_streamed(url, {}, consume=got.update)
    assert (status, total) == (200, size)
    assert got.hexdigest() == sent.hexdigest()
    assert s3.head_object(Bucket="big", Key=name)["ETag"] == f'"{sent.hexdigest()}"'
    s3.delete_object(Bucket="big", Key=name)


def peaks_are_flat(proc: Any, s3_url: str, key: tuple[str, str]) -> None:
    """256 MiB, then 2 GiB, through the gateway ``proc``: its peak RSS after the second is
    within ALLOWANCE of its peak after the first."""
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="big")
    transfer(s3, s3_url, key, "small", WARM_UP)
    small = proc.status("VmHWM") * 1024
    transfer(s3, s3_url, key, "large", 2 * GiB)
    large = proc.status("VmHWM") * 1024
    print(f"gateway peak RSS: {small / MiB:.1f} MiB after {WARM_UP // MiB} MiB, "
          f"{large / MiB:.1f} after 2 GiB")
    assert large - small <= ALLOWANCE, (
        f"peak RSS {small / MiB:.1f} MiB after {WARM_UP // MiB} MiB, "
        f"{large / MiB:.1f} MiB after 2 GiB")


@pytest.mark.integration
def test_two_gib_through_s3_keeps_the_gateway_rss_flat(tmp_path: Path) -> None:
    """Standalone (SQLite, one node process): the peak RSS after 2 GiB up and down is
    within ALLOWANCE of the peak after the warm-up."""
    with start_twistd(
        ["s3node", "standalone", "--data-dir", str(tmp_path / "data"), "--nodes", "1",
         "--replicas", "1", "--listen", "tcp:0:interface=127.0.0.1",
         "--s3-listen", "tcp:0:interface=127.0.0.1", "--sweep-interval", "1", "--no-fsync"],
        cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60,
    ) as proc:
        text = (tmp_path / "data" / "s3-credentials").read_text()
        found = dict(re.findall(r"(aws_access_key_id|aws_secret_access_key)\s*=\s*(\S+)", text))
        key = (found["aws_access_key_id"], found["aws_secret_access_key"])
        peaks_are_flat(proc, s3_url_of(proc), key)


@pytest.mark.integration
@pytest.mark.postgresql
def test_two_gib_through_s3_on_postgresql_keeps_the_gateway_rss_flat(
        cluster: Any, admin_key_in: Callable[[str], tuple[str, str]], tmp_path: Path) -> None:
    """A gateway process on PostgreSQL, with a storage node process of its own: the same."""
    db = cluster.postgres.create_database("s3node_rss")
    secret = ("--cluster-secret-file", str(write_secret(tmp_path / "cluster-secret")))
    with start_twistd(
        ["s3node", "storage", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "n1"),
         "--node-id", "n1", "--no-fsync", *secret],
        cwd=tmp_path, ready_pattern=STORAGE_READY, timeout=60,
    ) as node, start_twistd(
        ["s3node", "gateway", "--listen", "tcp:0:interface=127.0.0.1", "--db", db,
         "--replicas", "1", "--sweep-interval", "1", "--s3-listen", "tcp:0:interface=127.0.0.1",
         "--node", f"n1=127.0.0.1:{node.port}", *secret],
        cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60,
    ) as gateway:
        peaks_are_flat(gateway, s3_url_of(gateway), admin_key_in(db))


def s3_url_of(proc: Any) -> str:
    """The S3 endpoint the gateway ``proc`` logged."""
    port = proc.wait_for(r"s3node s3 listening on 127\.0\.0\.1:(?P<port>\d+)",
                         timeout=60).group("port")
    return f"http://127.0.0.1:{port}"
