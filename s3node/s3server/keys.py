"""
S3 access keys: new ones, and the one standalone creates on its first start.

An access key id is 20 upper-case letters and digits starting ``S3N`` (AWS's
are 20 characters too, so tools that check the shape accept it); a secret is
40 characters of the URL-safe base64 alphabet from :mod:`secrets`.
"""

from __future__ import annotations

import os
import secrets
import string
from datetime import UTC, datetime
from pathlib import Path

from twisted.logger import Logger

from s3node.interfaces import MetadataStore
from s3node.records import AccessKey

__all__ = ["CONFIG_FILE", "CREDENTIALS_FILE", "ensure_first_key", "new_access_key"]

log = Logger()

#: standalone's first key, in the AWS shared credentials format, under --data-dir
CREDENTIALS_FILE = "s3-credentials"
#: beside it, an AWS config file: the region, SigV4 for presigned URLs, path-style
CONFIG_FILE = "s3-config"
_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_access_key(description: str = "") -> AccessKey:
    """A fresh random access key (its ``created_at`` is set by the store)."""
    key_id = "S3N" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))
    secret = secrets.token_urlsafe(30)  # 40 characters
    return AccessKey(key_id, secret, datetime.now(UTC), description)


def credentials_text(key: AccessKey, region: str) -> str:
    """``key`` as a profile of an AWS shared credentials file."""
    return (
        "[default]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret}\n"
        f"# region: {region}\n"
    )


def config_text(region: str) -> str:
    """An AWS config file's default profile for s3node: the region, SigV4, path-style."""
    return (
        "[default]\n"
        f"region = {region}\n"
        "s3 =\n"
        "    signature_version = s3v4\n"
        "    addressing_style = path\n"
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


async def ensure_first_key(store: MetadataStore, data_dir: Path, *, region: str,
                           endpoint: str) -> AccessKey | None:
    """
    On standalone's first start (no access key in the metadata), create one,
    save it owner-only in ``data_dir/s3-credentials`` with an AWS config file
    beside it (``s3-config``: the region, SigV4 presigning, path-style), make ``data_dir``
    (whose metadata database holds the secret as well) owner-only, log once
    how to use it, and return it.  Later starts change nothing and return
    ``None``.
    """
    if await store.list_access_keys():
        return None
    key = new_access_key("created by standalone on its first start")
    # the metadata database in the data dir holds the secret too (SigV4 needs it)
    os.chmod(data_dir, 0o700)
    path = data_dir / CREDENTIALS_FILE
    # written (owner-only) before the key exists in the store: a crash between
    # the two leaves a file naming an unknown key, never a key nobody can read
    _write_private(path, credentials_text(key, region))
    config = data_dir / CONFIG_FILE
    _write_private(config, config_text(region))
    await store.add_access_key(key)
    # printed this once (the file keeps it): the operator's first way in
    log.info(
        "S3 access key created: AWS_ACCESS_KEY_ID={access_key_id} "
        "AWS_SECRET_ACCESS_KEY={secret} (also saved in {path}, readable by this user "
        "only). Use it with: AWS_SHARED_CREDENTIALS_FILE={path} AWS_CONFIG_FILE={config} "
        "aws --endpoint-url {endpoint} s3 ls",
        access_key_id=key.access_key_id, secret=key.secret, path=str(path),
        config=str(config), endpoint=endpoint, region=region)
    return key
