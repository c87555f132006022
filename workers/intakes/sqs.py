"""`mmindex events sqs --queue-url URL`: S3 notifications from an SQS queue.

Long polling, up to 10 messages a call; messages are gathered for up to `MMINDEX_EVENTS__LINGER_S`
(or until a decode task's worth of sources is in) so that a burst of uploads becomes a few decode
tasks of many sources, not one task per object. A message is deleted only after its events were
applied (their tasks queued); if applying fails for now (broker or ledger unreachable), the messages
stay and SQS delivers them again after its visibility timeout. A message that is not a notification
at all is logged and deleted: it would never become one. Anything else that applying raises is a bug: it is
logged with its traceback and ends the intake, the messages left on the queue. If SQS cannot be reached or
throttles, the intake waits (backing off up to `BACKOFF_MAX_S`) and tries again; a queue that does not exist or
credentials SQS refuses end it with the reason, since waiting cannot mend them. Asked to stop, the intake
stops within `STOP_S` even in the middle of a long poll or of applying: what it has not deleted is delivered
again, and applying it again changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from shared.errors import MmindexError, PermanentError, RetryableError
from shared.notifications import MalformedEvent, ObjectEvent, parse
from shared.runtime import Runtime, get_runtime
from workers.intakes import EXPECTED, event_filter
from workers.intakes.submission import Applied, apply

log = logging.getLogger(__name__)

WAIT_S = 20
"""SQS long polling: the longest a receive call waits for a message."""
BATCH = 10
"""Messages per receive and per delete call (SQS's maximum)."""
BACKOFF_MAX_S = 30.0
"""The longest wait between receive calls while SQS cannot be reached."""
STOP_S = 2.0
"""Once asked to stop, how long the intake lets a round in progress finish before it leaves it."""

_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestThrottled", "OverLimit", "RequestTimeout"}


def client(runtime: Runtime) -> Any:
    settings = runtime.settings
    try:
        return boto3.client("sqs", endpoint_url=settings.events.sqs_endpoint_url, region_name=settings.s3.region)
    except NoRegionError:
        raise PermanentError("no AWS region for SQS: set MMINDEX_S3__REGION or AWS_DEFAULT_REGION") from None


def classify(queue_url: str, error: Exception) -> MmindexError:
    """A boto error from SQS as retryable (unreachable, throttling, a 5xx) or permanent (any other refusal:
    the queue, the credentials or the request must change), as shared/storage/s3.py sorts S3's."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _NO_QUEUE:
            return PermanentError(f"{queue_url}: no such SQS queue ({code}); check --queue-url and the region")
        if code in _DENIED:
            return PermanentError(f"{queue_url}: SQS refused the credentials ({code}); check the intake's IAM policy")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if status >= 500 or status == 429 or code in _THROTTLED:
            return RetryableError(f"{queue_url}: SQS answered {code or status}")
        return PermanentError(f"{queue_url}: SQS refused the request ({code or status})")
    return RetryableError(f"{queue_url}: cannot reach SQS ({type(error).__name__}: {error})")


def receive(sqs: Any, queue_url: str, wait_s: int) -> list[dict[str, Any]]:
    try:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=wait_s)
    except (ClientError, BotoCoreError) as error:
        raise classify(queue_url, error) from error
    return list(answer.get("Messages", []))


def gather(sqs: Any, queue_url: str, runtime: Runtime, stop: threading.Event) -> list[dict[str, Any]]:
    """Messages for one round: wait for the first, then keep receiving while more come, up to a decode
    task's worth of sources or the linger time. While SQS cannot be reached, what has been received is
    handled at once, and with nothing received the intake waits and tries again."""
    settings = runtime.settings
    messages: list[dict[str, Any]] = []
    deadline: float | None = None
    failures = 0
    while not stop.is_set():
        wait = WAIT_S if deadline is None else max(0, round(deadline - time.monotonic()))
        try:
            received = receive(sqs, queue_url, min(wait, WAIT_S))
        except RetryableError as error:
            if messages:
                break
            failures += 1
            backoff = min(BACKOFF_MAX_S, 2.0 ** min(failures - 1, 5))
            log.warning("%s; trying again in %.0f s", error, backoff)
            stop.wait(backoff)
            continue
        if failures:
            log.info("SQS answers again")
            failures = 0
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
        try:
            answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as error:
            raise classify(queue_url, error) from error
        for failure in answer.get("Failed", []):  # delivered again later, and applying it again changes nothing
            log.warning("could not delete a message: %s", failure.get("Message", failure))
    return applied


def poll(queue_url: str, stop: threading.Event | None = None, runtime: Runtime | None = None) -> None:
    """Receive and apply notifications until `stop` is set (or for ever). The rounds run on a thread of their
    own so that a stop does not wait out a long poll (up to `WAIT_S`); what ends them (a queue that does not
    exist, a bug) is raised here."""
    runtime = runtime or get_runtime()
    stop = stop or threading.Event()
    sqs = client(runtime)
    log.info("listening to %s", queue_url)
    ended: list[BaseException] = []

    def rounds() -> None:
        try:
            while not stop.is_set():
                one_round(sqs, queue_url, runtime, stop)
        except BaseException as error:  # raised on the calling thread
            ended.append(error)

    worker = threading.Thread(target=rounds, name="sqs-intake", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.wait(0.5):
        pass
    worker.join(STOP_S)
    if ended:
        raise ended[0]


def one_round(sqs: Any, queue_url: str, runtime: Runtime, stop: threading.Event) -> None:
    """Gather messages, apply them and delete them."""
    messages = gather(sqs, queue_url, runtime, stop)
    if not messages:
        return
    try:
        applied = handle(sqs, queue_url, messages, runtime)
    except EXPECTED as error:  # left on the queue: SQS delivers them again after its visibility timeout
        log.warning("could not apply %d messages, they will come again: %s", len(messages), error)
        stop.wait(1.0)
        return
    except Exception:  # a bug: applying them again would meet it again, for ever
        log.exception("applying %d messages failed on a bug; the intake stops, they stay queued", len(messages))
        raise
    log.info(
        "%d messages: %d queued, %d removed, %d unchanged, %d ignored",
        len(messages),
        len(applied.queued),
        len(applied.removed),
        len(applied.unchanged),
        len(applied.ignored),
    )
