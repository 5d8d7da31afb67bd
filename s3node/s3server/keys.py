"""
Access keys (for S3 and the REST API): the admin key standalone creates on
its first start, and the admin key ``--admin-key-file`` names.

An access key id is 20 upper-case letters and digits starting ``S3N`` (AWS's
are 20 characters too, so tools that check the shape accept it); a secret is
40 characters of the URL-safe base64 alphabet from :mod:`secrets`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from twisted.logger import Logger

from s3node.errors import ConfigurationError, Conflict
from s3node.gateway.keyring import new_access_key
from s3node.interfaces import MetadataStore
from s3node.records import AccessKey

__all__ = [
    "CONFIG_FILE",
    "CREDENTIALS_FILE",
    "ensure_admin_key_file",
    "ensure_first_key",
    "new_access_key",
    "read_credentials",
]

log = Logger()

#: standalone's first key, in the AWS shared credentials format, under --data-dir
CREDENTIALS_FILE = "s3-credentials"
#: beside it, an AWS config file: the region, SigV4 for presigned URLs, path-style
CONFIG_FILE = "s3-config"


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


def read_credentials(text: str) -> tuple[str, str]:
    """
    The ``[default]`` key of an AWS shared credentials file (the first
    profile's if none is called default): its id and secret.

    :raises s3node.errors.ConfigurationError: no key in it.
    """
    profiles: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = profiles.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            current[name.strip()] = value.strip()
    chosen = profiles.get("default") or next(iter(profiles.values()), {})
    key_id, secret = chosen.get("aws_access_key_id"), chosen.get("aws_secret_access_key")
    if not key_id or not secret:
        raise ConfigurationError(
            "no aws_access_key_id and aws_secret_access_key in the credentials file")
    return key_id, secret


async def ensure_admin_key_file(store: MetadataStore, path: Path) -> None:
    """
    Make the key of the credentials file ``path`` an admin key, unless a key
    has its id already (then it is left as it is: disabled, or changed by an
    admin, it stays so).
    """
    try:
        key_id, secret = read_credentials(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError(f"cannot read --admin-key-file {path}: {e.strerror}") from None
    if any(k.access_key_id == key_id for k in await store.list_access_keys()):
        return
    try:
        await store.add_access_key(AccessKey(key_id, secret, datetime.now(UTC),
                                             "from --admin-key-file", admin=True))
    except Conflict:
        return  # another gateway added it first
    log.info("admin access key {access_key_id} added from {path}", access_key_id=key_id,
             path=str(path))


async def ensure_first_key(store: MetadataStore, data_dir: Path, *, region: str,
                           url: str, s3_url: str | None) -> AccessKey | None:
    """
    On standalone's first start (no access key in the metadata), create an
    admin key,
    save it owner-only in ``data_dir/s3-credentials`` with an AWS config file
    beside it (``s3-config``: the region, SigV4 presigning, path-style), make ``data_dir``
    (whose metadata database holds the secret as well) owner-only, log once
    how to use it, and return it.  Later starts change nothing and return
    ``None``.
    """
    if await store.list_access_keys():
        return None
    key = replace(new_access_key("created by standalone on its first start"), admin=True)
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
    s3 = (f" S3: AWS_SHARED_CREDENTIALS_FILE={path} AWS_CONFIG_FILE={config} "
          f"aws --endpoint-url {s3_url} s3 ls." if s3_url else "")
    log.info(
        "admin access key created: ACCESS_KEY={access_key_id} SECRET={secret} (also saved in "
        "{path}, readable by this user only). REST: curl -u ACCESS_KEY:SECRET {url}/files;"
        " the s3node command: export S3NODE_ACCESS_KEY=ACCESS_KEY S3NODE_SECRET_KEY=SECRET"
        " (or --credentials-file {path}).{s3}",
        access_key_id=key.access_key_id, secret=key.secret, path=str(path),
        config=str(config), url=url, s3=s3, region=region)
    return key
