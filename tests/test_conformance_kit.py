"""The shipped conformance kit: importable without pytest, usable by a package outside eventmesh
with its own factory and capabilities record, with time driven as the record declares."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from installed_distribution import write_distribution

import eventmesh.testing
from eventmesh.backends.memory import memory_backend
from eventmesh.testing import VirtualClock
from eventmesh.testing.conformance import (
    BackendUnderTest,
    Capabilities,
    CrashRedelivery,
    Fifo,
    ServerTime,
    TimeSource,
    Trim,
    Ttl,
    VirtualTime,
    suites,
)

ROOT = Path(__file__).resolve().parent.parent


def suite_size() -> int:
    """How many tests the kit's suites hold, over every suite class."""
    return sum(
        len([name for name in dir(getattr(suites, cls)) if name.startswith("test_")])
        for cls in suites.__all__
    )


def test_importing_eventmesh_and_its_testing_helpers_never_imports_pytest() -> None:
    script = (
        "import sys, eventmesh, eventmesh.testing, eventmesh.testing.conformance\n"
        "assert 'pytest' not in sys.modules, 'pytest was imported'\n"
        "assert '_pytest' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_eventmesh_testing_keeps_exactly_its_exports() -> None:
    assert sorted(eventmesh.testing.__all__) == [
        "RecordingDestination",
        "TimerHandle",
        "VirtualClock",
        "settle",
    ]


# -- an adapter-shaped package outside eventmesh -------------------------------------------------
TOY = '''
"""eventmesh-toy: the memory backend with a log that cannot trim and delays up to 900 s."""

from eventmesh import ConfigurationError
from eventmesh.backends import Backend, url_options
from eventmesh.backends.memory import (
    MemoryBlobStore, MemoryKeyValueStore, MemoryLogStore, MemoryQueueStore,
)


class ToyQueues(MemoryQueueStore):
    redrives_in_receive = False  # the queue resource redrives in two steps, as for any store
                                 # that does not declare it (the record's default)

    async def send(self, queue, messages):
        for message in messages:
            if message.delay > 900:
                raise ConfigurationError(f"delay {message.delay} > 900 s")
        return await super().send(queue, messages)


class ToyLogs(MemoryLogStore):
    async def trim(self, stream, shard, before):
        raise ConfigurationError("the toy log keeps everything: no trim")


def open_toy(url, clock):
    url_options(url, url.partition("?")[2], {})
    return Backend(ToyQueues(clock), ToyLogs(clock), MemoryKeyValueStore(clock),
                   MemoryBlobStore(clock))
'''

CONFTEST = """
import pytest

from eventmesh.backends import open_backend
from eventmesh.testing.conformance import BackendUnderTest, Capabilities, Trim

pytest_plugins = ["eventmesh.testing.conformance.plugin"]

TOY = BackendUnderTest(
    "toy",
    lambda clock, directory: open_backend("toy://", clock),
    Capabilities(trim=Trim.NONE, max_delay=900.0),
)


@pytest.fixture(params=[TOY], ids=lambda backend: backend.name)
def conformance_backend(request):
    return request.param
"""

SUITE = """
from eventmesh.testing.conformance.suites import (
    BackendSuite, BlobStoreSuite, KeyValueStoreSuite, LogStoreSuite, MultiProcessSuite,
    QueueStoreSuite,
)


class TestToyBackend(BackendSuite): ...
class TestToyQueues(QueueStoreSuite): ...
class TestToyLogs(LogStoreSuite): ...
class TestToyValues(KeyValueStoreSuite): ...
class TestToyBlobs(BlobStoreSuite): ...
class TestToySharing(MultiProcessSuite): ...
"""


def test_a_package_outside_eventmesh_runs_the_whole_suite_with_its_own_record(
    tmp_path: Path,
) -> None:
    """``eventmesh_toy`` is installed on the path (an entry point for ``toy://``) and its
    project's tests declare a record unlike memory's (no trim, delays up to 900 s): the same
    suite passes there, every test collected, the differences asserted from the record (the
    shard-lease process test is skipped: the toy store is not shared by processes)."""
    site = tmp_path / "site"
    write_distribution(
        site,
        "eventmesh-toy",
        {"eventmesh_toy": TOY},
        {"eventmesh.backends": {"toy": "eventmesh_toy:open_toy"}},
    )
    project = tmp_path / "eventmesh-toy"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    (project / "tests" / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (project / "tests" / "test_conformance.py").write_text(textwrap.dedent(SUITE))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # One test needs a store that processes share, which the toy's record does not declare:
    # it is skipped, saying so.
    assert re.fullmatch(rf"{suite_size() - 1} passed, 1 skipped in [0-9.]+s", summary), summary


# -- the capabilities record ---------------------------------------------------------------------
def test_the_default_record_describes_the_memory_backend() -> None:
    record = Capabilities()
    assert (record.time_source, record.fifo, record.trim, record.ttl) == (
        TimeSource.MESH_CLOCK,
        Fifo.EXACT,
        Trim.EXACT,
        Ttl.PER_KEY,
    )
    assert (record.crash_redelivery, record.max_delay, record.multi_process) == (
        CrashRedelivery.VISIBILITY_TIMEOUT,
        None,
        False,
    )
    with pytest.raises(AttributeError):
        record.multi_process = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"clock_tolerance": 0.1}, "clock_tolerance applies to a server clock only"),
        ({"crash_redelivery": CrashRedelivery.ACK_WAIT}, "crash_redelivery_after is given"),
        ({"crash_redelivery_after": 2.0}, "crash_redelivery_after is given"),
        ({"fifo": Fifo.PARTITIONED}, "fifo_partitions is given exactly"),
        ({"ttl": Ttl.PER_STORE}, "store_ttl is given exactly"),
        ({"store_ttl": 60.0}, "store_ttl is given exactly"),
        (
            {"time_source": TimeSource.SERVER_CLOCK, "clock_tolerance": -1.0},
            "clock_tolerance and ttl_resolution are >= 0",
        ),
    ],
)
def test_an_inconsistent_record_is_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Capabilities(**settings)  # type: ignore[arg-type]


# -- the time driver -----------------------------------------------------------------------------
async def test_virtual_time_is_exact() -> None:
    timing = VirtualTime()
    start = timing.wall()
    await timing.advance_before(29.9)
    await timing.advance_past(0.1, slack=1.0)
    assert timing.wall() == start + 31.0
    assert timing.at(31.0) == start + 31.0
    assert timing.at(31.0) != start + 31.000001
    assert timing.leaves_no_timers()


async def test_server_time_waits_and_widens_by_its_tolerance() -> None:
    """Driven here by a virtual clock standing in for real time: a step before a deadline is
    shortened by the tolerance, the step past it lengthened by that and the tolerance again,
    and wall times compare equal within the tolerance (and the drift the steps added)."""
    stand_in = VirtualClock()
    timing = ServerTime(0.5, sleep=stand_in.advance, wall=stand_in.time)
    start = stand_in.time()
    await timing.advance_before(30)
    assert stand_in.time() == start + 29.5
    await timing.advance_past(0)
    assert stand_in.time() == start + 30.5
    await timing.advance(2)
    assert stand_in.time() == start + 32.5
    assert timing.at(32) == start + 32.9
    assert timing.at(32) != start + 33.1
    assert timing.wall() == start + 32.5
    assert timing.leaves_no_timers()


async def test_server_time_scales_the_suites_durations_but_not_its_tolerance() -> None:
    stand_in = VirtualClock()
    timing = ServerTime(0.5, scale=0.1, sleep=stand_in.advance, wall=stand_in.time)
    start = stand_in.time()
    assert timing.seconds(30) == 3.0
    await timing.advance_before(30)
    assert stand_in.time() == start + 2.5
    await timing.advance_past(0, slack=0.25)
    assert stand_in.time() == start + 3.75
    await timing.advance(20)
    assert stand_in.time() == start + 5.75
    assert timing.at(55) == start + 5.5 + 1.25
    assert timing.at(55) != start + 5.5 + 1.3
    with pytest.raises(ValueError, match="scale must be > 0"):
        ServerTime(0.5, scale=0)


def test_virtual_time_does_not_scale() -> None:
    assert VirtualTime().seconds(30) == 30


def test_a_time_scale_is_for_a_server_clock_only() -> None:
    with pytest.raises(ValueError, match="time_scale applies to a server clock only"):
        BackendUnderTest(
            "toy", lambda clock, directory: memory_backend(clock), Capabilities(), time_scale=0.1
        )
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        BackendUnderTest(
            "toy",
            lambda clock, directory: memory_backend(clock),
            Capabilities(time_source=TimeSource.SERVER_CLOCK),
            time_scale=0,
        )
