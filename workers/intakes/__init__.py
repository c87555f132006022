"""The event intakes, long-running: storage tells mmindex what changed, mmindex queues the work.

- `sqs`: S3 notifications through an SQS queue (direct, SNS-wrapped or EventBridge-shaped).
- `webhook`: S3-event JSON posted over HTTP, as MinIO sends it, with a bearer token.
- `watch`: a local folder, scanned; for the embedded mode.

Each hands what it hears to `workers.intakes.submission.apply` (or `submit` for files) and acknowledges it only
once the work is queued, so an intake that dies loses nothing: the events come again.
"""

from __future__ import annotations

from shared.config import Settings
from shared.notifications import EventFilter


def event_filter(settings: Settings) -> EventFilter:
    """What the intakes index: the configured buckets, prefix and suffix, never the derived-artifact prefix."""
    events = settings.events
    return EventFilter(
        prefix=events.prefix,
        suffix=events.suffix,
        ignore_prefix=settings.s3.derived_prefix,
        buckets=frozenset(events.buckets),
    )
