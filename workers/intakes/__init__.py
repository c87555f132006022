"""The event intakes, long-running: storage tells mmindex what changed, mmindex queues the work.

- `sqs`: S3 notifications through an SQS queue (direct, SNS-wrapped or EventBridge-shaped).
- `webhook`: S3-event JSON posted over HTTP, as MinIO sends it, with a bearer token.
- `watch`: a local folder, scanned; for the embedded mode.

Each hands what it hears to `workers.intakes.submission.apply` (or `submit` for files) and acknowledges it only
once the work is queued, so an intake that dies loses nothing: the events come again. What applying raises is
sorted: the errors mmindex raises on purpose and those of a broker, ledger or storage that cannot be reached
(`EXPECTED`) leave the events unacknowledged, to come again; anything else is a bug, which the intake logs with
its traceback before it ends (a supervisor starts it again), instead of taking the same events again for ever.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import RETRYABLE, MmindexError
from shared.notifications import EventFilter

EXPECTED: tuple[type[BaseException], ...] = (MmindexError, *RETRYABLE, BrokerUnreachable, RedisError)
"""What applying events raises that is not a bug: an error mmindex raises on purpose (shared/errors.py), one of
a broker, ledger or storage that cannot be reached for now (RETRYABLE), kombu's error for a broker it cannot send
to, or redis-py's for a Redis that refuses (read-only, out of memory, loading)."""


def event_filter(settings: Settings) -> EventFilter:
    """What the intakes index: the configured buckets, prefix and suffix, never the derived-artifact prefix."""
    events = settings.events
    return EventFilter(
        prefix=events.prefix,
        suffix=events.suffix,
        ignore_prefix=settings.s3.derived_prefix,
        buckets=frozenset(events.buckets),
    )
