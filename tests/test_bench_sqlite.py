"""``eventmesh bench`` on SQLite: the raw sqlite3 baseline, and the run's own database files."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

import pytest
from bench_helpers import QUICK, bench

from eventmesh.bench.options import OptionsError
from eventmesh.bench.sqlite_raw import (
    RawSQLiteLoop,
    RawSQLiteQueue,
    bench_database,
    sqlite_settings,
)
from eventmesh.cli import main


# -- the raw loop ------------------------------------------------------------------------------
async def test_the_raw_loop_delivers_every_message_sent_once_and_leaves_none(
    tmp_path: Path,
) -> None:
    queue = RawSQLiteQueue(str(tmp_path / "raw.db"), "NORMAL")
    delivered: list[bytes] = []
    batches: list[int] = []

    async def deliver(bodies: list[bytes]) -> None:
        batches.append(len(bodies))
        delivered.extend(bodies)

    raw = RawSQLiteLoop(queue, deliver, batch=10, consumers=3)
    raw.start()
    sent = [f"m{i}".encode() for i in range(95)]
    await asyncio.gather(*(raw.send(body) for body in sent))  # each returns once committed
    assert queue.commits >= 10  # 95 sends of one turn: inserted 10 per transaction
    for _ in range(1000):
        if len(delivered) == len(sent):
            break
        await asyncio.sleep(0)
    await raw.stop()
    assert sorted(delivered) == sorted(sent) and len(delivered) == len(sent)
    assert max(batches) <= 10
    assert queue.count() == 0  # every handled batch was deleted
    queue.close()


def test_a_claimed_message_not_deleted_comes_back_after_the_visibility_timeout(
    tmp_path: Path,
) -> None:
    queue = RawSQLiteQueue(str(tmp_path / "raw.db"), "FULL", visibility=30.0)
    queue.insert([b"a", b"b", b"c"])
    assert [body for _, body in queue.claim(2, now=1000.0)] == [b"a", b"b"]
    assert [body for _, body in queue.claim(10, now=1029.0)] == [b"c"]  # a, b in flight
    assert queue.claim(10, now=1029.5) == []
    back = queue.claim(10, now=1030.0)  # the consumer of a and b died: they come back
    assert [body for _, body in back] == [b"a", b"b"]
    queue.delete([seq for seq, _ in back])
    assert queue.count() == 1
    queue.close()


@pytest.mark.parametrize(("level", "value"), [("NORMAL", 1), ("FULL", 2)])
def test_the_raw_loop_uses_the_store_settings(tmp_path: Path, level: str, value: int) -> None:
    path = tmp_path / "raw.db"
    url = f"sqlite:///{path}?synchronous={level}"
    assert sqlite_settings(url) == (str(path), level)
    assert sqlite_settings(f"sqlite:///{path}")[1] == "FULL"  # the store's default
    queue = RawSQLiteQueue(*sqlite_settings(url))
    assert (queue.pragma("journal_mode"), queue.pragma("synchronous")) == ("wal", value)
    queue.close()


# -- the run's database files ------------------------------------------------------------------
def test_queue_on_sqlite_runs_beside_the_raw_loop_and_leaves_no_file(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'b.db'}?synchronous=NORMAL"
    arguments = ["--scenario", "queue", "--events", "300", "--storage", storage]
    result = bench(tmp_path, *arguments)
    assert result["events"]["handled"] == result["baseline_events"]["handled"] == 300
    assert result["baseline"]["name"].startswith("raw sqlite3, WAL NORMAL")
    assert result["parameters"]["storage"] == storage  # no secret to mask: levels stay apart
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_invoke_event_on_sqlite_runs_beside_the_raw_loop_one_event_at_a_time(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    arguments = ["--scenario", "invoke-event", "--events", "120", "--storage", storage]
    result = bench(tmp_path, *arguments)
    assert result["events"]["handled"] == result["baseline_events"]["handled"] == 120
    assert result["baseline"]["name"].startswith("raw sqlite3, WAL FULL")
    assert result["baseline"]["name"].endswith("per 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_scenario_without_a_raw_loop_says_its_baseline_is_in_memory(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'b.db'}?synchronous=NORMAL"
    arguments = ["--scenario", "fanout", "--subscribers", "3", "--events", "40"]
    result = bench(tmp_path, *arguments, "--storage", storage)
    assert result["events"]["handled"] == 120
    assert result["baseline"]["name"].endswith("(in memory, no SQLite)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_an_existing_database_is_refused_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "app.db"
    database.write_bytes(b"someone's data")
    storage = f"sqlite:///{database}"
    assert main(["bench", "--scenario", "queue", "--events", "10", "--storage", storage]) == 2
    assert "already exists" in capsys.readouterr().err
    assert database.read_bytes() == b"someone's data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    (tmp_path / "other.db.raw-wal").write_bytes(b"")  # the raw loop's files count too
    with (
        pytest.raises(OptionsError, match="raw-wal"),
        bench_database(f"sqlite:///{tmp_path / 'other.db'}"),
    ):
        pass


def test_the_files_are_deleted_when_the_run_fails_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: RawSQLiteLoop) -> None:
        raise RuntimeError("the raw side broke after the mesh's side wrote its database")

    monkeypatch.setattr(RawSQLiteLoop, "start", broken)
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    with pytest.raises(RuntimeError, match="raw side broke"):
        main(["bench", "--scenario", "queue", "--events", "50", "--storage", storage, *QUICK])
    assert list(tmp_path.iterdir()) == []


def test_without_a_path_a_temporary_directory_is_used_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[Path] = []
    with pytest.raises(KeyboardInterrupt), bench_database("sqlite://?synchronous=NORMAL") as url:
        path, level = sqlite_settings(url)
        assert level == "NORMAL" and Path(path).parent.parent == tmp_path
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE t (x)")
        seen.append(Path(path))
        raise KeyboardInterrupt  # Ctrl-C
    assert seen and list(tmp_path.iterdir()) == []
