"""The resource examples (02 upload fan-out, 03 clickstream, 04 cron job) run as documented.

Each example runs as its own process, as a user runs it; the assertions are on lines of its
output that do not depend on random ids or on the order in which concurrent work is printed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, errors: list[str] | None = None) -> list[str]:
    """Run ``examples/<name>`` and return its output lines; it must succeed and log nothing
    but the ``[ERROR]`` lines of the function errors it causes on purpose, ``errors`` (each
    line without its request id, in order), each followed by its traceback."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    logged = done.stderr.splitlines()
    headers = [re.sub(r"RequestId: \S+ ", "", line) for line in logged if line.startswith("[")]
    assert headers == (errors or [])
    for line in logged:
        assert line.startswith(("[ERROR] ", "Traceback (most recent call last):", "  ")), line
    return done.stdout.splitlines()


def test_example_02_fans_an_upload_out_to_a_thumbnail_and_an_audit() -> None:
    lines = run_example("02_upload_fanout.py")
    puts = [
        "PUT 'images/red flower.jpg' (25 bytes): S3 event published to the topic",
        "PUT 'images/cat.png' (10 bytes): S3 event published to the topic",
        "PUT 'docs/notes.txt' (17 bytes): no S3 event, not under 'images/'",
    ]
    leaving = "leaving `async with`: the mesh drains the fan-out, then stops"
    assert lines[:4] == [*puts, leaving]  # put_object returns once the event is published

    red_record = (
        "  thumbnail <- SNS <- S3: ObjectCreated:Put (configuration 'new-images'), "
        "key 'images/red+flower.jpg' is 'images/red flower.jpg'"
    )
    red_thumbnail = "  thumbnail: PUT 'thumbnails/red flower.jpg' (8 bytes)"
    cat_record = (
        "  thumbnail <- SNS <- S3: ObjectCreated:Put (configuration 'new-images'), "
        "key 'images/cat.png' is 'images/cat.png'"
    )
    cat_thumbnail = "  thumbnail: PUT 'thumbnails/cat.png' (8 bytes)"
    red_audit = (
        "  audit <- SNS ('Amazon S3 Notification'): ObjectCreated:Put "
        "s3://uploads/images/red flower.jpg (25 bytes)"
    )
    cat_audit = (
        "  audit <- SNS ('Amazon S3 Notification'): ObjectCreated:Put "
        "s3://uploads/images/cat.png (10 bytes)"
    )
    drained = lines[4 : lines.index("keys in 'uploads':")]
    batch = "  audit <- SQS: a batch of "
    assert sorted(line for line in drained if not line.startswith(batch)) == sorted(
        [red_record, red_thumbnail, cat_record, cat_thumbnail, red_audit, cat_audit]
    )
    # The poller may take both messages in one batch or one at a time.
    sizes = [int(line.removeprefix(batch).split()[0]) for line in drained if line.startswith(batch)]
    assert sum(sizes) == 2
    assert drained.index(red_record) < drained.index(red_thumbnail)
    assert drained.index(cat_record) < drained.index(cat_thumbnail)
    # The thumbnails are written under "thumbnails/": they trigger nothing.
    assert not any("key 'thumbnails/" in line for line in lines)

    listing = lines[lines.index("keys in 'uploads':") + 1 :][:5]
    assert listing == [
        "  docs/notes.txt (17 bytes)",
        "  images/cat.png (10 bytes)",
        "  images/red flower.jpg (25 bytes)",
        "  thumbnails/cat.png (8 bytes)",
        "  thumbnails/red flower.jpg (8 bytes)",
    ]
    assert lines[-1].startswith(
        "topic: 2 messages published, 4 deliveries to 2 subscribers; invocations: thumbnail 2, "
    )


def test_example_03_bisects_down_to_the_poison_record_and_reports_it() -> None:
    failed = (
        "[ERROR] ValueError: click 13 has no page Function: sessions Attempt: {} "
        "Source: stream clicks"
    )
    lines = run_example("03_clickstream.py", [failed.format(n) for n in (1, 1, 1, 1, 2, 3)])
    assert lines[0] == "put 16 clicks; the poison one is 007 of shardId-000000000001"
    error = "error (click 13 has no page)"
    # The two shards run concurrently: compare each shard's invocations on their own.
    assert [line for line in lines if line.startswith("t=") and " shard 0 " in line] == [
        "t=0s shard 0 [8] 001/alice 002/dave 003/alice 004/dave 005/alice 006/dave 007/alice "
        "008/dave -> ok"
    ]
    assert [line for line in lines if line.startswith("t=") and " shard 1 " in line] == [
        "t=0s shard 1 [8] 001/bob 002/carol 003/bob 004/carol 005/bob 006/carol 007/bob "
        f"008/carol -> {error}",
        "t=0s shard 1 [4] 001/bob 002/carol 003/bob 004/carol -> ok",
        f"t=0s shard 1 [4] 005/bob 006/carol 007/bob 008/carol -> {error}",
        "t=0s shard 1 [2] 005/bob 006/carol -> ok",
        f"t=0s shard 1 [2] 007/bob 008/carol -> {error}",
        f"t=0s shard 1 [1] 007/bob -> {error}",
        f"t=1s shard 1 [1] 007/bob -> {error}",  # retry 1, one second later
        f"t=3s shard 1 [1] 007/bob -> {error}",  # retry 2, two seconds after that: given up
        "t=3s shard 1 [1] 008/carol -> ok",
    ]
    assert "advanced the virtual clock 10 s in no real time; 6 errors" in lines
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        assert f"checkpoint of {shard}: 008 (every record up to it done)" in lines

    start = lines.index("on-failure record received from queue 'clicks-failed':") + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("the record it points to"))
    record = json.loads("\n".join(lines[start:end]))
    sequence = "49" + "0" * 13 + "1" + "0" * 37 + "007"  # shard 1, its 7th record
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:sessions"
    )
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["timestamp"] == "2026-01-01T00:00:03.000Z"
    assert record["KinesisBatchInfo"] == {
        "shardId": "shardId-000000000001",
        "startSequenceNumber": sequence,
        "endSequenceNumber": sequence,
        "approximateArrivalOfFirstRecord": "2026-01-01T00:00:00.000Z",
        "approximateArrivalOfLastRecord": "2026-01-01T00:00:00.000Z",
        "batchSize": 1,
        "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
    }
    assert lines[-1] == "the record it points to: 007/bob {'n': 13, 'user': 'bob'}"


def test_example_04_fires_weekday_reports_in_paris_time_and_health_checks() -> None:
    lines = run_example("04_cron_job.py")
    assert lines[:4] == [
        "cron(0 9 ? * MON-FRI *) in Europe/Paris; the next three reports:",
        "  Thu 2026-03-26 08:00 UTC = Thu 09:00 CET",
        "  Fri 2026-03-27 08:00 UTC = Fri 09:00 CET",
        "  Mon 2026-03-30 07:00 UTC = Mon 09:00 CEST",
    ]
    event = "(Scheduled Event, aws.events)"
    assert [line for line in lines if line.startswith("  report ")] == [
        f"  report  Thu 2026-03-26 08:00 UTC = Thu 09:00 CET  {event}",
        f"  report  Fri 2026-03-27 08:00 UTC = Fri 09:00 CET  {event}",
        f"  report  Mon 2026-03-30 07:00 UTC = Mon 09:00 CEST  {event}",
        f"  report  Tue 2026-03-31 07:00 UTC = Tue 09:00 CEST  {event}",
        f"  report  Wed 2026-04-01 07:00 UTC = Wed 09:00 CEST  {event}",
    ]
    assert [line for line in lines if line.startswith("  health ")] == [
        "  health  Wed 2026-03-25 23:00 UTC = Thu 00:00 CET",
        "  health  Wed 2026-03-25 23:15 UTC = Thu 00:15 CET",
    ]
    days = [line for line in lines if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert days == [
        "Thu 26 Mar: 24 h, 96 health checks, 1 report",
        "Fri 27 Mar: 24 h, 96 health checks, 1 report",
        "Sat 28 Mar: 24 h, 96 health checks, no report (weekend)",
        "Sun 29 Mar: 23 h (summer time starts), 92 health checks, no report (weekend)",
        "Mon 30 Mar: 24 h, 96 health checks, 1 report",
        "Tue 31 Mar: 24 h, 96 health checks, 1 report",
        "Wed 01 Apr: 24 h, 96 health checks, 1 report",
    ]
    # Each day's report is printed as it fires, before that day's summary.
    assert lines.index(f"  report  Fri 2026-03-27 08:00 UTC = Fri 09:00 CET  {event}") < (
        lines.index("Fri 27 Mar: 24 h, 96 health checks, 1 report")
    )
    assert lines[-1] == "5 reports and 668 health checks from Thursday to Wednesday"
