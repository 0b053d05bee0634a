"""``eventmesh run app:mesh --http`` in a real process: it serves, and SIGTERM stops it."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent

APP = """
from eventmesh import Mesh
from eventmesh._http_messages import HttpResponse

mesh = Mesh()

async def hello(request):
    return HttpResponse(200, [], b"hello " + request.body)

mesh.context.endpoints.add("/_eventmesh/hello", hello)
"""


def start(tmp_path: Path, *arguments: str) -> subprocess.Popen[str]:
    (tmp_path / "app.py").write_text(APP)
    return subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh", *arguments],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_run_with_http_serves_until_sigterm(tmp_path: Path) -> None:
    process = start(tmp_path, "--http", "127.0.0.1:0")
    assert process.stdout is not None
    try:
        url = None
        seen = []
        deadline = time.monotonic() + 30
        while url is None or not any("running <Mesh" in line for line in seen):
            assert time.monotonic() < deadline, seen
            line = process.stdout.readline()
            assert line, seen  # the process ended early
            seen.append(line)
            found = re.search(r"serving HTTP on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
        assert url is not None
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        response = httpx.post(url + "/_eventmesh/hello", content=b"there", timeout=10)
        assert (response.status_code, response.text) == (200, "hello there")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert '"status":"200"' in "".join(seen) + rest  # the access log line
    assert "stopped serving HTTP" in rest
    assert rest.rstrip().endswith("stopped")
    try:
        httpx.get(url + "/health", timeout=2)
        raise AssertionError("still serving after SIGTERM")
    except httpx.ConnectError:
        pass


def test_http_with_several_workers_is_refused_clearly(tmp_path: Path) -> None:
    process = start(tmp_path, "--http", "0", "--workers", "2", "--storage", "sqlite:///x.db")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--http with --workers is not supported yet" in out


def test_a_malformed_address_is_refused_clearly(tmp_path: Path) -> None:
    process = start(tmp_path, "--http", "localhost:http")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "expected [HOST:]PORT" in out


SLOW_APP = """
import asyncio
from eventmesh import Mesh
from eventmesh._http_messages import HttpResponse

mesh = Mesh(drain_timeout=10)

async def slow(request):
    open("in_handler", "w").close()  # the test signals once the request is in hand
    await asyncio.sleep(float(request.body or b"1"))
    return HttpResponse(200, [], b"finished")

mesh.context.endpoints.add("/_eventmesh/slow", slow)
"""


def serving_url(process: subprocess.Popen[str]) -> tuple[str, list[str]]:
    assert process.stdout is not None
    seen: list[str] = []
    url = None
    deadline = time.monotonic() + 30
    while url is None or not any("running <Mesh" in line for line in seen):
        assert time.monotonic() < deadline, seen
        line = process.stdout.readline()
        assert line, seen
        seen.append(line)
        found = re.search(r"serving HTTP on (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1)
    assert url is not None
    return url, seen


def wait_in_handler(tmp_path: Path) -> None:
    deadline = time.monotonic() + 20
    while not (tmp_path / "in_handler").exists():
        assert time.monotonic() < deadline, "the request never reached its handler"
        time.sleep(0.02)


def test_sigterm_lets_a_request_in_flight_finish_then_drains(tmp_path: Path) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "slow_app:mesh", "--http", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url, _ = serving_url(process)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            call = pool.submit(httpx.post, url + "/_eventmesh/slow", content=b"1.5", timeout=30)
            wait_in_handler(tmp_path)
            process.send_signal(signal.SIGTERM)
            response = call.result(timeout=30)
        assert (response.status_code, response.text) == (200, "finished")
        assert process.wait(timeout=30) == 0
        assert process.stdout is not None
        rest = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert rest.index("stopped serving HTTP") < rest.rindex("stopped")


def test_a_second_sigterm_stops_at_once_with_a_request_in_flight(tmp_path: Path) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "slow_app:mesh", "--http", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url, _ = serving_url(process)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            call = pool.submit(httpx.post, url + "/_eventmesh/slow", content=b"60", timeout=30)
            wait_in_handler(tmp_path)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 128 + signal.SIGTERM
            assert time.monotonic() - started < 10  # not the handler's minute
            try:
                answer = call.result(timeout=15)
            except httpx.HTTPError:
                pass  # the connection was closed under it
            else:
                assert answer.status_code != 200
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
