"""Kinesis Data Streams over the mesh's streams: CreateStream, DescribeStreamSummary,
ListShards, PutRecord(s), GetShardIterator, GetRecords.

A stream is ``mesh.stream(name, shards=...)``: its shards split the hash-key range evenly,
records go to the shard of their partition key's MD5 (or their ``ExplicitHashKey``) and get
Kinesis-shaped 56-digit sequence numbers (:mod:`eventmesh.resources.stream`). An on-demand
stream starts with 4 shards, as Kinesis's does, and keeps them (the mesh does not reshard).

Shard iterators are opaque tokens carrying the stream, the shard, the place in it and when
the iterator was made (on the mesh's clock); one older than five minutes is refused with
``ExpiredIteratorException``, as Kinesis refuses it. They are not signed: a reader who edits
one can only read the stream from another place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventmesh._errors import BackendError, BackpressureError, EventMeshError, PayloadError
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._shared import PerMesh, decode_token, encode_token, page
from eventmesh.declare.kinesis import KinesisDeclarationError, declared_mode, stream_settings
from eventmesh.resources.stream import ShardIterator, Stream

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__: list[str] = []

KIND = "kinesis.stream"
"""Catalog kind: a stream by name, with its shard count, mode and creation time."""

ITERATOR_LIFETIME = 300.0
"""Seconds a shard iterator is valid (Kinesis: 5 minutes)."""
PUT_TIMEOUT = 5.0
"""Seconds a put waits for room in a shard at its limit before
ProvisionedThroughputExceededException."""
_DEFAULT_LIST_SHARDS = 1000


@dataclass
class _StreamInfo:
    mode: str
    created: float


@dataclass
class _KinesisState:
    streams: dict[str, _StreamInfo] = field(default_factory=dict)


_STATE: PerMesh[_KinesisState] = PerMesh(_KinesisState)


def _stream_name(call: AwsCall, params: Mapping[str, Any]) -> str:
    name = params.get("StreamName")
    arn = params.get("StreamARN")
    if name is None and arn is None:
        raise AwsError("ValidationException", "Either StreamName or StreamARN should be provided.")
    if arn is not None:
        _, _, from_arn = arn.partition(":stream/")
        if not from_arn or not arn.startswith("arn:"):
            raise AwsError("ValidationException", f"StreamARN {arn} is not a stream's ARN.")
        if name is not None and name != from_arn:
            raise AwsError("ValidationException", "StreamName and StreamARN name other streams.")
        return str(from_arn)
    assert name is not None
    return str(name)


def _not_found(call: AwsCall, name: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException", f"Stream {name} under account {call.account_id} not found."
    )


async def _stream(call: AwsCall, params: Mapping[str, Any]) -> Stream:
    name = _stream_name(call, params)
    found = call.mesh.context.find_resource(name)
    if found is None and await catalog.load(call.mesh, KIND, name):
        found = call.mesh.context.find_resource(name)
    if not isinstance(found, Stream):
        raise _not_found(call, name)
    return found


def _info(call: AwsCall, stream: Stream) -> _StreamInfo:
    streams = _STATE.of(call.mesh).streams
    info = streams.get(stream.name)
    if info is None:  # a stream of the app's code or of a template
        mode = declared_mode(stream) or "PROVISIONED"
        info = streams[stream.name] = _StreamInfo(mode, call.mesh.clock.time())
    return info


def _invalid(exc: Exception) -> AwsError:
    return AwsError("InvalidArgumentException", str(exc))


# -- streams ---------------------------------------------------------------------------------
@operation("kinesis", "CreateStream")
async def create_stream(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name: str = params["StreamName"]
    try:
        declared = stream_settings(params.get("StreamModeDetails"), params.get("ShardCount"))
    except KinesisDeclarationError as exc:
        raise AwsError(exc.code, str(exc)) from None
    mode, count = declared.mode, declared.shards
    exists = call.mesh.context.find_resource(name) is not None
    if exists or await catalog.lookup(call.mesh, KIND, name) is not None:
        raise AwsError(
            "ResourceInUseException",
            f"Stream {name} under account {call.account_id} already exists.",
        )
    try:
        call.mesh.stream(name, shards=count)
    except EventMeshError as exc:
        raise AwsError("ValidationException", str(exc)) from None
    info = _STATE.of(call.mesh).streams[name] = _StreamInfo(mode, call.mesh.clock.time())
    await catalog.record(
        call.mesh, KIND, name, {"shards": count, "mode": mode, "created": info.created}
    )
    return {}


@operation("kinesis", "DescribeStreamSummary")
async def describe_stream_summary(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    stream = await _stream(call, params)
    info = _info(call, stream)
    summary = {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": info.mode},
        "RetentionPeriodHours": int(stream.retention // 3600),
        "StreamCreationTimestamp": datetime.fromtimestamp(info.created, UTC),
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
        "OpenShardCount": len(stream.shards),
        "ConsumerCount": 0,
    }
    return {"StreamDescriptionSummary": summary}


@operation("kinesis", "ListShards")
async def list_shards(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    token = params.get("NextToken")
    if token is not None:
        if params.get("StreamName") is not None or params.get("StreamARN") is not None:
            raise AwsError(
                "InvalidArgumentException", "NextToken and StreamName cannot be provided together."
            )
        state = decode_token(token, "InvalidArgumentException", "NextToken")
        if not isinstance(state, list) or len(state) != 2:
            raise AwsError("InvalidArgumentException", "Invalid NextToken.")
        lookup: dict[str, Any] = {"StreamName": state[0]}
        index_token = encode_token(state[1])
    else:
        lookup, index_token = params, None
    stream = await _stream(call, lookup)
    shards = list(stream.shards)
    after = params.get("ExclusiveStartShardId")
    shard_filter = params.get("ShardFilter") or {}
    if shard_filter.get("Type") == "AFTER_SHARD_ID":
        after = shard_filter.get("ShardId") or after
    if after is not None:
        shards = [shard for shard in shards if shard.shard_id > after]
    limit = params.get("MaxResults")
    if limit is not None and not 1 <= limit <= 10_000:
        raise AwsError("InvalidArgumentException", "MaxResults must be from 1 to 10000.")
    chunk, following = page(
        shards, limit, index_token, _DEFAULT_LIST_SHARDS, "InvalidArgumentException"
    )
    answer: dict[str, Any] = {
        "Shards": [
            {
                "ShardId": shard.shard_id,
                "HashKeyRange": {
                    "StartingHashKey": str(shard.starting_hash_key),
                    "EndingHashKey": str(shard.ending_hash_key),
                },
                "SequenceNumberRange": {
                    "StartingSequenceNumber": stream.sequence_number_at(shard.shard_id, 1)
                },
            }
            for shard in chunk
        ]
    }
    if following is not None:
        index = decode_token(following, "InvalidArgumentException", "NextToken")
        answer["NextToken"] = encode_token([stream.name, index])
    return answer


# -- producing -------------------------------------------------------------------------------
def _partition_key(params: Mapping[str, Any], where: str) -> str:
    key = params.get("PartitionKey")
    if key is None:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value null at '{where}partitionKey' failed to "
            "satisfy constraint: Member must not be null",
        )
    return str(key)


def _throttled(call: AwsCall, stream: Stream, shard_id: str) -> AwsError:
    return AwsError(
        "ProvisionedThroughputExceededException",
        f"Rate exceeded for shard {shard_id} in stream {stream.name} under account "
        f"{call.account_id}.",
    )


@operation("kinesis", "PutRecord")
async def put_record(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    stream = await _stream(call, params)
    key = _partition_key(params, "")
    explicit = params.get("ExplicitHashKey")
    ordering = params.get("SequenceNumberForOrdering")
    if ordering is not None and not (ordering.isdigit() and len(ordering) <= 128):
        raise AwsError(
            "InvalidArgumentException", f"SequenceNumberForOrdering {ordering} is not valid."
        )
    # Records of one partition key are in order in its shard already: the ordering number is
    # accepted and has nothing more to do.
    try:
        shard_id = stream.shard_for(key, explicit)
        result = await stream.put_record(
            params["Data"], key, explicit_hash_key=explicit, timeout=PUT_TIMEOUT
        )
    except BackpressureError:
        raise _throttled(call, stream, stream.shard_for(key, explicit)) from None
    except (PayloadError, EventMeshError) as exc:
        raise _invalid(exc) from None
    assert result.shard_id == shard_id
    return {
        "ShardId": result.shard_id,
        "SequenceNumber": result.sequence_number,
        "EncryptionType": "NONE",
    }


@operation("kinesis", "PutRecords")
async def put_records(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    """Each shard's records go in one append, so a shard at its limit fails its own records
    (ProvisionedThroughputExceededException, per record as Kinesis reports it) and the other
    shards' records are stored; a malformed record refuses the whole call, as Kinesis does."""
    stream = await _stream(call, params)
    records: list[dict[str, Any]] = params["Records"]
    if not 1 <= len(records) <= 500:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'records' failed to satisfy constraint: "
            "Member must have length less than or equal to 500 and greater than or equal to 1",
        )
    by_shard: dict[str, list[int]] = {}
    entries: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        key = _partition_key(record, f"records.{index + 1}.member.")
        explicit = record.get("ExplicitHashKey")
        try:
            shard_id = stream.shard_for(key, explicit)
        except (PayloadError, EventMeshError) as exc:
            raise _invalid(exc) from None
        by_shard.setdefault(shard_id, []).append(index)
        entries.append(
            {"data": record["Data"], "partition_key": key, "explicit_hash_key": explicit}
        )
    if sum(len(entry["data"]) + len(entry["partition_key"].encode()) for entry in entries) > (
        5 * 1024 * 1024
    ):
        raise AwsError("InvalidArgumentException", "Records size exceeds 5 MB limit")
    results: list[dict[str, Any]] = [{} for _ in records]
    failed = 0
    for shard_id, indexes in by_shard.items():
        try:
            stored = await stream.put_records(
                [entries[index] for index in indexes], timeout=PUT_TIMEOUT
            )
        except BackpressureError:
            error = _throttled(call, stream, shard_id)
            for index in indexes:
                results[index] = {"ErrorCode": error.code, "ErrorMessage": error.message}
            failed += len(indexes)
            continue
        except BackendError as exc:
            for index in indexes:
                results[index] = {"ErrorCode": "InternalFailure", "ErrorMessage": str(exc)}
            failed += len(indexes)
            continue
        except (PayloadError, EventMeshError) as exc:
            raise _invalid(exc) from None
        for index, result in zip(indexes, stored, strict=True):
            results[index] = {"SequenceNumber": result.sequence_number, "ShardId": result.shard_id}
    return {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}


# -- reading ---------------------------------------------------------------------------------
def _token(call: AwsCall, iterator: ShardIterator) -> str:
    return encode_token([iterator.stream, iterator.shard_id, iterator.position, _now(call)])


def _now(call: AwsCall) -> float:
    return call.mesh.clock.time()


@operation("kinesis", "GetShardIterator")
async def get_shard_iterator(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    stream = await _stream(call, params)
    shard_id: str = params["ShardId"]
    if shard_id not in stream.shard_ids:
        raise AwsError(
            "ResourceNotFoundException",
            f"Shard {shard_id} in stream {stream.name} under account {call.account_id} does "
            "not exist",
        )
    kind: str = params["ShardIteratorType"]
    number = params.get("StartingSequenceNumber")
    moment = params.get("Timestamp")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and number is None:
        raise AwsError(
            "InvalidArgumentException",
            f"StartingSequenceNumber is required for iterator type {kind}.",
        )
    if kind == "AT_TIMESTAMP" and moment is None:
        raise AwsError("InvalidArgumentException", "Timestamp is required for AT_TIMESTAMP.")
    try:
        iterator = await stream.get_shard_iterator(
            shard_id,
            kind,
            number if kind.endswith("SEQUENCE_NUMBER") else None,
            moment if kind == "AT_TIMESTAMP" else None,
        )
    except EventMeshError as exc:
        raise _invalid(exc) from None
    return {"ShardIterator": _token(call, iterator)}


async def _iterator(call: AwsCall, token: str) -> tuple[Stream, ShardIterator]:
    value = decode_token(token, "InvalidArgumentException", "ShardIterator")
    well_formed = (
        isinstance(value, list)
        and len(value) == 4
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and isinstance(value[2], int)
        and not isinstance(value[2], bool)
        and value[2] >= 0
        and isinstance(value[3], int | float)
    )
    if not well_formed:
        raise AwsError("InvalidArgumentException", "Invalid ShardIterator.")
    name, shard_id, position, issued = value
    now = _now(call)
    if now - issued > ITERATOR_LIFETIME:
        raise AwsError(
            "ExpiredIteratorException",
            f"Iterator expired. The iterator was created at time {_stamp(issued)} while right "
            f"now it is {_stamp(now)} which is further in the future than the tolerated delay "
            f"of {int(ITERATOR_LIFETIME * 1000)} milliseconds.",
        )
    found = await _stream(call, {"StreamName": name})
    if shard_id not in found.shard_ids:
        raise AwsError("InvalidArgumentException", "Invalid ShardIterator.")
    return found, ShardIterator(name, shard_id, position)


def _stamp(epoch: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch))


@operation("kinesis", "GetRecords")
async def get_records(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    stream, iterator = await _iterator(call, params["ShardIterator"])
    limit = params.get("Limit")
    if limit is None:
        limit = 10_000
    if not 1 <= limit <= 10_000:
        bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 10000"
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            f"constraint: Member must have value {bound}",
        )
    try:
        result = await stream.get_records(iterator, limit)
    except EventMeshError as exc:
        raise _invalid(exc) from None
    records = [
        {
            "SequenceNumber": record.sequence_number,
            "ApproximateArrivalTimestamp": datetime.fromtimestamp(
                record.approximate_arrival_timestamp, UTC
            ),
            "Data": record.data,
            "PartitionKey": record.partition_key,
        }
        for record in result.records
    ]
    return {
        "Records": records,
        "NextShardIterator": _token(call, result.next_shard_iterator),
        "MillisBehindLatest": result.millis_behind_latest,
    }


async def _restore(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    if isinstance(mesh.context.find_resource(name), Stream):
        return  # declared in code, or restored already
    mesh.stream(name, shards=int(settings["shards"]))
    created = float(settings.get("created", mesh.clock.time()))
    _STATE.of(mesh).streams[name] = _StreamInfo(str(settings.get("mode", "PROVISIONED")), created)


catalog.register_kind(KIND, _restore)
