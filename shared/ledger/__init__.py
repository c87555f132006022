"""The source ledger: what happened to each source, so that nothing is indexed twice or lost silently.

A source is (root, key): a bucket and key, or a local path. The ledger keeps its current
version, its state, how many items it has and how many were indexed, and why it failed.
Two implementations: SQLite under MMINDEX_HOME (embedded) and Redis (distributed); their protocol and the
records they keep are in `shared.ledger.protocol`.
"""

from __future__ import annotations

from shared.config import Settings
from shared.ledger.protocol import (
    FAILURES,
    FINAL,
    PENDING,
    Action,
    Ledger,
    SourceRecord,
    State,
    decide,
    source_id,
    stale,
)

__all__ = [
    "FAILURES",
    "FINAL",
    "PENDING",
    "Action",
    "Ledger",
    "SourceRecord",
    "State",
    "decide",
    "open_ledger",
    "source_id",
    "stale",
]


def open_ledger(settings: Settings) -> Ledger:
    """Redis when a broker is configured (shared by every worker), else SQLite under MMINDEX_HOME."""
    if settings.broker_url:
        from shared.ledger.redis import RedisLedger

        return RedisLedger(settings.broker_url, in_flight_timeout_s=settings.tasks.stranded_threshold_s)
    from shared.ledger.sqlite import SqliteLedger

    # In-process, nothing else will finish a source left in flight by an interrupted run: queue it again.
    return SqliteLedger(settings.home / "ledger.sqlite3", in_flight_timeout_s=0)
