"""A mesh's life: start, drain, stop, and the reaper of idle execution environments.

Starting binds the storage, starts the Event invocation workers, every service (resources
and mappings) and the provisioned environments. Stopping drains (up to the drain timeout),
stops the services in reverse order and the workers, tells producers still waiting for room,
reports what was abandoned, and closes a store the mesh opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from eventmesh._async_queue import AsyncInvocationQueue
from eventmesh._backpressure import PendingLimit
from eventmesh._clock import Clock, TimerHandle
from eventmesh._errors import EventMeshError
from eventmesh._function import FunctionVersion
from eventmesh._invoker import Invoker
from eventmesh._registry import Registry
from eventmesh._shutdown_report import NOTHING, FunctionWork, describe_service, describe_work
from eventmesh._storage import StorageBinding
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.resources.context import Service
from eventmesh.telemetry import Telemetry

__all__ = ["Lifecycle", "LimitSetting"]

logger = logging.getLogger("eventmesh")


def _log_failure(task: asyncio.Task[Any]) -> None:
    """A service started while the mesh runs fails in the background: say so at once."""
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("starting %s failed: %s", task.get_name(), error, exc_info=error)


class LimitSetting:
    """A pending limit and what it limits: ``stored`` work is bounded only on storage the
    mesh keeps in its own memory, which is known once the storage is bound (at start)."""

    __slots__ = ("limit", "pending", "stored")

    def __init__(self, pending: PendingLimit, limit: int, stored: bool) -> None:
        self.pending = pending
        self.limit = limit
        self.stored = stored

    def apply(self, bounds_store: bool) -> None:
        """Set the limit once the storage is known (``bounds_store``: see StorageBinding)."""
        self.pending.limit = self.limit if bounds_store or not self.stored else None


class Lifecycle:
    """Start, drain and stop one mesh; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        invoker: Invoker,
        registry: Registry,
        async_queues: Mapping[str, AsyncInvocationQueue],
        storage: StorageBinding,
        telemetry: Telemetry,
        drain_timeout: float,
        environment_idle_timeout: float,
        check: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._invoker = invoker
        self._registry = registry
        self._async_queues = async_queues
        self._storage = storage
        self._telemetry = telemetry
        self.drain_timeout = drain_timeout
        self._idle_timeout = environment_idle_timeout
        self._check = check
        self.services: list[Service] = []
        self.withheld: list[Service] = []
        """Event sources not started this run (see :meth:`start`)."""
        self.limits: list[LimitSetting] = []  # stopped with the mesh: see _shut_down
        self.running = False
        self._to_stop: list[Callable[[], Awaitable[None]]] | None = None  # see _shut_down
        self._stopping = False  # a stop() is under way
        self._reaper: TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._starting: dict[int, asyncio.Task[Any]] = {}
        """Start tasks of services added while running, by ``id(service)``, until done."""
        self.closers: list[Callable[[], Awaitable[None]]] = []
        """Run last when the mesh stops (the HTTP sender's client, say)."""

    # -- while running -----------------------------------------------------------------------
    def add_service(self, service: Service) -> None:
        """Run ``service`` for as long as the mesh runs (started now if it already is)."""
        self.services.append(service)
        if self.running:
            key = id(service)
            task = self.spawn(service.start())
            self._starting[key] = task
            task.add_done_callback(lambda _: self._starting.pop(key, None))

    async def remove_service(self, service: Service) -> None:
        """Stop running ``service`` (stopped now if the mesh runs); nothing if it is not one."""
        if service in self.services:
            self.services.remove(service)
            starting = self._starting.get(id(service))
            if starting is not None:
                # A service added a moment ago may still be starting: stopping it first would
                # let the start run on after the stop (a schedule's loop, say).
                await asyncio.wait([starting])
            if self.running:
                await service.stop()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    def version_added(self, version: FunctionVersion) -> None:
        """A version with provisioned concurrency added while running is provisioned now."""
        if self.running and version.config.provisioned_concurrency:
            self.spawn(self._provision(version))

    def arm_reaper(self) -> None:
        if self._reaper is None and self.running:
            self._reaper = self._clock.call_at(self._clock.now() + self._idle_timeout, self._reap)

    def _versions(self) -> list[FunctionVersion]:
        return [
            version
            for function in self._registry.functions.values()
            for version in (function.latest, *function.versions.values())
        ]

    def _reap(self) -> None:
        """Reclaim idle environments; re-arm for the next one due, while any can be."""
        self._reaper = None
        now = self._clock.now()
        next_due: float | None = None
        on_demand = 0
        for version in self._versions():
            pool = version.pool
            if pool is None:
                continue
            pool.reap(now)
            on_demand += pool.size - pool.provisioned  # busy ones become idle later
            oldest = pool.oldest_idle()
            if oldest is not None:
                due = oldest + pool.idle_timeout
                next_due = due if next_due is None else min(next_due, due)
        if next_due is not None:
            self._reaper = self._clock.call_at(max(next_due, now + 1e-6), self._reap)
        elif on_demand > 0:
            self.arm_reaper()

    # -- start -------------------------------------------------------------------------------
    async def start(self, *, event_sources: bool = True) -> None:
        """Start; with ``event_sources=False`` the services that make events on their own
        (mappings polling a queue or a stream, schedules: those whose class says
        ``event_source = True``) are not started, not drained and not stopped."""
        if self.running:
            raise EventMeshError("the mesh is already running")
        self._check()
        bounded = self._storage.bounds_store  # binds the storage
        self._telemetry.start()
        self._invoker.bind(asyncio.get_running_loop())
        self.running = True
        self._to_stop = None
        for setting in self.limits:
            setting.apply(bounded)
            setting.pending.start()
        try:
            for queue in self._async_queues.values():
                queue.start()
            self.withheld = [
                service
                for service in self.services
                if not event_sources and getattr(service, "event_source", False)
            ]
            for service in list(self.services):
                if service not in self.withheld:
                    await service.start()
            versions = [v for v in self._versions() if v.config.provisioned_concurrency]
            await asyncio.gather(*(self._provision(version) for version in versions))
        except BaseException:
            # Half-started: stop what did start, without waiting for work to drain.
            await self._shut_down()
            raise

    async def _provision(self, version: FunctionVersion) -> None:
        """Initialise provisioned environments ahead of any invocation."""
        pool = version.pool
        assert pool is not None
        for environment in pool.provision(version.config.provisioned_concurrency):
            error, reusable = await self._invoker.initialise(environment, version)
            if reusable:
                pool.give_back(environment, self._clock.now())
            else:
                pool.discard(environment)
            if error is not None:
                logger.error(
                    "provisioning %s:%s failed: %s",
                    version.function.name,
                    version.version,
                    error.get("errorMessage") if isinstance(error, Mapping) else error,
                )

    # -- drain -------------------------------------------------------------------------------
    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no invocation runs and no queued event is due; False on timeout."""
        loop = asyncio.get_running_loop()
        limit = self.drain_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        reported = False
        while True:
            pending = self._invoker.in_flight
            for queue in self._async_queues.values():
                pending += await queue.pending()
            for service in self._started():
                pending += await service.pending()
            if pending == 0:
                if reported:
                    logger.info("drained")
                return True
            if not reported:
                reported = True
                logger.info("draining (up to %g s): %s", limit, await self._work_report())
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.005)

    def _started(self) -> list[Service]:
        return [service for service in self.services if service not in self.withheld]

    async def _work_report(self) -> str:
        """Per function and resource, the work in hand: one line for the stop's log."""
        functions = []
        for name, function in self._registry.functions.items():
            stats = await self._async_queues[name].stats()
            functions.append(FunctionWork(name, function.in_flight, stats.visible, stats.delayed))
        services = [(describe_service(s), await s.pending()) for s in self._started()]
        return describe_work(functions, services)

    async def _report_abandoned(self, why: str) -> bool:
        """Log the work in hand as abandoned, if any; True when there was some."""
        report = await self._work_report()
        if report == NOTHING:
            return False
        logger.warning("abandoned: %s (%s)", report, why)
        return True

    # -- stop --------------------------------------------------------------------------------
    async def stop(self, *, drain: bool = True) -> bool:
        """Drain (not at all with ``drain=False``), then stop everything; True when nothing
        was abandoned. A stop while another is under way returns True at once."""
        if self._stopping or (not self.running and self._to_stop is None):
            return True
        self._stopping = True
        try:
            if not self.running:  # a stop cancelled part-way (a second Ctrl-C): finish it
                await self._shut_down()
                return False
            return await self._drain_and_shut_down(drain)
        finally:
            self._stopping = False

    async def _drain_and_shut_down(self, drain: bool) -> bool:
        clean = True
        try:
            if not drain:
                clean = not await self._report_abandoned("stopped without draining")
            elif not await self.drain():
                why = f"the drain deadline of {self.drain_timeout:g} s passed"
                clean = not await self._report_abandoned(why)
        except asyncio.CancelledError:
            await self._report_abandoned("the drain was cancelled")
            raise
        except Exception:
            # A failing store (a damaged file, a disk error) must not keep the mesh running.
            clean = False
            logger.exception("draining the mesh failed; stopping anyway")
        finally:
            lost = await self._shut_down()
        return clean and not lost

    async def _report_stored_events(self) -> int:
        """Event invocations still stored once stopped: in memory they are lost with the
        process, so count and log them as abandoned; in a durable store they wait for the
        next start. Returns how many were lost."""
        lost = 0
        in_memory = isinstance(self._storage.backend.queues, MemoryQueueStore)
        for name, queue in self._async_queues.items():
            try:
                stats = await queue.stats()
            except Exception:
                continue  # a failing store: nothing more to learn from it
            if not stats.total:
                continue
            detail = (
                f"{stats.visible} queued, {stats.delayed} waiting to retry, {stats.in_flight} taken"
            )
            if in_memory:
                self._registry.functions[name].stats.abandoned_events += stats.total
                lost += stats.total
                logger.warning(
                    "abandoned: function %s %d Event invocations not run (%s); memory storage "
                    "keeps nothing after the process ends",
                    name,
                    stats.total,
                    detail,
                )
            else:
                logger.info(
                    "function %s: %d Event invocations stay in the store for the next start (%s)",
                    name,
                    stats.total,
                    detail,
                )
        return lost

    async def _shut_down(self) -> int:
        """Stop everything; returns how many Event invocations were lost (memory only).

        Stopping a service or a function's workers waits a few seconds for a handler that
        ignores its cancellation; a stop cancelled there (a second Ctrl-C) is finished by the
        next ``stop()`` from that step, so the services after it still stop and the Event
        invocations lost are still counted and logged."""
        self.running = False
        self._invoker.running = False
        if self._starting:  # a service still starting would run on after its stop
            await asyncio.wait(list(self._starting.values()), timeout=5.0)
        if self._to_stop is None:
            self._to_stop = [
                *(service.stop for service in reversed(self._started())),
                *(queue.stop for queue in self._async_queues.values()),
            ]
        while self._to_stop:
            await self._to_stop[0]()
            del self._to_stop[0]
        for setting in self.limits:
            setting.pending.stop()  # no consumer frees room now: waiting producers are told
        lost = await self._report_stored_events()
        for task in list(self._background):
            task.cancel()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        await self._invoker.abandoned.stop()
        self._invoker.close()
        for close in self.closers:
            await close()
        await self._storage.close()
        self._to_stop = None
        return lost
