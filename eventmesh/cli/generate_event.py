"""``eventmesh generate-event SOURCE ACTION [options]``: print the event the mesh would deliver.

Like ``sam local generate-event``, with one difference: the event is not a stored sample but
the one the mesh's own code builds. An in-memory mesh on a virtual clock declares the
resource (a queue, a topic, a bucket, an API...), a function that keeps what it gets is wired
to it, the message is sent (the object put, the request handled...), and the event the
function got is printed as pretty JSON on stdout, ready for ``eventmesh invoke F --event -``.

The samples and the options each reads are in :mod:`eventmesh.cli._sample_events`; the mesh
and a sample's builder are imported only once a sample is chosen, so ``--help`` and an
unknown name answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import re
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventmesh.cli._command import Command
from eventmesh.cli._sample_events import (
    ALIASES,
    COMMON_OPTIONS,
    SAMPLES,
    Sample,
    SampleError,
    find,
)

if TYPE_CHECKING:
    from eventmesh.cli._sample_events._sampling import Act, Given, Sampling

__all__ = ["COMMAND", "generate"]

_PROG = "eventmesh generate-event"
_WIDTH = 88
_LAST_EPOCH = 253_402_300_799.0  # 9999-12-31T23:59:59Z
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

# Every option: (name, metavar, help). Which sample reads which, and its default, is in
# SAMPLES (shown in the epilog); an option given to a sample that does not read it is refused.
_OPTION_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "every source",
        (
            ("region", "REGION", "the mesh's region, in ARNs and awsRegion (us-east-1)"),
            ("account-id", "ID", "the mesh's account id, in ARNs (123456789012)"),
            (
                "time",
                "WHEN",
                "the event's time: ISO 8601 (2026-01-01T12:00:00Z; no zone is UTC) or epoch "
                "seconds (default: now). Ids are new on every run",
            ),
        ),
    ),
    (
        "sqs, sns",
        (
            ("queue-name", "NAME", "the queue (a name ending .fifo is a FIFO queue)"),
            ("group-id", "ID", "a FIFO queue's message group (group-1)"),
            ("topic", "NAME", "the topic"),
            ("message", "TEXT", "the SNS message"),
            ("subject", "TEXT", "the SNS subject ('' for none)"),
            (
                "attributes",
                "JSON",
                'message attributes, a JSON object: plain values (\'{"origin": "web"}\') or '
                'SQS\'s and SNS\'s shapes (\'{"n": {"DataType": "Number", "StringValue": '
                '"1"}}\')',
            ),
        ),
    ),
    (
        "s3",
        (
            ("bucket", "NAME", "the bucket"),
            ("key", "KEY", "the object's key (URL-encoded in the record, as S3 does)"),
            ("size", "BYTES", "the object's size (zero bytes); or give its --body"),
        ),
    ),
    (
        "kinesis",
        (
            ("stream", "NAME", "the stream"),
            ("data", "TEXT", "the record's data (base64 in the event)"),
            ("partition-key", "KEY", "the record's partition key"),
        ),
    ),
    (
        "eventbridge, schedule",
        (
            ("source", "SOURCE", "the entry's Source"),
            ("detail-type", "TEXT", "the entry's DetailType"),
            ("detail", "JSON", "the entry's Detail, a JSON object"),
            ("resources", "ARN[,ARN]", "the entry's Resources"),
            ("rule", "NAME", "the scheduled rule's name"),
            ("schedule-name", "NAME", "the Scheduler schedule's name"),
            ("group-name", "NAME", "the Scheduler schedule's group"),
            (
                "input",
                "JSON",
                'the Scheduler target\'s Input, e.g. \'{"at": "<aws.scheduler.scheduled-time>"}\'',
            ),
        ),
    ),
    (
        "apigateway, lambda-url",
        (
            ("method", "METHOD", "the request's method"),
            ("path", "PATH", "the request's path (after the stage), as sent"),
            ("query", "QUERY", "the query string, e.g. 'a=1&b=2'"),
            ("header", "'NAME: VALUE'", "a request header (repeat for more)"),
            ("body", "TEXT", "the request's body; for sqs the message body; for s3 the object"),
            (
                "resource",
                "PATH",
                "the route's path template, e.g. /orders/{id} ($default: HTTP API's default route)",
            ),
            ("stage", "STAGE", "the API's stage"),
            ("payload-format-version", "1.0|2.0", "the HTTP API's payload format"),
            ("function-name", "NAME", "the function whose URL is called"),
        ),
    ),
)

_REPEATED = frozenset({"header"})


def _epilog() -> str:
    """Every sample, its options and their defaults, and the aliases."""
    lines = ["sources and actions (the options each reads; defaults in parentheses):"]
    for sample in SAMPLES:
        lines.append(_wrapped(f"{sample.source} {sample.action}: {sample.help}", "  ", "    "))
        options = []
        for name in sample.options:
            default = sample.defaults.get(name)
            options.append(f"--{name}" if default is None else f"--{name} ({default})")
        lines.append(_wrapped(", ".join(options), "      ", "      "))
    lines.append("aliases (sam local generate-event's names):")
    for (source, action), (to_source, to_action) in ALIASES.items():
        lines.append(f"  {source} {action}: {to_source} {to_action}")
    lines += [
        "",
        "example:",
        "  eventmesh generate-event sqs receive-message --body '{\"id\": 1}' > event.json",
        "  eventmesh generate-event apigateway aws-proxy --method GET --path /orders/7 \\",
        "      --resource '/orders/{id}' --time 2026-01-01T12:00:00Z",
    ]
    return "\n".join(lines)


def _wrapped(text: str, indent: str, subsequent: str) -> str:
    return textwrap.fill(
        text,
        _WIDTH,
        initial_indent=indent,
        subsequent_indent=subsequent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if parser.description:
        parser.description = textwrap.fill(parser.description, _WIDTH)
    parser.epilog = _epilog()
    sources = ", ".join(dict.fromkeys(sample.source for sample in SAMPLES))
    parser.add_argument("sample_source", metavar="SOURCE", help=sources)
    parser.add_argument("sample_action", metavar="ACTION", help="one of the source's (below)")
    for title, options in _OPTION_GROUPS:
        group = parser.add_argument_group(title)
        for name, metavar, text in options:
            group.add_argument(
                f"--{name}",
                metavar=metavar,
                help=text,
                action="append" if name in _REPEATED else "store",
            )


def _given(arguments: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, by name (``queue-name``)."""
    given: dict[str, Any] = {}
    for _, options in _OPTION_GROUPS:
        for name, _, _ in options:
            value = getattr(arguments, name.replace("-", "_"), None)
            if value is not None:
                given[name] = value
    return given


def _epoch(text: str | None) -> float:
    """``--time`` as epoch seconds (now without it), from 1970 to the end of 9999."""
    if text is None:
        return time.time()
    try:
        epoch = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise SampleError(
                f"--time: ISO 8601 (2026-01-01T12:00:00Z) or epoch seconds, got {text!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        epoch = moment.timestamp()
    if not 0 <= epoch <= _LAST_EPOCH:  # NaN too
        raise SampleError(f"--time: from 1970-01-01 to 9999-12-31, got {text!r}")
    return epoch


def generate(sample: Sample, given: dict[str, Any]) -> Any:
    """The event the mesh delivers for ``sample`` with the ``given`` options (by name)."""
    from eventmesh._errors import ConfigurationError, PayloadError
    from eventmesh.cli._sample_events._sampling import Given, Sampling

    unread = sorted(set(given) - set(sample.options) - set(COMMON_OPTIONS))
    if unread:
        flags = ", ".join(f"--{name}" for name in unread)
        raise SampleError(f"{flags}: not an option of {sample.source} {sample.action}")
    region = given.get("region", "us-east-1")
    if not _REGION.match(region):
        raise SampleError(f"--region: a region such as us-east-1 or eu-west-3, got {region!r}")
    account_id = given.get("account-id", "123456789012")
    if not _ACCOUNT_ID.match(account_id):
        raise SampleError(f"--account-id: 12 digits, got {account_id!r}")
    sampling = Sampling(
        region=region,
        account_id=account_id,
        start=_epoch(given.get("time")) - sample.lead,
    )
    module_name, _, function_name = sample.builder.partition(":")
    module = importlib.import_module(f"eventmesh.cli._sample_events.{module_name}")
    builder: Callable[[Sampling, Given], Act] = getattr(module, function_name)
    try:
        act = builder(sampling, Given(given, sample.defaults))
        return asyncio.run(sampling.run(act))
    except (ConfigurationError, PayloadError) as exc:
        raise SampleError(str(exc)) from None


def _run(arguments: argparse.Namespace) -> int:
    try:
        sample = find(arguments.sample_source, arguments.sample_action)
        event = generate(sample, _given(arguments))
    except SampleError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    import orjson

    sys.stdout.write(orjson.dumps(event, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


COMMAND = Command(
    "generate-event",
    "print the event a queue, topic, bucket, stream, bus, schedule or API would deliver",
    _add_arguments,
    _run,
    description="Print, as JSON, the event the mesh itself delivers to a function for SOURCE "
    "ACTION: built by an in-memory mesh (the queue declared, the message sent, the event "
    "its function got), like `sam local generate-event`. Pipe it to `eventmesh invoke NAME "
    "--event -`.",
)
