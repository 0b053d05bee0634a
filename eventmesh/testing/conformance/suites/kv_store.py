"""The KeyValueStore protocol: versions, conditional writes and deletes, expiry."""

from __future__ import annotations

import asyncio

import pytest

from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import KeyValueStore, StoredValue
from eventmesh.testing.conformance.capabilities import Capabilities, Ttl
from eventmesh.testing.conformance.timing import TimeDriver


async def expires_with_the_store(
    kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
) -> None:
    """``Ttl.PER_STORE``: a put with the store's expiry is kept that long, another is refused."""
    store_ttl = capabilities.store_ttl or 0.0
    with pytest.raises(ConfigurationError):
        await kv_store.put("other", b"v", ttl=store_ttl + 1)
    assert await kv_store.get("other") is None
    version = await kv_store.put("k", b"v", ttl=store_ttl)
    assert await kv_store.get("k") == StoredValue(b"v", version or 0, timing.at(store_ttl))
    await timing.advance_past(store_ttl, slack=capabilities.ttl_resolution)
    assert await kv_store.get("k") is None


class KeyValueStoreSuite:
    """The KeyValueStore protocol; subclass as ``class TestKeyValueStore(KeyValueStoreSuite)``."""

    async def test_is_a_key_value_store(self, kv_store: KeyValueStore) -> None:
        assert isinstance(kv_store, KeyValueStore)

    async def test_a_missing_key_is_none(self, kv_store: KeyValueStore) -> None:
        assert await kv_store.get("nothing") is None

    async def test_put_then_get(self, kv_store: KeyValueStore) -> None:
        version = await kv_store.put("k", b"v")
        assert version is not None
        assert version >= 1
        assert await kv_store.get("k") == StoredValue(b"v", version, None)

    async def test_keys_are_separate(self, kv_store: KeyValueStore) -> None:
        await kv_store.put("a", b"1")
        await kv_store.put("b", b"2")
        assert [(await kv_store.get(key)) is not None for key in ("a", "b", "c")] == [
            True,
            True,
            False,
        ]
        assert (await kv_store.get("a") or StoredValue(b"", 0)).value == b"1"

    async def test_each_write_increases_the_version(self, kv_store: KeyValueStore) -> None:
        first = await kv_store.put("k", b"1")
        second = await kv_store.put("k", b"2")
        third = await kv_store.put("k", b"3")
        assert first is not None and second is not None and third is not None
        assert first < second < third
        assert await kv_store.get("k") == StoredValue(b"3", third, None)

    async def test_only_if_absent_writes_a_new_key_only(self, kv_store: KeyValueStore) -> None:
        version = await kv_store.put("k", b"first", only_if_absent=True)
        assert version is not None
        assert await kv_store.put("k", b"second", only_if_absent=True) is None
        assert await kv_store.get("k") == StoredValue(b"first", version, None)

    async def test_only_if_version_writes_over_that_version_only(
        self, kv_store: KeyValueStore
    ) -> None:
        old = await kv_store.put("k", b"1")
        assert old is not None
        new = await kv_store.put("k", b"2", only_if_version=old)
        assert new is not None and new > old
        assert await kv_store.put("k", b"3", only_if_version=old) is None  # stale
        assert await kv_store.get("k") == StoredValue(b"2", new, None)

    async def test_only_if_version_fails_on_a_missing_key(self, kv_store: KeyValueStore) -> None:
        assert await kv_store.put("k", b"v", only_if_version=1) is None
        assert await kv_store.get("k") is None

    async def test_a_value_expires_after_its_ttl(
        self, kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.ttl is Ttl.PER_STORE:
            await expires_with_the_store(kv_store, timing, capabilities)
            return
        version = await kv_store.put("k", b"v", ttl=timing.seconds(30))
        assert await kv_store.get("k") == StoredValue(b"v", version or 0, timing.at(30))
        await timing.advance_before(29.5)
        assert await kv_store.get("k") == StoredValue(b"v", version or 0, timing.at(30))
        await timing.advance_past(1, slack=capabilities.ttl_resolution)
        assert await kv_store.get("k") is None

    async def test_an_expired_value_is_absent_to_conditional_puts(
        self, kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.ttl is Ttl.PER_STORE:
            await expires_with_the_store(kv_store, timing, capabilities)
            return
        old = await kv_store.put("k", b"lease-1", ttl=timing.seconds(10))
        await timing.advance_past(10.5, slack=capabilities.ttl_resolution)
        assert await kv_store.put("k", b"late", only_if_version=old) is None
        new = await kv_store.put("k", b"lease-2", only_if_absent=True, ttl=timing.seconds(10))
        assert new is not None and old is not None and new > old
        assert await kv_store.get("k") == StoredValue(b"lease-2", new, timing.at(20.5))

    async def test_an_expired_value_cannot_be_deleted(
        self, kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.ttl is Ttl.PER_STORE:
            await expires_with_the_store(kv_store, timing, capabilities)
            return
        version = await kv_store.put("k", b"v", ttl=timing.seconds(5))
        await timing.advance_past(6, slack=capabilities.ttl_resolution)
        assert not await kv_store.delete("k")
        assert not await kv_store.delete("k", only_if_version=version)

    async def test_a_write_without_ttl_clears_the_expiry(
        self, kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.ttl is Ttl.PER_STORE:
            await expires_with_the_store(kv_store, timing, capabilities)
            return
        await kv_store.put("k", b"short", ttl=timing.seconds(5))
        version = await kv_store.put("k", b"forever")
        await timing.advance(60)  # well past the first ttl
        assert await kv_store.get("k") == StoredValue(b"forever", version or 0, None)

    async def test_a_write_with_a_new_ttl_replaces_the_expiry(
        self, kv_store: KeyValueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.ttl is Ttl.PER_STORE:
            await expires_with_the_store(kv_store, timing, capabilities)
            return
        first = await kv_store.put("k", b"v", ttl=timing.seconds(5))
        await timing.advance_before(4)
        renewed = await kv_store.put("k", b"v", ttl=timing.seconds(5), only_if_version=first)
        assert renewed is not None
        await timing.advance(4)  # past the first expiry, before the renewed one
        assert await kv_store.get("k") == StoredValue(b"v", renewed, timing.at(9))
        await timing.advance_past(1.5, slack=capabilities.ttl_resolution)
        assert await kv_store.get("k") is None

    async def test_delete_removes_a_key(self, kv_store: KeyValueStore) -> None:
        await kv_store.put("k", b"v")
        assert await kv_store.delete("k")
        assert await kv_store.get("k") is None
        assert not await kv_store.delete("k")

    async def test_delete_of_a_missing_key_is_false(self, kv_store: KeyValueStore) -> None:
        assert not await kv_store.delete("nothing")
        assert not await kv_store.delete("nothing", only_if_version=1)

    async def test_delete_only_if_version(self, kv_store: KeyValueStore) -> None:
        old = await kv_store.put("k", b"1")
        new = await kv_store.put("k", b"2")
        assert not await kv_store.delete("k", only_if_version=old)
        assert await kv_store.get("k") == StoredValue(b"2", new or 0, None)
        assert await kv_store.delete("k", only_if_version=new)
        assert await kv_store.get("k") is None

    async def test_versions_keep_increasing_across_a_delete(self, kv_store: KeyValueStore) -> None:
        """A version read before a delete never matches the key's next value (no ABA)."""
        before = await kv_store.put("k", b"1")
        await kv_store.put("k", b"2")
        assert await kv_store.delete("k")
        after = await kv_store.put("k", b"again")
        assert before is not None and after is not None and after > before
        assert await kv_store.put("k", b"stale", only_if_version=before) is None

    async def test_one_of_many_concurrent_put_if_absent_wins(self, kv_store: KeyValueStore) -> None:
        results = await asyncio.gather(
            *(kv_store.put("lease", str(i).encode(), only_if_absent=True) for i in range(50))
        )
        winners = [i for i, version in enumerate(results) if version is not None]
        assert len(winners) == 1
        stored = await kv_store.get("lease")
        assert stored == StoredValue(str(winners[0]).encode(), results[winners[0]] or 0, None)

    async def test_both_conditions_at_once_are_refused(self, kv_store: KeyValueStore) -> None:
        with pytest.raises(ValueError, match=r"^give only_if_absent or only_if_version, not both$"):
            await kv_store.put("k", b"v", only_if_absent=True, only_if_version=1)
        assert await kv_store.get("k") is None
