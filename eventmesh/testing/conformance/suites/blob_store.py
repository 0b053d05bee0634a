"""The BlobStore protocol: put, get, head, delete, and listing in key order."""

from __future__ import annotations

from eventmesh.backends.protocols import BlobInfo, BlobStore
from eventmesh.testing.conformance.timing import TimeDriver

MD5_HELLO = "5d41402abc4b2a76b9719d911017c592"  # md5(b"hello")
MD5_WORLD = "7d793037a0760186574b0282f2f435e7"  # md5(b"world")
MD5_WORLD_BANG = "08cf82251c975a5e9734699fadf5e9c0"  # md5(b"world!")
MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"  # md5(b"")


async def put_keys(blob_store: BlobStore, *keys: str, bucket: str = "b") -> None:
    for key in keys:
        await blob_store.put(bucket, key, key.encode())


async def listed(blob_store: BlobStore, bucket: str = "b", **options: object) -> list[str]:
    return [info.key for info in await blob_store.list(bucket, **options)]  # type: ignore[arg-type]


class BlobStoreSuite:
    """The BlobStore protocol; subclass as ``class TestBlobStore(BlobStoreSuite)``."""

    async def test_is_a_blob_store(self, blob_store: BlobStore) -> None:
        assert isinstance(blob_store, BlobStore)

    async def test_put_describes_the_object(
        self, timing: TimeDriver, blob_store: BlobStore
    ) -> None:
        info = await blob_store.put("b", "greeting.txt", b"hello", {"lang": "en"}, "text/plain")
        assert info == BlobInfo(
            "greeting.txt", 5, MD5_HELLO, timing.at(0), {"lang": "en"}, "text/plain"
        )

    async def test_put_defaults(self, timing: TimeDriver, blob_store: BlobStore) -> None:
        info = await blob_store.put("b", "k", b"hello")
        assert info == BlobInfo("k", 5, MD5_HELLO, timing.at(0), {}, "application/octet-stream")

    async def test_an_empty_object(self, timing: TimeDriver, blob_store: BlobStore) -> None:
        assert await blob_store.put("b", "empty", b"") == BlobInfo(
            "empty", 0, MD5_EMPTY, timing.at(0)
        )
        assert await blob_store.get("b", "empty") == (
            b"",
            BlobInfo("empty", 0, MD5_EMPTY, timing.at(0)),
        )

    async def test_get_returns_the_bytes_and_the_description(
        self, timing: TimeDriver, blob_store: BlobStore
    ) -> None:
        await blob_store.put("b", "k", b"hello", {"m": "1"}, "text/plain")
        expected = BlobInfo("k", 5, MD5_HELLO, timing.at(0), {"m": "1"}, "text/plain")
        assert await blob_store.get("b", "k") == (b"hello", expected)
        assert await blob_store.head("b", "k") == expected

    async def test_missing_objects_and_buckets(self, blob_store: BlobStore) -> None:
        await blob_store.put("b", "k", b"hello")
        assert await blob_store.get("b", "other") is None
        assert await blob_store.head("b", "other") is None
        assert await blob_store.get("nobucket", "k") is None
        assert await blob_store.list("nobucket") == []

    async def test_buckets_are_separate(self, blob_store: BlobStore) -> None:
        await blob_store.put("one", "k", b"hello")
        assert await blob_store.get("two", "k") is None
        assert await listed(blob_store, "two") == []
        assert not await blob_store.delete("two", "k")
        assert await blob_store.head("one", "k") is not None

    async def test_put_overwrites(self, blob_store: BlobStore, timing: TimeDriver) -> None:
        await blob_store.put("b", "k", b"hello", {"old": "1"}, "text/plain")
        await timing.advance(60)
        info = await blob_store.put("b", "k", b"world!", {"new": "2"})
        expected = BlobInfo("k", 6, MD5_WORLD_BANG, timing.at(60), {"new": "2"})
        assert info == expected
        assert await blob_store.get("b", "k") == (b"world!", expected)
        assert await listed(blob_store) == ["k"]

    async def test_the_etag_is_the_md5_of_the_bytes(self, blob_store: BlobStore) -> None:
        assert (await blob_store.put("b", "1", b"hello")).etag == MD5_HELLO
        assert (await blob_store.put("b", "2", b"world")).etag == MD5_WORLD
        assert (await blob_store.put("b", "3", b"hello")).etag == MD5_HELLO

    async def test_delete(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "a", "b", "c")
        assert await blob_store.delete("b", "b")
        assert await blob_store.get("b", "b") is None
        assert await blob_store.head("b", "b") is None
        assert not await blob_store.delete("b", "b")
        assert await listed(blob_store) == ["a", "c"]

    async def test_a_deleted_key_can_be_written_again(
        self, timing: TimeDriver, blob_store: BlobStore
    ) -> None:
        await put_keys(blob_store, "a", "b")
        await blob_store.delete("b", "a")
        await blob_store.put("b", "a", b"hello")
        assert await listed(blob_store) == ["a", "b"]
        assert await blob_store.get("b", "a") == (
            b"hello",
            BlobInfo("a", 5, MD5_HELLO, timing.at(0)),
        )

    async def test_list_is_in_key_order(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "b/2", "a", "b/10", "B", "b/1", "c")
        assert await listed(blob_store) == ["B", "a", "b/1", "b/10", "b/2", "c"]

    async def test_list_describes_each_object(
        self, timing: TimeDriver, blob_store: BlobStore
    ) -> None:
        await blob_store.put("b", "x", b"world", {"m": "v"}, "text/plain")
        await blob_store.put("b", "w", b"hello")
        assert await blob_store.list("b") == [
            BlobInfo("w", 5, MD5_HELLO, timing.at(0)),
            BlobInfo("x", 5, MD5_WORLD, timing.at(0), {"m": "v"}, "text/plain"),
        ]

    async def test_list_by_prefix(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "logs/2", "logs/1", "log", "logs0", "img/1", "logsa")
        assert await listed(blob_store, prefix="logs/") == ["logs/1", "logs/2"]
        assert await listed(blob_store, prefix="log") == [
            "log",
            "logs/1",
            "logs/2",
            "logs0",
            "logsa",
        ]
        assert await listed(blob_store, prefix="nothing") == []
        assert await listed(blob_store, prefix="") == [
            "img/1",
            "log",
            "logs/1",
            "logs/2",
            "logs0",
            "logsa",
        ]

    async def test_list_after_a_key(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "a", "b", "c", "d")
        assert await listed(blob_store, start_after="b") == ["c", "d"]
        assert await listed(blob_store, start_after="bb") == ["c", "d"]  # need not be a key
        assert await listed(blob_store, start_after="") == ["a", "b", "c", "d"]
        assert await listed(blob_store, start_after="d") == []
        assert await listed(blob_store, start_after="z") == []

    async def test_list_by_prefix_and_after_a_key(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "a/1", "a/2", "a/3", "b/1", "b/2")
        assert await listed(blob_store, prefix="a/", start_after="a/1") == ["a/2", "a/3"]
        assert await listed(blob_store, prefix="b/", start_after="a/2") == ["b/1", "b/2"]
        assert await listed(blob_store, prefix="a/", start_after="a/3") == []
        assert await listed(blob_store, prefix="a/", start_after="b") == []

    async def test_list_up_to_a_limit(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "a", "b", "c", "d", "e")
        assert await listed(blob_store, limit=2) == ["a", "b"]
        assert await listed(blob_store, start_after="b", limit=2) == ["c", "d"]
        assert await listed(blob_store, prefix="e", limit=2) == ["e"]
        assert await listed(blob_store, limit=10) == ["a", "b", "c", "d", "e"]

    async def test_paging_with_start_after_visits_every_key_once(
        self, blob_store: BlobStore
    ) -> None:
        await put_keys(blob_store, *(f"k/{i:02}" for i in range(7)), "j", "l")
        pages: list[list[str]] = []
        after = ""
        for _ in range(5):  # bounded, so that a store repeating a page fails instead of hanging
            page = await listed(blob_store, prefix="k/", start_after=after, limit=3)
            if not page:
                break
            pages.append(page)
            after = page[-1]
        assert pages == [["k/00", "k/01", "k/02"], ["k/03", "k/04", "k/05"], ["k/06"]]

    async def test_list_returns_up_to_1000_objects_by_default(self, blob_store: BlobStore) -> None:
        """S3 ListObjectsV2 returns at most 1,000 keys unless MaxKeys says fewer."""
        await put_keys(blob_store, *(f"k{i:04}" for i in range(1001)))
        keys = await listed(blob_store)
        assert (len(keys), keys[0], keys[-1]) == (1000, "k0000", "k0999")

    async def test_list_with_a_limit_of_one_and_of_zero(self, blob_store: BlobStore) -> None:
        await put_keys(blob_store, "a", "b")
        assert await listed(blob_store, limit=1) == ["a"]
        assert await listed(blob_store, start_after="a", limit=1) == ["b"]
        assert await listed(blob_store, limit=0) == []
