"""Backends are plug-ins: a storage URL's scheme picks a factory from the ``eventmesh.backends``
entry-point group; ``Mesh(storage=...)`` mixes protocols from several backends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from installed_distribution import install

from eventmesh import ConfigurationError, Mesh, Telemetry
from eventmesh.backends import (
    ENTRY_POINT_GROUP,
    Backend,
    Storage,
    installed_schemes,
    open_backend,
    open_storage,
)
from eventmesh.backends.memory import (
    MemoryKeyValueStore,
    MemoryLogStore,
    MemoryQueueStore,
    memory_backend,
)
from eventmesh.backends.sqlite import SQLiteBackend, SQLiteLogStore, SQLiteQueueStore
from eventmesh.testing import VirtualClock, settle

# A third-party backend: wraps the memory backend and says when it is opened and closed.
TOY = """
from eventmesh.backends import Backend, url_options
from eventmesh.backends.memory import memory_backend

EVENTS = []


class ToyBackend(Backend):
    async def close(self):
        EVENTS.append(("closed", self.url))


def open_toy(url, clock):
    url_options(url, url.partition("?")[2], {"shards": int})
    base = memory_backend(clock)
    backend = ToyBackend(base.queues, base.logs, base.values, base.blobs, in_memory=False)
    backend.url = url
    EVENTS.append(("opened", url))
    return backend


def refuse(url, clock):
    raise ConfigurationError(f"{url}: the broker refused the connection")


from eventmesh import ConfigurationError  # noqa: E402
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Install ``eventmesh-toy`` (schemes ``toy`` and ``refused``); its open/close log."""
    install(
        monkeypatch,
        tmp_path / "site",
        "eventmesh-toy",
        {"eventmesh_toy": TOY},
        {ENTRY_POINT_GROUP: {"toy": "eventmesh_toy:open_toy", "refused": "eventmesh_toy:refuse"}},
    )
    import eventmesh_toy  # type: ignore[import-not-found]

    events: list[tuple[str, str]] = eventmesh_toy.EVENTS
    return events


# -- the resolver ---------------------------------------------------------------------------------
def test_memory_and_sqlite_are_registered_as_entry_points_like_any_adapter() -> None:
    registered = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert registered["memory"] == "eventmesh.backends.memory:memory_factory"
    assert registered["sqlite"] == "eventmesh.backends.sqlite:sqlite_factory"
    # The workspace's adapters (eventmesh-redis) are installed in the development environment.
    assert installed_schemes() == sorted(registered)


def test_the_scheme_picks_the_backend(tmp_path: Path) -> None:
    clock = VirtualClock()
    assert isinstance(open_backend("memory", clock).queues, MemoryQueueStore)
    assert isinstance(open_backend("MEMORY://", clock).queues, MemoryQueueStore)
    sqlite = open_backend(f"sqlite:///{tmp_path / 'mesh.db'}", clock)
    assert isinstance(sqlite, SQLiteBackend)
    assert sqlite.path == str(tmp_path / "mesh.db")


def test_an_unknown_scheme_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_backend("kafka://broker:9092", VirtualClock())
    assert str(refused.value) == (
        "unknown storage 'kafka://broker:9092': no backend is registered for the scheme 'kafka' "
        f"(installed schemes: {', '.join(installed_schemes())}); a backend registers its "
        "scheme in the "
        "'eventmesh.backends' entry-point group"
    )


@pytest.mark.parametrize(
    ("url", "distribution"),
    [
        ("nats://localhost:4222", "eventmesh-nats"),
        ("amqp://guest@localhost/", "eventmesh-rabbitmq"),
        ("amqps://broker.example/", "eventmesh-rabbitmq"),
        ("aws://eu-west-1", "eventmesh-aws"),
        ("sqs://eu-west-1", "eventmesh-aws"),
    ],
)
def test_a_known_adapter_that_is_missing_says_what_to_install(url: str, distribution: str) -> None:
    scheme = url.partition(":")[0]
    with pytest.raises(ConfigurationError) as refused:
        Mesh(storage=url)
    assert str(refused.value).endswith(
        f": the backend for {scheme!r} is not installed. Install it with: pip install "
        f"{distribution} (installed schemes: {', '.join(installed_schemes())})"
    )


def test_a_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^unknown storage '/var/lib/mesh.db': it names no backend"
    ):
        open_backend("/var/lib/mesh.db", VirtualClock())


def test_the_error_never_shows_a_password_from_the_url() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Mesh(storage="redis://app:s3cret@cache:6379/0?password=hunter2")
    assert "s3cret" not in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert "'redis://***@cache:6379/0?password=***'" in str(refused.value)


def test_options_in_a_memory_url_are_checked_like_sqlites() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^'memory\?size=\*\*\*': unknown option 'size' \(known: none\)$"
    ):
        open_backend("memory?size=1", VirtualClock())
    with pytest.raises(ConfigurationError, match=r"is not a memory storage URL"):
        open_backend("memory://elsewhere", VirtualClock())


def test_a_third_party_backend_registered_by_entry_point_is_picked(
    toy: list[tuple[str, str]],
) -> None:
    assert {"memory", "refused", "sqlite", "toy"} <= set(installed_schemes())
    mesh = Mesh(storage="toy://cluster?shards=4", clock=VirtualClock())
    assert type(mesh.backend.queues) is MemoryQueueStore
    assert toy == [("opened", "toy://cluster?shards=4")]
    with pytest.raises(ConfigurationError, match=r"\(installed schemes: .*refused, sqlite, toy"):
        open_backend("kafka://broker", VirtualClock())


def test_a_third_party_backend_checks_its_own_options(toy: list[tuple[str, str]]) -> None:
    with pytest.raises(ConfigurationError, match=r"'toy://c\?shard=\*\*\*': unknown option"):
        open_backend("toy://c?shard=4", VirtualClock())
    with pytest.raises(ConfigurationError, match=r"shards='four' is not a number"):
        open_backend("toy://c?shards=four", VirtualClock())


def test_a_factory_that_fails_to_import_names_its_distribution_and_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        monkeypatch,
        tmp_path / "site",
        "eventmesh-broken",
        {"eventmesh_broken": "import a_client_library_that_is_not_installed\n"},
        {ENTRY_POINT_GROUP: {"broken": "eventmesh_broken:open_broken"}},
    )
    with pytest.raises(ConfigurationError) as refused:
        Mesh(storage="broken://host")
    assert str(refused.value) == (
        "storage 'broken://host': the backend for 'broken' from the distribution "
        "eventmesh-broken (eventmesh_broken:open_broken) could not be imported: "
        "ModuleNotFoundError: No module named 'a_client_library_that_is_not_installed'"
    )
    assert isinstance(refused.value.__cause__, ModuleNotFoundError)


def test_two_distributions_claiming_one_scheme_are_both_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two"):
        install(
            monkeypatch,
            tmp_path / "site",
            f"eventmesh-{name}",
            {f"eventmesh_{name}": "def open_it(url, clock): ...\n"},
            {ENTRY_POINT_GROUP: {"clash": f"eventmesh_{name}:open_it"}},
        )
    with pytest.raises(ConfigurationError) as refused:
        open_backend("clash://x", VirtualClock())
    message = str(refused.value)
    assert "registered by more than one backend" in message
    assert "eventmesh-one (eventmesh_one:open_it)" in message
    assert "eventmesh-two (eventmesh_two:open_it)" in message


def test_a_factory_must_return_a_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        monkeypatch,
        tmp_path / "site",
        "eventmesh-odd",
        {"eventmesh_odd": "def open_odd(url, clock):\n    return {'queues': None}\n"},
        {ENTRY_POINT_GROUP: {"odd": "eventmesh_odd:open_odd"}},
    )
    with pytest.raises(ConfigurationError, match=r"returned dict, not a Backend$"):
        open_backend("odd://", VirtualClock())


def test_a_source_tree_without_installed_metadata_still_opens_memory_and_sqlite(
    tmp_path: Path,
) -> None:
    """Run from a copy of site-packages without eventmesh's dist-info, with the source tree on
    the path: no entry point is registered, and the built-in fallback opens both."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    bare = tmp_path / "site-packages"
    bare.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(("eventmesh-", "eventmesh.", "eventmesh_", "_eventmesh")):
            (bare / entry.name).symlink_to(entry)
    root = Path(__file__).resolve().parent.parent
    script = (
        "import sys; from importlib.metadata import entry_points\n"
        "assert not list(entry_points(group='eventmesh.backends')), 'metadata still there'\n"
        "from eventmesh import Mesh\n"
        "from eventmesh.backends import installed_schemes\n"
        "assert installed_schemes() == ['memory', 'sqlite'], installed_schemes()\n"
        "Mesh(storage='memory')\n"
        f"Mesh(storage='sqlite:///{tmp_path / 'mesh.db'}')\n"
        "print('ok')\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(bare)])}
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


# -- open_storage: one URL, a Backend, or a mapping ----------------------------------------------
def sqlite_url(tmp_path: Path, name: str = "mesh.db") -> str:
    return f"sqlite:///{tmp_path / name}?synchronous=NORMAL"


async def test_one_url_opens_one_backend_and_closing_closes_it(tmp_path: Path) -> None:
    storage = open_storage(sqlite_url(tmp_path), VirtualClock())
    (opened,) = storage.opened
    assert isinstance(opened, SQLiteBackend)
    assert (storage.queues, storage.logs, storage.values, storage.blobs) == (
        opened.queues,
        opened.logs,
        opened.values,
        opened.blobs,
    )
    assert storage.in_memory is False
    await storage.close()
    assert opened.closed


async def test_a_mapping_takes_each_protocol_from_its_own_backend(tmp_path: Path) -> None:
    storage = open_storage({"queues": sqlite_url(tmp_path), "logs": "memory"}, VirtualClock())
    assert isinstance(storage.queues, SQLiteQueueStore)
    assert isinstance(storage.values, MemoryKeyValueStore)  # not named: memory
    assert storage.in_memory is False  # the queues are in a file other processes may open
    assert len(storage.opened) == 2  # "memory" named once and defaulted thrice: opened once
    assert storage.logs is storage.opened[1].logs
    assert storage.values is storage.opened[1].values
    await storage.close()


async def test_the_same_url_named_twice_is_opened_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    storage = open_storage({"queues": url, "logs": url}, VirtualClock())
    sqlite = storage.opened[0]
    assert isinstance(sqlite, SQLiteBackend)
    assert isinstance(storage.logs, SQLiteLogStore)
    assert (storage.queues, storage.logs) == (sqlite.queues, sqlite.logs)
    await storage.close()
    assert sqlite.closed


async def test_a_backend_passed_in_is_shared_and_never_closed(tmp_path: Path) -> None:
    clock = VirtualClock()
    shared = SQLiteBackend(tmp_path / "shared.db", clock, synchronous="NORMAL")
    whole = open_storage(shared, clock)
    mixed = open_storage({"values": shared, "queues": sqlite_url(tmp_path)}, clock)
    assert whole.opened == ()
    assert whole.in_memory is False
    assert mixed.values is shared.values
    await whole.close()
    await mixed.close()
    assert not shared.closed
    assert mixed.opened[0].closed  # type: ignore[attr-defined]
    await shared.close()


def test_in_memory_only_when_every_store_is_memory_the_mesh_opened() -> None:
    clock = VirtualClock()
    borrowed = memory_backend(clock)
    assert open_storage("memory", clock).in_memory is True
    assert open_storage({}, clock).in_memory is True
    assert open_storage({"blobs": "memory"}, clock).in_memory is True
    assert open_storage(borrowed, clock).in_memory is False
    assert open_storage({"queues": borrowed}, clock).in_memory is False


async def test_a_memory_backend_it_opened_stays_usable_after_close() -> None:
    """Closing would end its long polls for good, while a mesh started again (or a second
    mesh given the same stores) still polls them."""
    clock = VirtualClock()
    storage = open_storage("memory", clock)
    await storage.close()
    waiting = asyncio.create_task(storage.queues.receive("q", 1, 30, wait=20))
    await clock.advance(1)
    assert not waiting.done()
    await clock.advance(19)
    assert await waiting == []


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({"queue": "memory"}, r"^storage: unknown protocol 'queue' \(known: queues, logs,"),
        ({"queues": 5}, r"^storage\['queues'\]: a storage URL or a Backend, got 5$"),
        (5, r"^storage: 'memory', 'sqlite:///path/to/mesh.db', another installed backend"),
    ],
)
def test_a_malformed_storage_is_refused(storage: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_storage(storage, VirtualClock())  # type: ignore[arg-type]


def test_nothing_is_opened_when_another_protocol_names_an_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'nope'"):
        Mesh(storage={"queues": sqlite_url(tmp_path), "logs": "nope://x"})
    assert not (tmp_path / "mesh.db").exists()


def test_a_bad_option_in_a_mapping_is_refused_when_the_mesh_is_built(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mesh.db'}?colour=blue"
    with pytest.raises(ConfigurationError, match=r"unknown option 'colour' \(known: busy_timeout,"):
        Mesh(storage={"logs": url})
    assert not (tmp_path / "mesh.db").exists()


def test_what_was_opened_is_closed_when_a_later_backend_fails_to_open(
    toy: list[tuple[str, str]],
) -> None:
    with pytest.raises(ConfigurationError, match="refused the connection"):
        open_storage({"queues": "toy://a", "logs": "refused://b"}, VirtualClock())
    assert toy == [("opened", "toy://a"), ("closed", "toy://a")]


async def test_inside_a_running_loop_what_was_opened_is_closed_by_a_task(
    toy: list[tuple[str, str]],
) -> None:
    """The mesh binds its storage when it starts, inside the event loop: the close of what a
    later failure leaves open runs as a task of that loop."""
    with pytest.raises(ConfigurationError, match="refused the connection"):
        open_storage({"queues": "toy://a", "logs": "refused://b"}, VirtualClock())
    assert toy == [("opened", "toy://a")]
    await settle()
    assert toy == [("opened", "toy://a"), ("closed", "toy://a")]


async def test_a_mapping_chosen_before_start_is_bound_when_the_mesh_starts(
    tmp_path: Path,
) -> None:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    mesh.use_storage({"queues": sqlite_url(tmp_path)})
    assert not (tmp_path / "mesh.db").exists()
    async with mesh:
        assert isinstance(mesh.backend.queues, SQLiteQueueStore)
        assert isinstance(mesh.backend.logs, MemoryLogStore)
    assert (tmp_path / "mesh.db").exists()


async def test_a_mesh_closes_what_it_opened_when_it_stops(
    tmp_path: Path, toy: list[tuple[str, str]]
) -> None:
    clock = VirtualClock()
    shared = open_backend("toy://shared", clock)
    mesh = Mesh(
        storage={"queues": sqlite_url(tmp_path), "logs": "toy://own", "values": shared},
        clock=clock,
        telemetry=Telemetry(enabled=False),
    )
    assert isinstance(mesh.backend, Storage)
    sqlite = mesh.backend.opened[0]
    async with mesh:
        queue = mesh.queue("orders")
        await queue.send({"n": 1})
    assert isinstance(sqlite, SQLiteBackend) and sqlite.closed
    assert toy == [("opened", "toy://shared"), ("opened", "toy://own"), ("closed", "toy://own")]


def test_a_mesh_shows_its_storage_with_secrets_masked(tmp_path: Path) -> None:
    mesh = Mesh(storage={"queues": sqlite_url(tmp_path), "values": memory_backend(VirtualClock())})
    assert mesh.storage == (
        f"queues=sqlite:///{tmp_path / 'mesh.db'}?synchronous=***, values=Backend"
    )
    assert isinstance(mesh.backend, Backend)
