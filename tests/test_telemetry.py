"""Spans, metrics and log lines for invocations."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from eventmesh import Context, Mesh, Telemetry, TooManyRequestsError
from eventmesh.testing import VirtualClock


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def telemetry(spans: InMemorySpanExporter, reader: InMemoryMetricReader) -> Telemetry:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    points: dict[str, list[Any]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name.lower()] = list(metric.data.data_points)
    return points


def total(points: dict[str, list[Any]], name: str) -> float:
    return sum(point.value for point in points.get(name.lower(), []))


async def test_each_invocation_is_one_faas_span(
    telemetry: Telemetry, spans: InMemorySpanExporter
) -> None:
    mesh = Mesh(clock=VirtualClock(), telemetry=telemetry)

    @mesh.function(memory=256)
    async def traced(event: Any, context: Context) -> None:
        if event == "fail":
            raise ValueError("broken")

    async with mesh:
        first = await mesh.invoke("traced", "ok")
        await mesh.invoke("traced", "ok")
        await mesh.invoke("traced", "fail")
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["traced"] * 3
    attributes = finished[0].attributes or {}
    assert finished[0].kind == SpanKind.SERVER
    assert attributes["faas.invocation_id"] == first.request_id
    assert attributes["faas.name"] == "traced"
    assert attributes["faas.version"] == "$LATEST"
    assert attributes["faas.trigger"] == "other"
    assert attributes["faas.max_memory"] == 256 * 1024 * 1024
    assert [(s.attributes or {})["faas.coldstart"] for s in finished] == [True, False, False]
    assert finished[2].status.status_code == StatusCode.ERROR
    assert (finished[2].attributes or {})["error.type"] == "ValueError"


async def test_a_span_opened_in_the_handler_is_a_child_of_the_invocation(
    telemetry: Telemetry, spans: InMemorySpanExporter
) -> None:
    mesh = Mesh(telemetry=telemetry)
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(spans))

    @mesh.function
    async def parent(event: Any, context: Context) -> None:
        with tracer.get_tracer("user").start_as_current_span("inner"):
            pass

    async with mesh:
        await mesh.invoke("parent")
    inner, outer = spans.get_finished_spans()
    assert inner.parent is not None and outer.context is not None
    assert inner.parent.span_id == outer.context.span_id


async def test_metrics_mirror_lambdas(telemetry: Telemetry, reader: InMemoryMetricReader) -> None:
    mesh = Mesh(telemetry=telemetry)
    gate = asyncio.Event()
    entered = asyncio.Event()

    @mesh.function(reserved_concurrency=1, timeout=60)
    async def measured(event: Any, context: Context) -> None:
        if event == "fail":
            raise ValueError("broken")
        if event == "wait":
            entered.set()
            await gate.wait()

    async with mesh:
        await mesh.invoke("measured", "ok")
        await mesh.invoke("measured", "fail")
        waiting = asyncio.create_task(mesh.invoke("measured", "wait"))
        await entered.wait()
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("measured", "ok")
        gate.set()
        await waiting
    points = metric_points(reader)
    assert total(points, "Invocations") == 3
    assert total(points, "Errors") == 1
    assert total(points, "Throttles") == 1
    assert total(points, "ColdStarts") == 1
    assert total(points, "ConcurrentExecutions") == 0
    assert sum(p.count for p in points["duration"]) == 3
    assert sum(p.count for p in points["initduration"]) == 1
    assert points["invocations"][0].attributes["function_name"] == "measured"


async def test_telemetry_is_off_when_nobody_listens() -> None:
    mesh = Mesh()

    @mesh.function
    async def quiet(event: Any, context: Context) -> None:
        return None

    async with mesh:
        await mesh.invoke("quiet")
        assert mesh.telemetry.enabled is False


async def test_start_end_and_report_lines_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))

    @mesh.function
    async def logged(event: Any, context: Context) -> None:
        return None

    with caplog.at_level(logging.INFO, logger="eventmesh.invocations"):
        async with mesh:
            result = await mesh.invoke("logged")
            await mesh.invoke("logged")
    messages = [r.getMessage() for r in caplog.records if r.name == "eventmesh.invocations"]
    assert messages[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert messages[1] == f"END RequestId: {result.request_id}"
    assert messages[2].startswith(f"REPORT RequestId: {result.request_id} Duration: ")
    assert "Init Duration:" in messages[2]
    assert "Init Duration:" not in messages[5], "a warm start has no init"
    report = caplog.records[2]
    assert report.cold_start is True  # type: ignore[attr-defined]
    assert report.request_id == result.request_id  # type: ignore[attr-defined]


async def test_trace_context_travels_through_an_event_invocation(
    telemetry: Telemetry, spans: InMemorySpanExporter
) -> None:
    mesh = Mesh(telemetry=telemetry)
    producer = TracerProvider()
    producer.add_span_processor(SimpleSpanProcessor(spans))

    @mesh.function
    async def later(event: Any, context: Context) -> None:
        return None

    async with mesh:
        with producer.get_tracer("app").start_as_current_span("request"):
            await mesh.invoke("later", {}, "Event")
    request = next(s for s in spans.get_finished_spans() if s.name == "request")
    invocation = next(s for s in spans.get_finished_spans() if s.name == "later")
    assert invocation.parent is not None and request.context is not None
    assert invocation.parent.span_id == request.context.span_id
    assert invocation.context is not None
    assert invocation.context.trace_id == request.context.trace_id


async def test_trace_context_travels_through_a_queue(
    telemetry: Telemetry, spans: InMemorySpanExporter
) -> None:
    mesh = Mesh(telemetry=telemetry)
    producer = TracerProvider()
    producer.add_span_processor(SimpleSpanProcessor(spans))
    queue = mesh.queue("traced")

    @mesh.function
    async def consume(event: Any, context: Context) -> None:
        return None

    queue.subscribe(consume)
    async with mesh:
        with producer.get_tracer("app").start_as_current_span("checkout"):
            await queue.send({"order": 1})
    checkout = next(s for s in spans.get_finished_spans() if s.name == "checkout")
    invocation = next(s for s in spans.get_finished_spans() if s.name == "consume")
    assert invocation.parent is not None and checkout.context is not None
    assert invocation.parent.span_id == checkout.context.span_id
    assert (invocation.attributes or {})["faas.trigger"] == "pubsub"
