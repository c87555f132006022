"""Living with a broker that goes away: what a worker needs to outlast a Redis restart.

Celery reconnects to the broker by itself (workers/app.py asks it to, for as long as it takes), but two paths
of kombu's Redis transport end the worker when the connection is lost: acknowledging, on a connection that has
been collected, a task that finished during the outage, and putting back the messages a closed channel held.
Both reach for a Redis client through a transport whose connection is already gone, and raise an
AttributeError, which nothing expects. Here that becomes the connection error it is, which kombu and Celery
handle: the message stays in the broker's unacked hash, which hands it out again after the visibility timeout,
and the task runs again (tasks are idempotent).

`survive_lost_connections` patches kombu, so it runs when the app starts up (workers/app.py: when Celery first
reads the app's configuration, before any connection is made), not when this module is imported.
"""

from __future__ import annotations

import logging
from typing import Any

import celery.worker.consumer
import redis

from shared.errors import one_line

log = logging.getLogger(__name__)


def survive_lost_connections() -> None:
    """Make kombu's Redis channels raise a connection error, not an AttributeError, once their connection is
    gone (idempotent)."""
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "survives_lost_connections", False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> Any:
        if getattr(self.connection, "client", None) is None:
            raise redis.ConnectionError("this broker channel's connection was closed (the broker went away)")
        return original(self, asynchronous=asynchronous)

    _connparams.survives_lost_connections = True  # type: ignore[attr-defined]
    kombu_redis.Channel._connparams = _connparams


class Consumer(celery.worker.consumer.Consumer):  # type: ignore[misc]
    """Celery's consumer, which never ends the worker while closing a connection the broker already dropped."""

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except Exception as error:  # the connection is gone either way; the consumer reconnects next
            log.warning("closing the lost broker connection failed, reconnecting anyway: %s", one_line(error))
