"""Event invoke settings per qualifier (Lambda's PutFunctionEventInvokeConfig), provisioned
concurrency on a version or an alias (PutProvisionedConcurrencyConfig), and the ephemeral
storage setting. On the virtual clock: retries 60 s and 120 s apart take no time."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh, ResourceNotFoundError
from eventmesh.testing import RecordingDestination, VirtualClock


@pytest.fixture(autouse=True)
def both_paths(event_path: str) -> str:
    """Every test here runs with Event invocations handed over and through the store."""
    return event_path


def recording_failures(mesh: Mesh, clock: VirtualClock, attempts: list[float]) -> Any:
    @mesh.function(name="charge")
    async def charge(event: Any, context: Context) -> Any:
        attempts.append(clock.now())
        if event.get("fail"):
            raise ValueError("no")
        return {"charged": event}

    return charge


async def test_an_alias_settings_apply_to_invocations_through_the_alias_only(
    mesh: Mesh, clock: VirtualClock
) -> None:
    attempts: list[float] = []
    charge = recording_failures(mesh, clock, attempts)
    charge.publish_version()
    mesh.alias(charge, "live", "1")
    failures = RecordingDestination()
    successes = RecordingDestination()
    charge.configure_event_invoke("live", retries=0, on_failure=failures, on_success=successes)

    async with mesh:
        await mesh.invoke("charge:live", {"fail": True}, "Event")
        await clock.advance(600)
        assert attempts == [0]  # MaximumRetryAttempts 0: no retry
        assert len(failures.messages) == 1
        record = failures.messages[0]
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["functionArn"].endswith(":function:charge:live")

        await mesh.invoke("charge:live", {"ok": 1}, "Event")
        await clock.advance(1)
        assert successes.messages[0]["requestContext"]["condition"] == "Success"

        # The version itself, and the unqualified name: Lambda's defaults (2 retries).
        attempts.clear()
        await mesh.invoke("charge:1", {"fail": True}, "Event")
        await clock.advance(600)
        assert attempts == [601, 661, 781]  # 1 and 2 minutes apart
        assert len(failures.messages) == 1
        assert len(successes.messages) == 1


async def test_a_version_settings_apply_to_that_version(mesh: Mesh, clock: VirtualClock) -> None:
    attempts: list[float] = []
    charge = recording_failures(mesh, clock, attempts)
    charge.publish_version()
    charge.configure_event_invoke("1", retries=1, max_event_age=100)
    async with mesh:
        await mesh.invoke("charge:1", {"fail": True}, "Event")
        await clock.advance(600)
    assert attempts == [0, 60]  # one retry


async def test_latest_settings_are_the_functions_configuration(mesh: Mesh) -> None:
    charge = recording_failures(mesh, VirtualClock(), [])
    successes = RecordingDestination()
    charge.configure_event_invoke("$LATEST", retries=1, max_event_age=60, on_success=successes)
    config = charge.config
    assert (config.retries, config.max_event_age, config.on_success) == (1, 60, successes)
    assert charge.event_invoke == {}


def test_settings_not_given_are_lambdas_defaults_as_put_replaces_them(mesh: Mesh) -> None:
    failures = RecordingDestination()
    charge = mesh.function(name="charge", retries=0, max_event_age=60, on_failure=failures)(_noop)
    charge.configure_event_invoke("$LATEST", max_event_age=120)
    config = charge.config
    assert (config.retries, config.max_event_age, config.on_failure) == (2, 120, None)
    charge.publish_version()
    charge.configure_event_invoke("1", retries=1)
    settings = charge.event_config("1", charge.versions["1"])
    assert (settings.retries, settings.max_event_age, settings.on_success) == (1, 21600, None)


def test_settings_are_checked(mesh: Mesh) -> None:
    charge = recording_failures(mesh, VirtualClock(), [])
    charge.publish_version()
    with pytest.raises(ConfigurationError, match="retries must be an integer from 0 to 2"):
        charge.configure_event_invoke("1", retries=3)
    with pytest.raises(ConfigurationError, match="max_event_age"):
        charge.configure_event_invoke("1", max_event_age=59)
    with pytest.raises(ConfigurationError, match="not event invoke settings: timeout"):
        charge.configure_event_invoke("1", timeout=5)
    with pytest.raises(ResourceNotFoundError, match="no version or alias 'live'"):
        charge.configure_event_invoke("live", retries=0)


async def test_an_unknown_destination_name_is_refused_at_start(mesh: Mesh) -> None:
    charge = recording_failures(mesh, VirtualClock(), [])
    charge.publish_version()
    charge.configure_event_invoke("1", on_failure="nowhere")
    with pytest.raises(ConfigurationError, match="charge:1 on_failure"):
        async with mesh:
            pass


async def test_provisioned_concurrency_on_an_alias_is_shared_by_its_weights(
    mesh: Mesh,
) -> None:
    charge = recording_failures(mesh, VirtualClock(), [])
    charge.publish_version()
    charge.update_configuration(timeout=5)
    charge.publish_version()
    mesh.alias(charge, "live", "1", {"2": 0.25})
    charge.provision("live", 4)
    assert charge.versions["1"].config.provisioned_concurrency == 3
    assert charge.versions["2"].config.provisioned_concurrency == 1
    assert charge.latest.config.provisioned_concurrency == 0
    async with mesh:
        result = await mesh.invoke("charge:1", {})
    assert result.cold_start is False  # initialised when the mesh started


async def test_provisioned_concurrency_given_while_running_is_initialised_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    charge = recording_failures(mesh, clock, [])
    charge.publish_version()
    mesh.alias(charge, "live", "1")
    async with mesh:
        charge.provision("live", 1)
        await clock.advance(0)
        result = await mesh.invoke("charge:live", {})
    assert result.cold_start is False


def test_provisioned_concurrency_is_refused_on_latest_and_unpublished_versions(
    mesh: Mesh,
) -> None:
    charge = recording_failures(mesh, VirtualClock(), [])
    with pytest.raises(ConfigurationError, match="not \\$LATEST"):
        charge.provision("$LATEST", 1)
    with pytest.raises(ResourceNotFoundError):
        charge.provision("1", 1)
    mesh.alias(charge, "head", "$LATEST")
    with pytest.raises(ConfigurationError, match="needs a published version"):
        charge.provision("head", 1)


def test_provisioned_concurrency_cannot_exceed_reserved(mesh: Mesh) -> None:
    charge = mesh.function(name="capped", reserved_concurrency=2)(_noop)
    charge.publish_version()
    with pytest.raises(ConfigurationError, match="cannot exceed reserved_concurrency"):
        charge.provision("1", 3)
    assert charge.versions["1"].config.provisioned_concurrency == 0


async def _noop(event: Any, context: Context) -> None:
    return None


@pytest.mark.parametrize("size", [511, 10241, 512.5, True])
def test_ephemeral_storage_is_512_to_10240_mb(mesh: Mesh, size: Any) -> None:
    with pytest.raises(ConfigurationError, match="ephemeral_storage must be an integer"):
        mesh.function(name="f", ephemeral_storage=size)(_noop)


def test_ephemeral_storage_is_kept_by_published_versions(mesh: Mesh) -> None:
    function = mesh.function(name="f", ephemeral_storage=10240)(_noop)
    function.publish_version()
    function.update_configuration(ephemeral_storage=512)
    assert function.versions["1"].config.ephemeral_storage == 10240
    assert function.config.ephemeral_storage == 512
