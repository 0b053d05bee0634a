"""Spans, metrics and structured logs for invocations, through opentelemetry-api.

:class:`Telemetry` says where spans and metrics go; :class:`TelemetryMiddleware`, the
outermost middleware of every function while telemetry is on, makes each invocation's span
and its metrics (``Invocations``, ``Errors``, ``Duration``, ``ConcurrentExecutions``,
``ColdStarts``, ``InitDuration``); the runtime counts the rest where it happens (a throttle
never gets as far as the middleware).

Each invocation is one span following OpenTelemetry's FaaS semantic conventions, and the
metrics mirror Lambda's CloudWatch ones (``Invocations``, ``Errors``, ``Throttles``,
``Duration``, ``ConcurrentExecutions``, ``ColdStarts``, ``InitDuration``, ``AsyncEventAge``,
``AsyncEventsDropped``, ``DeadLetterErrors``, ``DestinationDeliveryFailures``,
``RecursiveInvocationsDropped`` and ``IteratorAge``, and eventmesh's own
``RunawayInvocations``: timed out, their work still running), with ``function_name`` (and
``executed_version``) as attributes.

Telemetry costs nothing when nobody listens: by default it is on only if an OpenTelemetry
SDK provider is installed globally when the mesh starts (or providers are passed in); when
off, no middleware is composed and the hot path does no telemetry work at all. The START,
END and REPORT log lines go to the ``eventmesh.invocations`` logger at INFO, with structured
fields in ``extra``, and are built only when that level is enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from eventmesh._invocation import CallHandler, Invocation, InvocationResult

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["Telemetry", "TelemetryMiddleware", "invocation_logger"]

invocation_logger = logging.getLogger("eventmesh.invocations")

_INSTRUMENTATION = "eventmesh"
_NO_OP_PROVIDERS = {
    "ProxyTracerProvider",
    "NoOpTracerProvider",
    "_ProxyMeterProvider",
    "NoOpMeterProvider",
}


def _is_real(provider: object) -> bool:
    return type(provider).__name__ not in _NO_OP_PROVIDERS


class Telemetry:
    """Where a mesh sends its spans and metrics.

    ``Telemetry()`` follows the global providers; pass providers to use your own, or
    ``enabled=False`` to switch everything off whatever is installed.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        enabled: bool | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._enabled_setting = enabled
        self.tracing = False
        self.metering = False
        self.enabled = False

    def start(self) -> None:
        """Decide, when the mesh starts, whether anyone listens, and create instruments."""
        tracer_provider = self._tracer_provider or trace.get_tracer_provider()
        meter_provider = self._meter_provider or metrics.get_meter_provider()
        setting = self._enabled_setting
        self.tracing = setting is not False and (setting is True or _is_real(tracer_provider))
        self.metering = setting is not False and (setting is True or _is_real(meter_provider))
        self.enabled = self.tracing or self.metering
        if self.tracing:
            self._tracer = tracer_provider.get_tracer(_INSTRUMENTATION)
        if self.metering:
            self._create_instruments(meter_provider.get_meter(_INSTRUMENTATION))

    @property
    def tracer(self) -> Tracer | None:
        """The mesh's tracer while it traces (for the spans of its fronts, such as the HTTP
        front's server spans), else None."""
        return self._tracer if self.tracing else None

    def _create_instruments(self, meter: Any) -> None:
        counter = meter.create_counter
        self.invocations = counter("Invocations", unit="{invocation}")
        self.errors = counter("Errors", unit="{invocation}")
        self.throttles = counter("Throttles", unit="{invocation}")
        self.cold_starts = counter("ColdStarts", unit="{invocation}")
        self.duration = meter.create_histogram("Duration", unit="ms")
        self.init_duration = meter.create_histogram("InitDuration", unit="ms")
        self.concurrent = meter.create_up_down_counter("ConcurrentExecutions", unit="{execution}")
        self.async_event_age = meter.create_histogram("AsyncEventAge", unit="ms")
        self.async_dropped = counter("AsyncEventsDropped", unit="{event}")
        self.dead_letter_errors = counter("DeadLetterErrors", unit="{event}")
        self.destination_failures = counter("DestinationDeliveryFailures", unit="{event}")
        self.recursion_dropped = counter("RecursiveInvocationsDropped", unit="{event}")
        self.runaways = counter("RunawayInvocations", unit="{invocation}")
        self.iterator_age = meter.create_histogram("IteratorAge", unit="ms")

    # -- spans ---------------------------------------------------------------------------
    def start_span(
        self,
        function_name: str,
        version: str,
        request_id: str,
        invoked_arn: str,
        trigger: str,
        parent: Any = None,
    ) -> Span | None:
        if not self.tracing:
            return None
        attributes = {
            "faas.name": function_name,
            "faas.version": version,
            "faas.invocation_id": request_id,
            "faas.trigger": trigger,
            "cloud.resource_id": invoked_arn,
            "cloud.provider": "aws",
        }
        return self._tracer.start_span(
            function_name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    @staticmethod
    def end_span(
        span: Span | None,
        *,
        cold_start: bool,
        log_stream: str,
        memory_mb: int,
        error: Mapping[str, Any] | None,
    ) -> None:
        if span is None:
            return
        span.set_attribute("faas.coldstart", cold_start)
        span.set_attribute("faas.instance", log_stream)
        span.set_attribute("faas.max_memory", memory_mb * 1024 * 1024)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error.get("errorMessage", ""))))
            span.set_attribute("error.type", str(error.get("errorType", "")))
        span.end()

    # -- metrics -------------------------------------------------------------------------
    def record_invocation(
        self,
        function_name: str,
        version: str,
        duration_ms: float,
        error: bool,
        cold_start: bool,
        init_ms: float | None,
    ) -> None:
        if not self.metering:
            return
        attributes = {"function_name": function_name, "executed_version": version}
        self.invocations.add(1, attributes)
        self.duration.record(duration_ms, attributes)
        if error:
            self.errors.add(1, attributes)
        if cold_start:
            self.cold_starts.add(1, attributes)
            if init_ms is not None:
                self.init_duration.record(init_ms, attributes)

    def count(self, instrument: str, function_name: str, value: float = 1) -> None:
        """Add to one of the per-function counters (``throttles``, ``async_dropped``, ...)."""
        if self.metering:
            getattr(self, instrument).add(value, {"function_name": function_name})

    def record_iterator_age(self, function_name: str, age_ms: float) -> None:
        if self.metering:
            self.iterator_age.record(age_ms, {"function_name": function_name})

    def record_event_age(self, function_name: str, age_ms: float) -> None:
        if self.metering:
            self.async_event_age.record(age_ms, {"function_name": function_name})


class TelemetryMiddleware:
    """Each invocation's span and metrics, as a middleware: the outermost one, so its span
    covers the other middleware and the init hook, and spans they open are its children.

    The mesh puts it around every function when its :class:`Telemetry` is on at start.
    """

    __slots__ = ("telemetry",)

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def __call__(self, call_handler: CallHandler) -> CallHandler:
        telemetry = self.telemetry

        async def observed(invocation: Invocation) -> InvocationResult:
            context = invocation.context
            name = context.function_name
            span = telemetry.start_span(
                name,
                context.function_version,
                context.aws_request_id,
                context.invoked_function_arn,
                invocation.trigger,
                invocation.parent_context,
            )
            metering = telemetry.metering
            if metering:
                telemetry.concurrent.add(1, {"function_name": name})
            try:
                if span is None:
                    result = await call_handler(invocation)
                else:
                    with trace.use_span(span, end_on_exit=False):
                        result = await call_handler(invocation)
            except BaseException as exc:
                cancelled = isinstance(exc, asyncio.CancelledError)
                if span is not None and span.is_recording():
                    if cancelled:
                        span.set_status(Status(StatusCode.ERROR, "the invocation was cancelled"))
                    else:
                        span.set_status(Status(StatusCode.ERROR, str(exc)))
                        span.set_attribute("error.type", type(exc).__name__)
                    span.end()
                if not cancelled:  # a middleware inside this one raised: a function error
                    telemetry.record_invocation(
                        name, context.function_version, 0.0, True, False, None
                    )
                raise
            finally:
                if metering:
                    telemetry.concurrent.add(-1, {"function_name": name})
            error = result.function_error is not None
            telemetry.end_span(
                span,
                cold_start=result.cold_start,
                log_stream=context.log_stream_name,
                memory_mb=context.memory_limit_in_mb,
                error=result.payload if error else None,
            )
            telemetry.record_invocation(
                name,
                result.executed_version or context.function_version,
                result.duration_ms,
                error,
                result.cold_start,
                result.init_duration_ms,
            )
            return result

        return observed

    def __repr__(self) -> str:
        return "TelemetryMiddleware()"
