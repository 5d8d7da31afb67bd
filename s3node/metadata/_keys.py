"""
What every metadata store shares for access keys: input checks, and the
text form of a key's grants in the ``access_keys.grants`` column.

Grants are stored as space-separated ``PERM:SCOPE`` words (``PERM`` is ``r``,
``w`` or ``rw``; ``SCOPE`` is ``*``, ``/files`` or a bucket name), sorted by
scope: ``rw:/files r:photos``, readable in an operator's query.  Pure
functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from s3node.errors import InvalidRequest
from s3node.metadata._objects import check_access_key_id
from s3node.records import GRANT_SCOPE_PATTERN, AccessKey, Grant

__all__ = [
    "ACCESS_KEY_COLUMNS",
    "MAX_GRANTS",
    "access_key_from_row",
    "check_access_key",
    "check_grants",
    "decode_grants",
    "encode_grants",
]

#: the most grants one key holds
MAX_GRANTS = 100
_SCOPE = re.compile(GRANT_SCOPE_PATTERN)
_PERMS = {(True, False): "r", (False, True): "w", (True, True): "rw"}
#: the columns :func:`access_key_from_row` reads
ACCESS_KEY_COLUMNS = "id, secret, created_at, description, revoked_at, admin, grants"


def check_grants(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """``grants`` checked (scopes, at least one permission each, no scope twice), by scope."""
    checked = tuple(grants)
    if len(checked) > MAX_GRANTS:
        raise InvalidRequest(f"a key holds at most {MAX_GRANTS} grants")
    seen: set[str] = set()
    for grant in checked:
        if not isinstance(grant, Grant) or not isinstance(grant.scope, str):
            raise InvalidRequest("a grant is a scope with read and/or write")
        if not _SCOPE.fullmatch(grant.scope):
            raise InvalidRequest(
                f"a grant's scope is '*' (every bucket), '/files' or a bucket name,"
                f" not {grant.scope[:70]!r}")
        if not (grant.read is True or grant.write is True) or not all(
                isinstance(p, bool) for p in (grant.read, grant.write)):
            raise InvalidRequest(f"the grant on {grant.scope} gives neither read nor write")
        if grant.scope in seen:
            raise InvalidRequest(f"two grants on {grant.scope}")
        seen.add(grant.scope)
    return tuple(sorted(checked, key=lambda g: g.scope))


def check_access_key(key: AccessKey) -> None:
    """A new access key: its id, a secret of 16 to 128 printable ASCII characters, its grants."""
    check_access_key_id(key.access_key_id)
    secret = key.secret
    if not isinstance(secret, str) or not 16 <= len(secret) <= 128 or not (
            secret.isascii() and secret.isprintable()):
        raise InvalidRequest("a secret is 16 to 128 printable ASCII characters")
    if not isinstance(key.description, str) or len(key.description) > 200:
        raise InvalidRequest("a key's description is text of at most 200 characters")
    if not isinstance(key.admin, bool):
        raise InvalidRequest("admin is true or false")
    check_grants(key.grants)


def encode_grants(grants: Iterable[Grant]) -> str:
    """The column text of ``grants`` (checked)."""
    return " ".join(f"{_PERMS[(g.read, g.write)]}:{g.scope}" for g in check_grants(grants))


def decode_grants(text: str) -> tuple[Grant, ...]:
    """The grants of a column's text."""
    grants = []
    for word in text.split():
        perms, _, scope = word.partition(":")
        grants.append(Grant(scope, "r" in perms, "w" in perms))
    return tuple(grants)


def access_key_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> AccessKey:
    """An access key from a row of :data:`ACCESS_KEY_COLUMNS`."""
    key_id, secret, created, description, revoked, admin, grants = row
    return AccessKey(key_id, secret, moment(created), description,
                     None if revoked is None else moment(revoked), bool(admin),
                     decode_grants(grants))
