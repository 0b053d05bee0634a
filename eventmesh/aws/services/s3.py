"""S3's operations on the mesh's buckets (``mesh.bucket(name)``) and their blob store.

Buckets created here are the mesh's buckets: a function's ``mesh.bucket("uploads")`` and a
boto3 ``create_bucket(Bucket="uploads")`` are one bucket, and a notification configuration
put here is the bucket's ``notify`` (a Lambda function, SQS queue or SNS topic, with event
types and key prefix/suffix rules) and its ``EventBridgeConfiguration`` the bucket's
``send_to_eventbridge()`` (S3's events on the default bus). Answers and errors follow S3's
documentation: ETags are the quoted hex MD5, ``Range`` answers 206 with ``Content-Range``
(416 ``InvalidRange`` when unsatisfiable), a missing key is ``NoSuchKey`` with its ``Key``,
a missing bucket ``NoSuchBucket`` with its ``BucketName``.

Not supported: versioning, multipart uploads, ACLs and policies, tagging, copying (the
bucket's ``copy_object`` is there, not its operation), deleting buckets (a mesh's
resources live as long as the mesh).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from eventmesh._errors import ConfigurationError, EventMeshError, PayloadError
from eventmesh._function import Function
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._s3_listing import decode_token, encode_token, list_keys
from eventmesh.backends.protocols import BlobInfo
from eventmesh.declare import bucket_notifications as notifications
from eventmesh.resources.bucket import Bucket, NotificationConfiguration
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["OWNER", "apply_notifications", "describe_notifications", "find_bucket", "parse_range"]

logger = logging.getLogger("eventmesh.aws")
S3 = "s3"
OWNER = {
    "DisplayName": "eventmesh",
    "ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
}
"""The owner every bucket and object reports (one account)."""
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_MAX_DELETE = 1000
_CONFIG_KINDS = (
    ("LambdaFunctionConfigurations", "LambdaFunctionArn"),
    ("QueueConfigurations", "QueueArn"),
    ("TopicConfigurations", "TopicArn"),
)


# -- errors ----------------------------------------------------------------------------------
def no_such_bucket(name: str) -> AwsError:
    return AwsError(
        "NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": name}
    )


def no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> AwsError:
    fields = {} if name is None else {"ArgumentName": name, "ArgumentValue": value or ""}
    return AwsError("InvalidArgument", message, 400, fields=fields)


def _precondition_failed(condition: str) -> AwsError:
    return AwsError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        fields={"Condition": condition},
    )


def _not_modified() -> AwsError:
    return AwsError("NotModified", "Not Modified", 304)


# -- buckets ---------------------------------------------------------------------------------
async def find_bucket(call: AwsCall, name: str) -> Bucket:
    """The mesh's bucket of that name (one another worker created through its endpoint is
    re-created here from the catalog), or S3's NoSuchBucket."""
    found = call.mesh.context.find_resource(name)
    if found is None and await catalog.load(call.mesh, BUCKET_KIND, name):
        await _load_notifications(call.mesh, name)
        found = call.mesh.context.find_resource(name)
    if not isinstance(found, Bucket) or found.name != name:
        raise no_such_bucket(name)
    return found


def check_bucket_name(name: str) -> None:
    if (
        not _BUCKET_NAME.match(name)
        or ".." in name
        or _IP_ADDRESS.match(name)
        or name.startswith("xn--")
        or name.endswith("-s3alias")
    ):
        raise AwsError(
            "InvalidBucketName", "The specified bucket is not valid.", fields={"BucketName": name}
        )


@operation(S3, "CreateBucket")
async def create_bucket(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name = params["Bucket"]
    check_bucket_name(name)
    location = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
    wanted = location or "us-east-1"
    if wanted != call.region:
        raise AwsError(
            "IllegalLocationConstraintException",
            f"The {wanted} location constraint is incompatible for the region specific "
            "endpoint this request was sent to.",
        )
    existing = call.mesh.context.find_resource(name)
    if existing is None and await catalog.load(call.mesh, BUCKET_KIND, name):
        existing = call.mesh.context.find_resource(name)
    if isinstance(existing, Bucket):
        if call.region != "us-east-1":  # S3 keeps us-east-1's legacy 200 for the owner
            raise AwsError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                409,
                fields={"BucketName": name},
            )
    elif existing is not None:
        raise AwsError(
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared by "
            "all users of the system. Please select a different name and try again.",
            409,
            fields={"BucketName": name},
        )
    else:
        try:
            call.mesh.bucket(name)
        except ConfigurationError:
            raise AwsError(
                "InvalidBucketName",
                "The specified bucket is not valid.",
                fields={"BucketName": name},
            ) from None
        await catalog.record(call.mesh, BUCKET_KIND, name, {"created": call.mesh.clock.time()})
    answer: dict[str, Any] = {"Location": f"/{name}"}
    if call.region != "us-east-1":
        answer["Location"] = f"{call.endpoint_url}/{name}/"
    return answer


@operation(S3, "HeadBucket")
async def head_bucket(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    await find_bucket(call, params["Bucket"])
    return {"BucketRegion": call.region}


@operation(S3, "GetBucketLocation")
async def get_bucket_location(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    await find_bucket(call, params["Bucket"])
    return {} if call.region == "us-east-1" else {"LocationConstraint": call.region}


@operation(S3, "DeleteBucket")
async def delete_bucket(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket = await find_bucket(call, params["Bucket"])
    if await call.mesh.backend.blobs.list(bucket.name, "", "", 1):
        raise AwsError(
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
            409,
            fields={"BucketName": bucket.name},
        )
    await call.mesh.remove_resource(bucket.name)
    await catalog.forget(call.mesh, NOTIFICATION_KIND, bucket.name)
    await catalog.forget(call.mesh, BUCKET_KIND, bucket.name)
    return {}


@operation(S3, "ListBuckets")
async def list_buckets(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    prefix = params.get("Prefix") or ""
    recorded = await catalog.recorded(call.mesh, BUCKET_KIND)
    for name in recorded:  # made by another worker sharing the storage
        if call.mesh.context.find_resource(name) is None:
            await catalog.load(call.mesh, BUCKET_KIND, name)
            await _load_notifications(call.mesh, name)
    buckets = sorted(
        (b for b in call.mesh.context.resources_of(Bucket) if b.name.startswith(prefix)),
        key=lambda b: b.name,
    )
    after = params.get("ContinuationToken")
    if after is not None:
        position = decode_token(after)
        if position is None:
            raise invalid_argument("The continuation token provided is incorrect")
        buckets = [b for b in buckets if b.name > position]
    limit = params.get("MaxBuckets") or 10000
    page = buckets[:limit]
    started = _started(call)
    answer: dict[str, Any] = {
        "Buckets": [
            {
                "Name": bucket.name,
                "CreationDate": _created(recorded.get(bucket.name), started),
                "BucketRegion": call.region,
            }
            for bucket in page
        ],
        "Owner": dict(OWNER),
    }
    if prefix:
        answer["Prefix"] = prefix
    if len(buckets) > limit and page:
        answer["ContinuationToken"] = encode_token(page[-1].name)
    return answer


def _created(settings: Mapping[str, Any] | None, otherwise: datetime) -> datetime:
    """When a bucket was created through the endpoint; a bucket declared in code has no
    record, and reports the time of the call."""
    created = (settings or {}).get("created")
    if isinstance(created, int | float):
        return datetime.fromtimestamp(int(created), tz=UTC)
    return otherwise


def _started(call: AwsCall) -> datetime:
    return datetime.fromtimestamp(int(call.mesh.clock.time()), tz=UTC)


# -- objects ---------------------------------------------------------------------------------
def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _second(epoch: float) -> datetime:
    """HTTP dates have whole seconds: comparisons use the object's time truncated likewise."""
    return datetime.fromtimestamp(int(epoch), tz=UTC)


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = [part.strip() for part in condition.split(",")]
    return "*" in wanted or any(part.strip('"') == etag for part in wanted)


def _check_conditions(params: Mapping[str, Any], info: BlobInfo) -> None:
    """GetObject/HeadObject's conditional headers, in RFC 7232's order (as S3 applies them)."""
    modified = _second(info.last_modified)
    if_match = params.get("IfMatch")
    if if_match is not None:
        if not _etag_matches(if_match, info.etag):
            raise _precondition_failed("If-Match")
    elif params.get("IfUnmodifiedSince") is not None and modified > params["IfUnmodifiedSince"]:
        raise _precondition_failed("If-Unmodified-Since")
    if_none_match = params.get("IfNoneMatch")
    if if_none_match is not None:
        if _etag_matches(if_none_match, info.etag):
            raise _not_modified()
    elif params.get("IfModifiedSince") is not None and modified <= params["IfModifiedSince"]:
        raise _not_modified()


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` as (first, last) byte offsets, clamped
    to the object; None when the header is not one range S3 honours (then the whole object
    is answered, as S3 ignores it); :class:`AwsError` ``InvalidRange`` (416) when the range
    is well-formed but starts at or past the end."""
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        suffix = _offset(last_text)
        if suffix == 0 or size == 0:
            raise _invalid_range(header, size)
        return max(0, size - suffix), size - 1
    first = _offset(first_text)
    last = size - 1 if last_text == "" else _offset(last_text)
    if last_text != "" and last < first:
        return None
    if first >= size:
        raise _invalid_range(header, size)
    return first, min(last, size - 1)


_PAST_ANY_OBJECT = 10**30


def _offset(digits: str) -> int:
    """A byte offset from the header; one too long for ``int()`` (Python refuses over 4300
    digits) lies past any object, so it stands as a number bigger than every object."""
    significant = digits.lstrip("0")
    return _PAST_ANY_OBJECT if len(significant) > 30 else int(significant or "0")


def _invalid_range(header: str, size: int) -> AwsError:
    return AwsError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        fields={"RangeRequested": header, "ActualObjectSize": str(size)},
    )


def _describe(info: BlobInfo) -> dict[str, Any]:
    return {
        "AcceptRanges": "bytes",
        "LastModified": _second(info.last_modified),
        "ContentLength": info.size,
        "ETag": _quoted(info.etag),
        "ContentType": info.content_type,
        "Metadata": dict(info.metadata),
    }


def _key(params: Mapping[str, Any]) -> str:
    key = params["Key"]
    if not key:
        raise invalid_argument("An object key must not be empty", "Key", key)
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise AwsError("KeyTooLongError", "Your key is too long", 400, fields={"Key": key})
    return str(key)


def _version_id(params: Mapping[str, Any]) -> None:
    version = params.get("VersionId")
    if version not in (None, "null"):
        raise invalid_argument("Invalid version id specified", "versionId", version)


@operation(S3, "PutObject")
async def put_object(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket = await find_bucket(call, params["Bucket"])
    key = _key(params)
    body = params.get("Body") or b""
    if not isinstance(body, bytes | bytearray):
        body = bytes(body.read()) if hasattr(body, "read") else str(body).encode()
    if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
        current = await call.mesh.backend.blobs.head(bucket.name, key)
        if params.get("IfNoneMatch") is not None:
            if params["IfNoneMatch"] != "*":
                raise AwsError("NotImplemented", "If-None-Match on PutObject takes only *", 501)
            if current is not None:
                raise _precondition_failed("If-None-Match")
        if params.get("IfMatch") is not None:
            if current is None:
                raise no_such_key(key)
            if not _etag_matches(params["IfMatch"], current.etag):
                raise _precondition_failed("If-Match")
    try:
        answer = await bucket.put_object(
            key,
            bytes(body),
            metadata=params.get("Metadata"),
            content_type=params.get("ContentType"),
        )
    except PayloadError as exc:
        if "metadata" in str(exc):
            raise AwsError("MetadataTooLarge", str(exc), 400) from None
        raise invalid_argument(str(exc)) from None
    return {"ETag": answer["ETag"]}


async def _found(call: AwsCall, params: Mapping[str, Any]) -> tuple[Bucket, str]:
    bucket = await find_bucket(call, params["Bucket"])
    _version_id(params)
    return bucket, _key(params)


@operation(S3, "GetObject")
async def get_object(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket, key = await _found(call, params)
    found = await call.mesh.backend.blobs.get(bucket.name, key)
    if found is None:
        raise no_such_key(key)
    data, info = found
    _check_conditions(params, info)
    answer = _describe(info)
    answer["Body"] = data
    header = params.get("Range")
    if header:
        span = parse_range(header, info.size)
        if span is not None:
            first, last = span
            answer["Body"] = data[first : last + 1]
            answer["ContentLength"] = last - first + 1
            answer["ContentRange"] = f"bytes {first}-{last}/{info.size}"
    _override_headers(params, answer)
    return answer


def _override_headers(params: Mapping[str, Any], answer: dict[str, Any]) -> None:
    """GetObject's response-* query parameters replace the answer's headers."""
    for given, member in (
        ("ResponseContentType", "ContentType"),
        ("ResponseCacheControl", "CacheControl"),
        ("ResponseContentDisposition", "ContentDisposition"),
        ("ResponseContentEncoding", "ContentEncoding"),
        ("ResponseContentLanguage", "ContentLanguage"),
    ):
        if params.get(given) is not None:
            answer[member] = params[given]


@operation(S3, "HeadObject")
async def head_object(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket, key = await _found(call, params)
    info = await call.mesh.backend.blobs.head(bucket.name, key)
    if info is None:
        raise no_such_key(key)
    _check_conditions(params, info)
    answer = _describe(info)
    header = params.get("Range")
    if header:
        span = parse_range(header, info.size)
        if span is not None:
            answer["ContentLength"] = span[1] - span[0] + 1
            answer["ContentRange"] = f"bytes {span[0]}-{span[1]}/{info.size}"
    return answer


@operation(S3, "DeleteObject")
async def delete_object(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket, key = await _found(call, params)
    await bucket.delete_object(key)
    return {}


@operation(S3, "DeleteObjects")
async def delete_objects(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket = await find_bucket(call, params["Bucket"])
    request = params.get("Delete") or {}
    objects = request.get("Objects") or []
    if not objects or len(objects) > _MAX_DELETE:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
    quiet = bool(request.get("Quiet"))
    deleted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in objects:
        key = item.get("Key", "")
        try:
            _version_id(item)
            await bucket.delete_object(_key(item))
        except AwsError as exc:
            entry = {"Key": key, "Code": exc.code, "Message": exc.message}
            if item.get("VersionId") is not None:
                entry["VersionId"] = item["VersionId"]
            errors.append(entry)
            continue
        except EventMeshError as exc:
            errors.append({"Key": key, "Code": "InternalError", "Message": str(exc)})
            continue
        if not quiet:
            done: dict[str, Any] = {"Key": key}
            if item.get("VersionId") is not None:
                done["VersionId"] = item["VersionId"]
            deleted.append(done)
    answer: dict[str, Any] = {}
    if deleted:
        answer["Deleted"] = deleted
    if errors:
        answer["Errors"] = errors
    return answer


@operation(S3, "ListObjectsV2")
async def list_objects_v2(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bucket = await find_bucket(call, params["Bucket"])
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    max_keys = params.get("MaxKeys")
    max_keys = 1000 if max_keys is None else max(0, min(int(max_keys), 1000))
    if params.get("MaxKeys") is not None and params["MaxKeys"] < 0:
        raise invalid_argument("maxKeys should be non-negative", "max-keys", str(params["MaxKeys"]))
    encoding = params.get("EncodingType")
    if encoding not in (None, "url"):
        raise invalid_argument(
            "Invalid Encoding Method specified in Request", "encoding-type", encoding
        )
    start_after = params.get("StartAfter") or ""
    token = params.get("ContinuationToken")
    after = start_after
    if token is not None:
        position = decode_token(token)
        if position is None:
            raise invalid_argument(
                "The continuation token provided is incorrect", "continuation-token", token
            )
        after = max(position, start_after)
    listing = await list_keys(
        call.mesh.backend.blobs, bucket.name, prefix, delimiter, after, max_keys
    )

    def shown(text: str) -> str:
        return quote_plus(text, safe="/") if encoding == "url" else text

    answer: dict[str, Any] = {
        "IsTruncated": listing.truncated,
        "Name": bucket.name,
        "Prefix": shown(prefix),
        "MaxKeys": max_keys,
        "KeyCount": len(listing.contents) + len(listing.common_prefixes),
    }
    if listing.contents:
        answer["Contents"] = [
            _summary(info, shown(info.key), bool(params.get("FetchOwner")))
            for info in listing.contents
        ]
    if listing.common_prefixes:
        answer["CommonPrefixes"] = [{"Prefix": shown(p)} for p in listing.common_prefixes]
    if delimiter:
        answer["Delimiter"] = shown(delimiter)
    if encoding:
        answer["EncodingType"] = encoding
    if token is not None:
        answer["ContinuationToken"] = token
    if start_after:
        answer["StartAfter"] = shown(start_after)
    if listing.truncated and listing.next_position is not None:
        answer["NextContinuationToken"] = encode_token(listing.next_position)
    return answer


def _summary(info: BlobInfo, key: str, owner: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "Key": key,
        "LastModified": _second(info.last_modified),
        "ETag": _quoted(info.etag),
        "Size": info.size,
        "StorageClass": "STANDARD",
    }
    if owner:
        summary["Owner"] = dict(OWNER)
    return summary


# -- notifications ---------------------------------------------------------------------------
def apply_notifications(bucket: Bucket, configuration: Mapping[str, Any]) -> None:
    """Replace the bucket's notification configurations by S3's ``NotificationConfiguration``
    (all or nothing: on an error the bucket keeps its previous ones); the translation is
    :mod:`eventmesh.declare.bucket_notifications`, shared with templates."""
    try:
        notifications.apply_notifications(bucket, notifications.from_api(configuration))
    except notifications.NotificationError as exc:
        name, value = exc.argument if exc.argument is not None else (None, None)
        raise invalid_argument(str(exc), name, value) from None


def _target_arn(call: AwsCall, target: Any) -> str:
    if isinstance(target, str):
        if target.startswith("arn:"):
            return target
        found = call.mesh.context.find_resource(target)
        if isinstance(found, Queue | Topic):
            return str(found.arn)
        return f"arn:aws:lambda:{call.mesh.region}:{call.mesh.account_id}:function:{target}"
    if isinstance(target, Function):
        return f"arn:aws:lambda:{call.mesh.region}:{call.mesh.account_id}:function:{target.name}"
    return str(target.arn)


def describe_notifications(call: AwsCall, bucket: Bucket) -> dict[str, Any]:
    """The bucket's configurations in S3's ``NotificationConfiguration`` shape."""
    answer: dict[str, Any] = {}
    if bucket.eventbridge:
        answer["EventBridgeConfiguration"] = {}
    for config in bucket.notifications:
        member, arn_member = _kind_of(call, config)
        entry: dict[str, Any] = {
            "Id": config.id,
            arn_member: _target_arn(call, config.target),
            "Events": list(config.events),
        }
        rules = [
            {"Name": name, "Value": value}
            for name, value in (("Prefix", config.prefix), ("Suffix", config.suffix))
            if value
        ]
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        answer.setdefault(member, []).append(entry)
    return answer


def _kind_of(call: AwsCall, config: NotificationConfiguration) -> tuple[str, str]:
    target = config.target
    if isinstance(target, str):
        found = call.mesh.context.find_resource(target)
        if isinstance(found, Queue) or target.startswith("arn:aws:sqs:"):
            return _CONFIG_KINDS[1]
        if isinstance(found, Topic) or target.startswith("arn:aws:sns:"):
            return _CONFIG_KINDS[2]
        return _CONFIG_KINDS[0]
    if isinstance(target, Queue):
        return _CONFIG_KINDS[1]
    if isinstance(target, Topic):
        return _CONFIG_KINDS[2]
    return _CONFIG_KINDS[0]


@operation(S3, "PutBucketNotificationConfiguration")
async def put_bucket_notification_configuration(
    call: AwsCall, params: dict[str, Any]
) -> Mapping[str, Any]:
    bucket = await find_bucket(call, params["Bucket"])
    configuration = params.get("NotificationConfiguration") or {}
    apply_notifications(bucket, configuration)
    await catalog.record(
        call.mesh, NOTIFICATION_KIND, bucket.name, describe_notifications(call, bucket)
    )
    return {}


@operation(S3, "GetBucketNotificationConfiguration")
async def get_bucket_notification_configuration(
    call: AwsCall, params: dict[str, Any]
) -> Mapping[str, Any]:
    return describe_notifications(call, await find_bucket(call, params["Bucket"]))


# -- the catalog -----------------------------------------------------------------------------
BUCKET_KIND = "s3.bucket"
NOTIFICATION_KIND = "s3.notification"


async def _restore_bucket(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    existing = mesh.context.find_resource(name)
    if not isinstance(existing, Bucket):
        mesh.bucket(name)


async def _restore_notifications(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    found = mesh.context.find_resource(name)
    if not isinstance(found, Bucket):
        found = mesh.bucket(name)
    apply_notifications(found, settings)


async def _load_notifications(mesh: Mesh, name: str) -> None:
    """The notification configuration another worker recorded for a bucket found here; one
    this process cannot make (a target it does not have) is logged, the bucket still served."""
    try:
        await catalog.load(mesh, NOTIFICATION_KIND, name)
    except (AwsError, EventMeshError) as exc:
        logger.error("bucket %s: its recorded notifications cannot be restored: %s", name, exc)


catalog.register_kind(BUCKET_KIND, _restore_bucket)
catalog.register_kind(
    NOTIFICATION_KIND, _restore_notifications, after=(BUCKET_KIND, "sqs.queue", "sns.topic")
)
