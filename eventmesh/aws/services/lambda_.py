"""Lambda's operations on the mesh's functions: Invoke, function descriptions, versions,
aliases and event source mappings.

Functions are declared in code (``@mesh.function``, ``mesh.function(handler=..., code=...)``);
the endpoint invokes and describes them, publishes versions, points aliases (with weighted
routing) and maps SQS queues and Kinesis streams onto them (``queue.subscribe`` and
``stream.subscribe`` with Lambda's settings). Aliases and event source mappings made here
are recorded in the mesh's catalog and made again when the endpoint starts.

Invoke answers as Lambda does: 200 with the result (a function error is still 200, with
``X-Amz-Function-Error: Unhandled`` and Lambda's error object as the payload), 202 for
``Event``, 204 for ``DryRun``; ``LogType=Tail`` returns the last 4 KB of the invocation's log
(:mod:`eventmesh.aws.services._log_tail`); throttling is ``TooManyRequestsException`` (429),
an oversized payload ``RequestEntityTooLargeException`` (413, the code Lambda sends, though its
API reference names ``RequestTooLargeException``; code that falls back to S3 for a large
payload tests for it) with Lambda's message for the invocation type.

Not supported: creating, updating or deleting functions (their code is the application's),
layers, function URLs' configuration, concurrency and event invoke configuration, tags,
policies; published versions are not recorded (a restarted mesh publishes anew).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import sys
import uuid
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from eventmesh._errors import (
    BackpressureError,
    ConfigurationError,
    EventMeshError,
    PayloadError,
    RecursiveInvocationError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from eventmesh._function import LATEST, Alias, Function, FunctionTarget, FunctionVersion
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._log_tail import TAIL
from eventmesh.declare import DeclarationError
from eventmesh.declare.event_source_mapping import (
    function_reference,
    mapping_settings,
    source_service,
)
from eventmesh.declare.lambda_alias import alias_routing
from eventmesh.resources.queue import Queue
from eventmesh.resources.stream import Stream

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["ALIAS_KIND", "MAPPING_KIND", "describe_version"]

logger = logging.getLogger("eventmesh.aws")
LAMBDA = "lambda"
InvocationType = Literal["RequestResponse", "Event", "DryRun"]
ALIAS_KIND = "lambda.alias"
MAPPING_KIND = "lambda.event_source_mapping"
_QUEUE_KINDS = ("sqs.queue",)
_STREAM_KINDS = ("kinesis.stream",)
_PROCESS_OUTPUT_GRACE = 0.05
"""How long a Tail invocation of a process function waits for its last output lines, which
travel through a pipe and may arrive just after the answer."""


# -- errors ----------------------------------------------------------------------------------
def _error(code: str, message: str, status: int, **fields: Any) -> AwsError:
    return AwsError(code, message, status, fields={"Type": "User", **fields})


def invalid_parameter(message: str) -> AwsError:
    return _error("InvalidParameterValueException", message, 400)


def not_found(message: str) -> AwsError:
    return _error("ResourceNotFoundException", message, 404)


def _conflict(message: str) -> AwsError:
    return _error("ResourceConflictException", message, 409)


def _function_arn(mesh: Mesh, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:lambda:{mesh.region}:{mesh.account_id}:function:{name}"


def _target(mesh: Mesh, name: str, qualifier: str | None = None) -> FunctionTarget:
    """The function (and version or alias) named, or ResourceNotFoundException as Lambda
    words it."""
    try:
        target = mesh.resolve_function(name)
    except ResourceNotFoundError:
        raise not_found(f"Function not found: {_function_arn(mesh, name)}") from None
    if qualifier is not None and qualifier != target.qualifier:
        if target.qualifier is not None:
            raise invalid_parameter(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        full = f"{target.function.name}:{qualifier}"
        try:
            target = mesh.resolve_function(full)
        except ResourceNotFoundError:
            raise not_found(f"Function not found: {_function_arn(mesh, full)}") from None
    return target


# -- describing functions --------------------------------------------------------------------
class _Facts:
    """What Lambda reports of a version that the mesh does not keep: when it was made, its
    revision and description."""

    __slots__ = ("description", "last_modified", "revision")

    def __init__(self, when: float) -> None:
        self.last_modified = when
        self.revision = str(uuid.uuid4())
        self.description = ""


_FACTS: weakref.WeakKeyDictionary[object, _Facts] = weakref.WeakKeyDictionary()


def _facts(call: AwsCall, thing: FunctionVersion | Alias) -> _Facts:
    found = _FACTS.get(thing)
    if found is None:
        found = _FACTS[thing] = _Facts(call.mesh.clock.time())
    return found


def _lambda_time(epoch: float) -> str:
    """Lambda's LastModified: ``2024-05-01T12:00:00.000+0000``."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _runtime_and_handler(function: Function) -> tuple[str, str]:
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    handler_string = getattr(function, "handler_string", None)
    if isinstance(handler_string, str):
        runtime = getattr(function, "runtime_name", None)
        if isinstance(runtime, str) and runtime:
            return runtime, handler_string
        code = getattr(function, "code", None)
        if isinstance(code, Path) and (code / "bootstrap").is_file():
            return "provided.al2023", handler_string
        return python, handler_string
    handler = function.latest.handler
    module = getattr(handler, "__module__", None) or "handler"
    qualname = getattr(handler, "__qualname__", None) or function.name
    return python, f"{module}.{qualname}"


def _destination_arn(spec: Any) -> str | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        return spec
    arn = getattr(spec, "arn", None)
    return arn if isinstance(arn, str) else None


def describe_version(call: AwsCall, version: FunctionVersion) -> dict[str, Any]:
    """Lambda's FunctionConfiguration of one version."""
    function = version.function
    arn = _function_arn(call.mesh, function.name)
    if version.version != LATEST:
        arn = f"{arn}:{version.version}"
    runtime, handler = _runtime_and_handler(function)
    config = version.config
    facts = _facts(call, version)
    answer: dict[str, Any] = {
        "FunctionName": function.name,
        "FunctionArn": arn,
        "Runtime": runtime,
        "Role": f"arn:aws:iam::{call.mesh.account_id}:role/eventmesh-function",
        "Handler": handler,
        "CodeSize": 0,
        "Description": facts.description,
        "Timeout": max(1, round(config.timeout)),  # whole seconds, as Lambda's
        "MemorySize": config.memory,
        "LastModified": _lambda_time(facts.last_modified),
        "CodeSha256": base64.b64encode(
            hashlib.sha256(f"{function.name}:{handler}".encode()).digest()
        ).decode(),
        "Version": version.version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": facts.revision,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function.name}"},
    }
    if config.environment:
        answer["Environment"] = {"Variables": dict(config.environment)}
    dead_letter = _destination_arn(config.dead_letter)
    if dead_letter is not None:
        answer["DeadLetterConfig"] = {"TargetArn": dead_letter}
    return answer


def _page(items: list[Any], params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Lambda's Marker/MaxItems pages (the marker is the index of the next item)."""
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            start = -1
        if start < 0:  # a marker we never gave: a negative start would slice from the end
            raise invalid_parameter("Invalid marker")
    limit = params.get("MaxItems") or 50
    if not 1 <= limit <= 10000:
        raise invalid_parameter("MaxItems must be between 1 and 10000")
    answer: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        answer["NextMarker"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return answer


@operation(LAMBDA, "ListFunctions")
async def list_functions(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    every = params.get("FunctionVersion")
    if every not in (None, "ALL"):
        raise invalid_parameter("FunctionVersion must be ALL")
    described: list[dict[str, Any]] = []
    for name in sorted(call.mesh.functions):
        function = call.mesh.functions[name]
        described.append(describe_version(call, function.latest))
        if every == "ALL":
            described.extend(
                describe_version(call, function.versions[number])
                for number in sorted(function.versions, key=int)
            )
    return _page(described, params, "Functions")


@operation(LAMBDA, "GetFunction")
async def get_function(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    target = _target(call.mesh, params["FunctionName"], params.get("Qualifier"))
    answer: dict[str, Any] = {
        "Configuration": _configuration_of(call, target),
        "Code": {"RepositoryType": "S3"},
        "Tags": {},
    }
    reserved = target.function.latest.config.reserved_concurrency
    if reserved is not None:
        answer["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return answer


def _configuration_of(call: AwsCall, target: FunctionTarget) -> dict[str, Any]:
    if target.alias is not None:
        version = target.function.version(target.alias.version)
    else:
        version = target.version or target.function.latest
    return describe_version(call, version)


@operation(LAMBDA, "GetFunctionConfiguration")
async def get_function_configuration(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    return _configuration_of(
        call, _target(call.mesh, params["FunctionName"], params.get("Qualifier"))
    )


@operation(LAMBDA, "ListVersionsByFunction")
async def list_versions_by_function(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    function = _target(call.mesh, params["FunctionName"]).function
    versions = [function.latest] + [
        function.versions[number] for number in sorted(function.versions, key=int)
    ]
    return _page([describe_version(call, v) for v in versions], params, "Versions")


@operation(LAMBDA, "PublishVersion")
async def publish_version(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    target = _target(call.mesh, params["FunctionName"])
    if target.qualifier is not None:
        raise invalid_parameter("PublishVersion takes an unqualified function name")
    function = target.function
    latest = describe_version(call, function.latest)
    if params.get("CodeSha256") and params["CodeSha256"] != latest["CodeSha256"]:
        raise invalid_parameter(
            f"CodeSHA256 ({params['CodeSha256']}) is different from current CodeSHA256 in "
            f"$LATEST ({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
        )
    if params.get("RevisionId") and params["RevisionId"] != latest["RevisionId"]:
        raise _error(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id",
            412,
        )
    known = set(function.versions)
    version = function.publish_version()
    if version.version not in known and params.get("Description"):
        _facts(call, version).description = params["Description"]
    return describe_version(call, version)


# -- aliases ---------------------------------------------------------------------------------
def _alias_arn(call: AwsCall, function: Function, name: str) -> str:
    return f"{_function_arn(call.mesh, function.name)}:{name}"


def describe_alias(call: AwsCall, alias: Alias) -> dict[str, Any]:
    facts = _facts(call, alias)
    answer: dict[str, Any] = {
        "AliasArn": _alias_arn(call, alias.function, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.version,
        "Description": facts.description,
        "RevisionId": facts.revision,
    }
    if alias.routing:
        answer["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.routing)}
    return answer


def _function_named(call: AwsCall, name: str) -> Function:
    target = _target(call.mesh, name)
    if target.qualifier is not None:
        raise invalid_parameter("An alias is made on an unqualified function name")
    return target.function


def _routing(params: Mapping[str, Any]) -> dict[str, float] | None:
    try:
        return alias_routing(params.get("RoutingConfig"))
    except DeclarationError as exc:
        raise invalid_parameter(f"{exc.member}: {exc}") from None


def _point(
    call: AwsCall, function: Function, name: str, version: str, routing: dict[str, float]
) -> Alias:
    if version != LATEST and version not in function.versions:
        raise not_found(f"Function not found: {_alias_arn(call, function, version)}")
    for extra in routing:
        if extra not in function.versions:
            raise not_found(f"Function not found: {_alias_arn(call, function, extra)}")
    try:
        return call.mesh.alias(function, name, version, routing)
    except ConfigurationError as exc:
        raise invalid_parameter(str(exc)) from None


async def _record_alias(call: AwsCall, alias: Alias) -> None:
    await catalog.record(
        call.mesh,
        ALIAS_KIND,
        f"{alias.function.name}:{alias.name}",
        {
            "FunctionVersion": alias.version,
            "Routing": dict(alias.routing),
            "Description": _facts(call, alias).description,
        },
    )


@operation(LAMBDA, "CreateAlias")
async def create_alias(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    function = _function_named(call, params["FunctionName"])
    name = params["Name"]
    if name in function.aliases:
        raise _conflict(f"Alias already exists: {_alias_arn(call, function, name)}")
    alias = _point(call, function, name, params["FunctionVersion"], _routing(params) or {})
    _facts(call, alias).description = params.get("Description") or ""
    await _record_alias(call, alias)
    return describe_alias(call, alias)


def _existing_alias(call: AwsCall, function: Function, name: str) -> Alias:
    alias = function.aliases.get(name)
    if alias is None:
        raise not_found(f"Alias not found: {_alias_arn(call, function, name)}")
    return alias


@operation(LAMBDA, "UpdateAlias")
async def update_alias(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    function = _function_named(call, params["FunctionName"])
    current = _existing_alias(call, function, params["Name"])
    facts = _facts(call, current)
    if params.get("RevisionId") and params["RevisionId"] != facts.revision:
        raise _error(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id",
            412,
        )
    routing = _routing(params)
    alias = _point(
        call,
        function,
        current.name,
        params.get("FunctionVersion") or current.version,
        dict(current.routing) if routing is None else routing,
    )
    if params.get("Description") is not None:
        facts.description = params["Description"]
    facts.revision = str(uuid.uuid4())
    await _record_alias(call, alias)
    return describe_alias(call, alias)


@operation(LAMBDA, "GetAlias")
async def get_alias(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    function = _function_named(call, params["FunctionName"])
    return describe_alias(call, _existing_alias(call, function, params["Name"]))


@operation(LAMBDA, "ListAliases")
async def list_aliases(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    function = _function_named(call, params["FunctionName"])
    wanted = params.get("FunctionVersion")
    aliases = [
        describe_alias(call, function.aliases[name])
        for name in sorted(function.aliases)
        if wanted is None or function.aliases[name].version == wanted
    ]
    return _page(aliases, params, "Aliases")


async def _restore_alias(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    function_name, _, alias_name = name.partition(":")
    function = mesh.get_function(function_name)
    version = str(settings.get("FunctionVersion", LATEST))
    routing = {str(k): float(v) for k, v in (settings.get("Routing") or {}).items()}
    missing = [v for v in (version, *routing) if v != LATEST and v not in function.versions]
    if missing:
        raise ConfigurationError(
            f"alias {name!r} points to version {missing[0]}, not published in this process"
        )
    alias = mesh.alias(function, alias_name, version, routing)
    facts = _FACTS.get(alias) or _Facts(mesh.clock.time())
    facts.description = str(settings.get("Description") or "")
    _FACTS[alias] = facts


catalog.register_kind(ALIAS_KIND, _restore_alias)


# -- invoking --------------------------------------------------------------------------------
def _client_context(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(base64.b64decode(text.encode(), validate=True))
    except (binascii.Error, ValueError):
        value = None
    if not isinstance(value, dict):
        raise _error(
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
            400,
        )
    return value


def _event(payload: bytes | None) -> Any:
    if not payload:
        return {}
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _error(
            "InvalidRequestContentException",
            f"Could not parse request body into json: {exc}",
            400,
        ) from None


def _invoke_error(exc: EventMeshError) -> AwsError:
    if isinstance(exc, TooManyRequestsError):
        return _error(
            "TooManyRequestsException",
            "Rate Exceeded.",
            429,
            Reason=exc.reason,
            retryAfterSeconds=str(max(1, round(exc.retry_after))),
        )
    if isinstance(exc, BackpressureError):
        return _error(
            "TooManyRequestsException", "Rate Exceeded.", 429, Reason="CallerRateLimitExceeded"
        )
    if isinstance(exc, RequestTooLargeError):
        return _error("RequestEntityTooLargeException", str(exc), 413)
    if isinstance(exc, RecursiveInvocationError):
        return _error("RecursiveInvocationException", str(exc), 400)
    if isinstance(exc, ResourceNotFoundError):
        return not_found(str(exc))
    if isinstance(exc, PayloadError):
        return _error("InvalidRequestContentException", str(exc), 400)
    return AwsError("ServiceException", str(exc), 500, sender_fault=False)


def _too_large(invocation_type: str, payload: bytes, limit: int) -> str:
    """Lambda's message for a payload over the invocation type's limit."""
    if invocation_type == "Event":
        return (
            f"{len(payload)} byte payload is too large for the Event invocation type "
            f"(limit {limit} bytes)"
        )
    return f"Request must be smaller than {limit} bytes for the InvokeFunction operation"


@operation(LAMBDA, "Invoke")
async def invoke(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    target = _target(call.mesh, params["FunctionName"], params.get("Qualifier"))
    invocation_type: InvocationType = params.get("InvocationType") or "RequestResponse"
    payload: bytes = params.get("Payload") or b""
    mesh = call.mesh
    limit = mesh.max_event_payload if invocation_type == "Event" else mesh.max_sync_payload
    if len(payload) > limit:
        raise _error(
            "RequestEntityTooLargeException", _too_large(invocation_type, payload, limit), 413
        )
    event = _event(payload)
    context = _client_context(params.get("ClientContext"))
    name = (
        target.function.name
        if target.qualifier is None
        else f"{target.function.name}:{target.qualifier}"
    )
    tail = params.get("LogType") == "Tail" and invocation_type == "RequestResponse"
    log = b""
    try:
        if tail:
            with TAIL.capturing():
                result = await mesh.invoke(name, event, invocation_type, client_context=context)
                if getattr(target.function, "handler_string", None) is not None:
                    await asyncio.sleep(_PROCESS_OUTPUT_GRACE)
                log = TAIL.take(result.request_id)
        else:
            result = await mesh.invoke(
                name,
                event,
                invocation_type,
                client_context=context,
                # a full queue of Event invocations is a throttle (429), not a wait
                timeout=0 if invocation_type == "Event" else None,
            )
    except EventMeshError as exc:
        raise _invoke_error(exc) from None
    answer: dict[str, Any] = {"StatusCode": result.status_code}
    if invocation_type == "RequestResponse":
        answer["Payload"] = orjson.dumps(result.payload)
        answer["ExecutedVersion"] = result.executed_version or LATEST
        if result.function_error:
            answer["FunctionError"] = result.function_error
        if tail:
            answer["LogResult"] = base64.b64encode(log).decode()
    else:
        answer["Payload"] = b""
    return answer


# -- event source mappings -------------------------------------------------------------------
_MAPPINGS: weakref.WeakKeyDictionary[Mesh, dict[str, Any]] = weakref.WeakKeyDictionary()
"""The mappings each mesh made through the endpoint, by UUID."""


async def _source(mesh: Mesh, arn: str) -> Queue | Stream:
    try:
        service = source_service(arn)
    except DeclarationError as exc:
        raise invalid_parameter(str(exc)) from None
    parts = arn.split(":", 5)
    found = mesh.context.find_resource(arn)
    if found is None:
        for kind in _QUEUE_KINDS if service == "sqs" else _STREAM_KINDS:
            name = parts[5].removeprefix("stream/")
            try:
                if await catalog.load(mesh, kind, name):
                    found = mesh.context.find_resource(arn)
                    break
            except (KeyError, AwsError, EventMeshError):  # a record this process cannot make
                continue
    wanted = Queue if service == "sqs" else Stream
    if not isinstance(found, wanted):
        raise invalid_parameter(
            f"Error occurred while ReceiveMessage. SQS Error Code: "
            f"AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
            f"does not exist for this wsdl version. ({arn})"
            if service == "sqs"
            else f"Stream not found: {arn}"
        )
    return found


def _settings(source: Queue | Stream, params: Mapping[str, Any]) -> dict[str, Any]:
    """``subscribe``'s settings from Lambda's parameters (:mod:`eventmesh.declare`)."""
    try:
        return mapping_settings("queue" if isinstance(source, Queue) else "stream", params)
    except DeclarationError as exc:
        raise invalid_parameter(str(exc)) from None


def _describe_mapping(
    call: AwsCall,
    mapping_id: str,
    source: Queue | Stream,
    function_arn: str,
    entry: Mapping[str, Any],
    state: str,
) -> dict[str, Any]:
    settings = entry["settings"]
    answer: dict[str, Any] = {
        "UUID": mapping_id,
        "BatchSize": settings["batch_size"],
        "MaximumBatchingWindowInSeconds": int(settings["batching_window"]),
        "EventSourceArn": source.arn,
        "FunctionArn": function_arn,
        "LastModified": datetime.fromtimestamp(entry["created"], tz=UTC),
        "State": state,
        "StateTransitionReason": "USER_INITIATED",
        "EventSourceMappingArn": (
            f"arn:aws:lambda:{call.mesh.region}:{call.mesh.account_id}:event-source-mapping:"
            f"{mapping_id}"
        ),
    }
    if settings["report_batch_item_failures"]:
        answer["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if settings["filters"]:
        answer["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in settings["filters"]]}
    if isinstance(source, Queue):
        if settings.get("max_concurrency") is not None:
            answer["ScalingConfig"] = {"MaximumConcurrency": settings["max_concurrency"]}
        return answer
    answer.update(
        StartingPosition=settings["starting_position"],
        ParallelizationFactor=settings["parallelization_factor"],
        BisectBatchOnFunctionError=settings["bisect_on_error"],
        MaximumRetryAttempts=settings["max_retries"],
        MaximumRecordAgeInSeconds=settings["max_record_age"],
        DestinationConfig={"OnFailure": {"Destination": settings["on_failure"]}}
        if settings["on_failure"]
        else {"OnFailure": {}},
    )
    if settings.get("starting_position_timestamp") is not None:
        answer["StartingPositionTimestamp"] = settings["starting_position_timestamp"]
    return answer


async def _create_mapping(
    mesh: Mesh, params: Mapping[str, Any], mapping_id: str, created: float
) -> dict[str, Any]:
    source = await _source(mesh, params["EventSourceArn"])
    target = _target(mesh, params["FunctionName"])
    settings = _settings(source, params)
    for existing in source.mappings:
        other = existing.function
        other_name = other if isinstance(other, str) else getattr(other, "name", "")
        if other_name.split(":")[0] == target.function.name:
            raise _conflict(
                f"An event source mapping with {'SQS' if isinstance(source, Queue) else 'Kinesis'}"
                f' arn (" {source.arn} ") and function (" {target.function.name} ") already '
                "exists. Please update or delete the existing mapping."
            )
    function = function_reference(target)
    try:
        mapping = source.subscribe(function, **settings)
    except (ConfigurationError, PayloadError) as exc:
        raise invalid_parameter(str(exc)) from None
    entry = {
        "mapping": mapping,
        "source": source,
        "function_arn": target.arn,
        "settings": settings,
        "created": created,
    }
    _MAPPINGS.setdefault(mesh, {})[mapping_id] = entry
    return entry


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    value = dict(params)
    stamp = value.get("StartingPositionTimestamp")
    if isinstance(stamp, datetime):
        value["StartingPositionTimestamp"] = stamp.timestamp()
    return value


@operation(LAMBDA, "CreateEventSourceMapping")
async def create_event_source_mapping(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    mapping_id = str(uuid.uuid4())
    created = call.mesh.clock.time()
    entry = await _create_mapping(call.mesh, params, mapping_id, created)
    await catalog.record(
        call.mesh, MAPPING_KIND, mapping_id, {"params": _jsonable(params), "created": created}
    )
    return _describe_mapping(
        call, mapping_id, entry["source"], entry["function_arn"], entry, "Creating"
    )


async def _entry(call: AwsCall, mapping_id: str) -> dict[str, Any]:
    entry = _MAPPINGS.get(call.mesh, {}).get(mapping_id)
    if entry is None:
        await _load_mapping(call.mesh, mapping_id)
        entry = _MAPPINGS.get(call.mesh, {}).get(mapping_id)
    if entry is None:
        raise not_found(
            f"The resource you requested does not exist. (Service: Lambda, UUID: {mapping_id})"
        )
    return dict(entry)


async def _load_mapping(mesh: Mesh, mapping_id: str) -> None:
    """Make here a mapping another worker recorded; one this process cannot make (its
    function or source is not declared here) is logged and left out."""
    try:
        await catalog.load(mesh, MAPPING_KIND, mapping_id)
    except EventMeshError as exc:
        logger.error("event source mapping %s cannot be made here: %s", mapping_id, exc)


def _state(entry: Mapping[str, Any]) -> str:
    return "Enabled" if getattr(entry["mapping"], "enabled", True) else "Disabled"


@operation(LAMBDA, "GetEventSourceMapping")
async def get_event_source_mapping(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    entry = await _entry(call, params["UUID"])
    return _describe_mapping(
        call, params["UUID"], entry["source"], entry["function_arn"], entry, _state(entry)
    )


@operation(LAMBDA, "ListEventSourceMappings")
async def list_event_source_mappings(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    for mapping_id in await catalog.recorded(call.mesh, MAPPING_KIND):
        if mapping_id not in _MAPPINGS.get(call.mesh, {}):
            await _load_mapping(call.mesh, mapping_id)
    function_arn = None
    if params.get("FunctionName"):
        function_arn = _target(call.mesh, params["FunctionName"]).arn
    described = [
        _describe_mapping(call, mapping_id, e["source"], e["function_arn"], e, _state(e))
        for mapping_id, e in _MAPPINGS.get(call.mesh, {}).items()
        if (params.get("EventSourceArn") in (None, e["source"].arn))
        and (function_arn is None or e["function_arn"] == function_arn)
    ]
    return _page(described, params, "EventSourceMappings")


async def _restore_mapping(mesh: Mesh, mapping_id: str, settings: Mapping[str, Any]) -> None:
    if mapping_id in _MAPPINGS.get(mesh, {}):
        return
    params = dict(settings["params"])
    try:
        await _create_mapping(mesh, params, mapping_id, float(settings["created"]))
    except AwsError as exc:
        raise ConfigurationError(f"event source mapping {mapping_id}: {exc.message}") from None


catalog.register_kind(MAPPING_KIND, _restore_mapping, after=(*_QUEUE_KINDS, *_STREAM_KINDS))
