"""
The metadata store's seam, part KeyMetadata: access keys and their grants
(docs/security.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from s3node.records import (
    AccessKey,
    Grant,
)


class KeyMetadata(Protocol):
    """
    The access keys' metadata.

    Part of :class:`s3node.interfaces.metadata.MetadataStore`; see there for
    the errors every method may raise.
    """

    async def add_access_key(self, key: AccessKey) -> None:
        """
        Record a new access key.

        :raises s3node.errors.Conflict: an access key has that id.
        """

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        """
        A key that is not revoked.

        :raises s3node.errors.AccessKeyNotFound: no such key, or it was revoked.
        """

    async def list_access_keys(self) -> Sequence[AccessKey]:
        """Every access key, revoked ones included, by id."""

    async def revoke_access_key(self, access_key_id: str) -> None:
        """
        Disable a key (it stays listed, with ``revoked_at``).

        :raises s3node.errors.AccessKeyNotFound: no such key, or already disabled.
        """

    async def set_access_key_enabled(self, access_key_id: str, enabled: bool) -> AccessKey:
        """
        Enable or disable a key (again: nothing changes); the key as it is now.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        """

    async def set_access_key_grants(self, access_key_id: str, *, admin: bool,
                                    grants: Sequence[Grant]) -> AccessKey:
        """
        Replace what a key may do, in one statement; the key as it is now.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        :raises s3node.errors.InvalidRequest: malformed grants.
        """

    async def delete_access_key(self, access_key_id: str) -> None:
        """
        Delete a key for good.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        """
