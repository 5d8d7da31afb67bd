"""The MetadataStore contract for access keys' permissions (migration 0006), on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted

from s3node.errors import AccessKeyNotFound, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import AccessKey, Grant

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
KEY_ID = "S3NODEKEY00000000PRM"


@pytest_twisted.ensureDeferred
async def test_a_key_keeps_its_role_and_grants(store: MetadataStore) -> None:
    """admin and grants are stored with the key, grants sorted by scope; a key without
    them is a user key that may do nothing."""
    grants = (Grant("photos", read=True), Grant("/files", read=True, write=True),
              Grant("*", write=True))
    await store.add_access_key(AccessKey(KEY_ID, "s" * 40, EPOCH, "user", grants=grants))
    await store.add_access_key(AccessKey("S3NODEKEY00000000ADM", "a" * 40, EPOCH, admin=True))
    await store.add_access_key(AccessKey("S3NODEKEY00000000NIL", "n" * 40, EPOCH))
    found = await store.get_access_key(KEY_ID)
    assert not found.admin
    assert found.grants == (Grant("*", False, True), Grant("/files", True, True),
                            Grant("photos", True, False))
    assert (await store.get_access_key("S3NODEKEY00000000ADM")).admin
    nil = await store.get_access_key("S3NODEKEY00000000NIL")
    assert (nil.admin, nil.grants) == (False, ())
    listed = {k.access_key_id: k for k in await store.list_access_keys()}
    assert listed[KEY_ID].grants == found.grants and listed["S3NODEKEY00000000ADM"].admin


@pytest_twisted.ensureDeferred
async def test_grants_are_replaced_and_checked(store: MetadataStore) -> None:
    """set_access_key_grants replaces role and grants at once; malformed grants change nothing."""
    await store.add_access_key(AccessKey(KEY_ID, "s" * 40, EPOCH, grants=(Grant("a1b", True),)))
    changed = await store.set_access_key_grants(KEY_ID, admin=True, grants=[])
    assert (changed.admin, changed.grants) == (True, ())
    changed = await store.set_access_key_grants(
        KEY_ID, admin=False, grants=[Grant("logs", write=True)])
    assert (changed.admin, changed.grants) == (False, (Grant("logs", False, True),))
    bad = ([Grant("No Bucket", True)], [Grant("x", True)], [Grant("logs")],
           [Grant("logs", True), Grant("logs", write=True)], [Grant("*", True)] * 101)
    for grants in bad:
        with pytest.raises(InvalidRequest):
            await store.set_access_key_grants(KEY_ID, admin=False, grants=grants)
    with pytest.raises(InvalidRequest):
        await store.add_access_key(AccessKey("S3NODEKEY00000000BAD", "b" * 40, EPOCH,
                                             grants=(Grant("../etc", True),)))
    assert (await store.get_access_key(KEY_ID)).grants == (Grant("logs", False, True),)
    with pytest.raises(AccessKeyNotFound):
        await store.set_access_key_grants("S3NODEKEY0000000NONE", admin=True, grants=[])


@pytest_twisted.ensureDeferred
async def test_keys_are_disabled_enabled_and_deleted(store: MetadataStore) -> None:
    """A disabled key is not found for signing but stays listed; enabling it again (twice
    is harmless) brings it back; a deleted key is gone."""
    await store.add_access_key(AccessKey(KEY_ID, "s" * 40, EPOCH, admin=True))
    off = await store.set_access_key_enabled(KEY_ID, False)
    assert off.revoked_at is not None and off.admin
    again = await store.set_access_key_enabled(KEY_ID, False)
    assert again.revoked_at == off.revoked_at
    with pytest.raises(AccessKeyNotFound):
        await store.get_access_key(KEY_ID)
    assert [k.revoked_at for k in await store.list_access_keys()] == [off.revoked_at]
    on = await store.set_access_key_enabled(KEY_ID, True)
    assert on.revoked_at is None and (await store.get_access_key(KEY_ID)).secret == "s" * 40
    await store.delete_access_key(KEY_ID)
    assert await store.list_access_keys() == []
    for call in (store.get_access_key, store.delete_access_key):
        with pytest.raises(AccessKeyNotFound):
            await call(KEY_ID)
    with pytest.raises(AccessKeyNotFound):
        await store.set_access_key_enabled(KEY_ID, True)
