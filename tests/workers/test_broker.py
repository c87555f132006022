"""workers/broker.py: a channel whose connection the broker dropped fails as a lost connection, which Celery
handles, not as an AttributeError, which used to end an index worker after a Redis restart."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

from workers.broker import survive_lost_connections


def test_acking_through_a_collected_connection_is_a_connection_error(redis_url: str) -> None:
    survive_lost_connections()  # as the app's start-up does in every worker and command (workers/app.py)
    with Connection(redis_url) as connection:
        channel = connection.default_channel
        channel._disconnect_pools()  # what closing the connection does to its channels' pools
        connection.collect()  # what Celery does to a connection the broker dropped, before closing it
        with pytest.raises(redis.ConnectionError, match="connection was closed"):
            channel.qos.ack("a-delivery-tag")
        assert isinstance(redis.ConnectionError(), connection.connection_errors)
