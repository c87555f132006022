"""`mmindex events sqs --queue-url URL`: S3 notifications from an SQS queue.

Long polling, up to 10 messages a call; messages are gathered for up to `MMINDEX_EVENTS__LINGER_S`
(or until a decode task's worth of sources is in) so that a burst of uploads becomes a few decode
tasks of many sources, not one task per object. A message is deleted only after its events were
applied (their tasks queued); if applying fails for now (broker or ledger unreachable), the messages
stay and SQS delivers them again after its visibility timeout. A message that is not a notification
at all is logged and deleted: it would never become one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import NoRegionError

from shared.errors import PermanentError
from shared.events import MalformedEvent, ObjectEvent, parse
from shared.runtime import Runtime, get_runtime
from workers.events import event_filter
from workers.intake import Applied, apply

log = logging.getLogger(__name__)

WAIT_S = 20
"""SQS long polling: the longest a receive call waits for a message."""
BATCH = 10
"""Messages per receive and per delete call (SQS's maximum)."""


def client(runtime: Runtime) -> Any:
    settings = runtime.settings
    try:
        return boto3.client("sqs", endpoint_url=settings.events.sqs_endpoint_url, region_name=settings.s3.region)
    except NoRegionError:
        raise PermanentError("no AWS region for SQS: set MMINDEX_S3__REGION or AWS_DEFAULT_REGION") from None


def gather(sqs: Any, queue_url: str, runtime: Runtime, stop: threading.Event) -> list[dict[str, Any]]:
    """Messages for one round: wait for the first, then keep receiving while more come, up to a decode
    task's worth of sources or the linger time."""
    settings = runtime.settings
    messages: list[dict[str, Any]] = []
    deadline: float | None = None
    while not stop.is_set():
        wait = WAIT_S if deadline is None else max(0, round(deadline - time.monotonic()))
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=min(wait, WAIT_S))
        received = answer.get("Messages", [])
        messages.extend(received)
        if messages and deadline is None:
            deadline = time.monotonic() + settings.events.linger_s
        full = len(messages) >= settings.ingest.sources_per_task
        if messages and (full or not received or time.monotonic() >= (deadline or 0)):
            break
    return messages


def handle(sqs: Any, queue_url: str, messages: list[dict[str, Any]], runtime: Runtime) -> Applied:
    """Apply the messages' events, then delete the messages (also the malformed ones, once logged)."""
    events: list[ObjectEvent] = []
    for message in messages:
        try:
            events.extend(parse(message["Body"]))
        except MalformedEvent as error:
            log.warning("dropped a message that is not an S3 notification: %s", error)
    applied = apply(events, event_filter(runtime.settings), runtime)  # a transient fault: nothing is deleted
    for start in range(0, len(messages), BATCH):
        entries = [
            {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
            for number, message in enumerate(messages[start : start + BATCH])
        ]
        answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        for failure in answer.get("Failed", []):  # delivered again later, and applying it again changes nothing
            log.warning("could not delete a message: %s", failure.get("Message", failure))
    return applied


def poll(queue_url: str, stop: threading.Event | None = None, runtime: Runtime | None = None) -> None:
    """Receive and apply notifications until `stop` is set (or for ever)."""
    runtime = runtime or get_runtime()
    stop = stop or threading.Event()
    sqs = client(runtime)
    log.info("listening to %s", queue_url)
    while not stop.is_set():
        messages = gather(sqs, queue_url, runtime, stop)
        if not messages:
            continue
        try:
            applied = handle(sqs, queue_url, messages, runtime)
        except Exception as error:  # left on the queue: SQS delivers them again after its visibility timeout
            log.warning("could not apply %d messages, they will come again: %s", len(messages), error)
            stop.wait(1.0)
            continue
        log.info(
            "%d messages: %d queued, %d removed, %d unchanged, %d ignored",
            len(messages),
            len(applied.queued),
            len(applied.removed),
            len(applied.unchanged),
            len(applied.ignored),
        )
