"""shared/ledger: one contract, two implementations (SQLite for embedded mode, Redis for distributed).

Every test runs against both: a real SQLite file and a real Valkey server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.ledger import Action, Ledger, State, source_id
from shared.ledger.redis import RedisLedger
from shared.ledger.sqlite import SqliteLedger
from shared.storage import ObjectInfo

PIPELINE = "1"


@pytest.fixture
def ledger_redis_url(redis_server: str) -> Iterator[str]:
    """Database 0, emptied around each test.

    conftest's `redis_url` hands out one of only 15 databases per session; a parametrized suite this size
    would use them up, so the ledger suite shares the one database that fixture never hands out.
    """
    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return SqliteLedger(tmp_path / "home" / "ledger.sqlite3")
    return RedisLedger(request.getfixturevalue("ledger_redis_url"))


def source(key: str = "trip/a.jpg", version: str = "v1", root: str = "photos") -> ObjectInfo:
    return ObjectInfo(uri=f"s3://{root}/{key}", root=root, key=key, size=10, version=version)


def state(ledger: Ledger, id: str) -> State:
    (record,) = ledger.get([id])
    return record.state


# ---------------------------------------------------------------- submit


def test_a_new_source_is_queued(ledger: Ledger) -> None:
    id, action = ledger.submit(source(), PIPELINE)
    assert action is Action.NEW
    assert id == source_id("photos", "trip/a.jpg")
    (record,) = ledger.get([id])
    assert record.state is State.QUEUED
    assert (record.root, record.key, record.uri) == ("photos", "trip/a.jpg", "s3://photos/trip/a.jpg")
    assert (record.version, record.pipeline) == ("v1", PIPELINE)
    assert record.items is None
    assert record.indexed == 0
    assert record.error is None


def test_the_same_version_on_its_way_is_skipped(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.advance(id, "v1", State.DECODING)
    assert ledger.submit(source(), PIPELINE) == (id, Action.SKIP)
    assert state(ledger, id) is State.DECODING


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_version_left_in_flight_longer_than_the_timeout_is_queued_again(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # In-process (timeout 0) nothing else will finish an interrupted source: the next ingest must.
    ledger: Ledger = (
        SqliteLedger(tmp_path / "ledger.sqlite3", in_flight_timeout_s=0)
        if kind == "sqlite"
        else RedisLedger(request.getfixturevalue("ledger_redis_url"), in_flight_timeout_s=0)
    )
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.advance(id, "v1", State.DECODING)
    assert ledger.submit(source(), PIPELINE) == (id, Action.REPLACE)
    assert state(ledger, id) is State.QUEUED


def test_a_done_version_again_is_skipped(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 0)
    assert ledger.submit(source(), PIPELINE) == (id, Action.SKIP)
    assert state(ledger, id) is State.DONE


def test_a_failed_version_resubmitted_is_replaced(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    assert ledger.fail(id, "v1", "corrupt image data")
    assert ledger.submit(source(), PIPELINE) == (id, Action.REPLACE)
    (record,) = ledger.get([id])
    assert record.state is State.QUEUED
    assert record.error is None


def test_a_new_version_replaces_and_resets_progress(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 3)
    ledger.indexed(id, "v1", ["i0", "i1"])
    assert ledger.submit(source(version="v2"), PIPELINE) == (id, Action.REPLACE)
    (record,) = ledger.get([id])
    assert (record.version, record.state, record.items, record.indexed) == ("v2", State.QUEUED, None, 0)


def test_a_new_pipeline_version_replaces(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 0)
    assert ledger.submit(source(), "2") == (id, Action.REPLACE)
    (record,) = ledger.get([id])
    assert (record.pipeline, record.state) == ("2", State.QUEUED)


def test_sources_are_told_apart_by_root_and_key(ledger: Ledger) -> None:
    a, _ = ledger.submit(source("a.jpg"), PIPELINE)
    b, action = ledger.submit(source("b.jpg"), PIPELINE)
    c, other = ledger.submit(source("a.jpg", root="other"), PIPELINE)
    assert (action, other) == (Action.NEW, Action.NEW)
    assert len({a, b, c}) == 3


def test_get_keeps_the_order_asked_and_leaves_out_unknown_ids(ledger: Ledger) -> None:
    a, _ = ledger.submit(source("a.jpg"), PIPELINE)
    b, _ = ledger.submit(source("b.jpg"), PIPELINE)
    assert [record.id for record in ledger.get([b, "unknown", a])] == [b, a]
    assert ledger.get([]) == []


# ---------------------------------------------------------------- transitions


def test_a_version_goes_through_every_state_to_done(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    assert ledger.advance(id, "v1", State.DECODING)
    assert state(ledger, id) is State.DECODING
    assert ledger.decoded(id, "v1", 3)
    (record,) = ledger.get([id])
    assert (record.state, record.items, record.indexed) == (State.EMBEDDING, 3, 0)
    assert ledger.indexed(id, "v1", ["i0", "i1"]) is False
    (record,) = ledger.get([id])
    assert (record.state, record.indexed) == (State.INDEXING, 2)
    assert ledger.indexed(id, "v1", ["i2"]) is True
    (record,) = ledger.get([id])
    assert (record.state, record.items, record.indexed) == (State.DONE, 3, 3)


def test_indexed_is_idempotent(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 3)
    assert ledger.indexed(id, "v1", ["i0", "i1"]) is False
    assert ledger.indexed(id, "v1", ["i0", "i1"]) is False  # a task that ran twice
    (record,) = ledger.get([id])
    assert (record.state, record.indexed) == (State.INDEXING, 2)
    assert ledger.indexed(id, "v1", ["i1", "i2"]) is True


def test_indexed_reports_completion_exactly_once(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 2)
    assert ledger.indexed(id, "v1", ["i0", "i1"]) is True
    assert ledger.indexed(id, "v1", ["i0", "i1"]) is False
    assert state(ledger, id) is State.DONE


def test_indexed_before_decode_finished_is_not_complete(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    assert ledger.indexed(id, "v1", ["i0"]) is False
    (record,) = ledger.get([id])
    assert (record.state, record.items, record.indexed) == (State.INDEXING, None, 1)


def test_decoded_with_no_items_is_done(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(key="empty.txt"), PIPELINE)
    assert ledger.decoded(id, "v1", 0)
    (record,) = ledger.get([id])
    assert (record.state, record.items) == (State.DONE, 0)


def test_a_version_in_parts_is_done_when_every_part_is_in_and_indexed(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(key="talk.mp4"), PIPELINE)
    assert ledger.decoded(id, "v1", 2, part=1, parts=3)
    assert ledger.indexed(id, "v1", ["p1a", "p1b"]) is False  # the count is not known yet
    assert ledger.decoded(id, "v1", 2, part=1, parts=3)  # a redelivered part counts once
    assert ledger.decoded(id, "v1", 0, part=2, parts=3)
    (record,) = ledger.get([id])
    assert (record.state, record.items) == (State.INDEXING, None)
    assert ledger.decoded(id, "v1", 1, part=0, parts=3)
    (record,) = ledger.get([id])
    assert (record.state, record.items, record.indexed) == (State.EMBEDDING, 3, 2)
    assert ledger.indexed(id, "v1", ["p0a"]) is True
    assert state(ledger, id) is State.DONE


def test_the_last_part_reported_after_every_item_is_indexed_completes_the_version(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(key="talk.mp4"), PIPELINE)
    ledger.decoded(id, "v1", 1, part=0, parts=2)
    assert ledger.indexed(id, "v1", ["p0a"]) is False
    assert ledger.decoded(id, "v1", 0, part=1, parts=2)
    (record,) = ledger.get([id])
    assert (record.state, record.items, record.indexed) == (State.DONE, 1, 1)


def test_parts_of_a_replaced_version_are_forgotten(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(key="talk.mp4"), PIPELINE)
    ledger.decoded(id, "v1", 4, part=0, parts=2)
    ledger.submit(source(key="talk.mp4", version="v2"), PIPELINE)
    assert ledger.decoded(id, "v1", 1, part=1, parts=2) is False
    assert ledger.decoded(id, "v2", 1, part=1, parts=2)
    (record,) = ledger.get([id])
    assert record.items is None  # v1's part 0 does not count for v2
    assert ledger.decoded(id, "v2", 0, part=0, parts=2)
    (record,) = ledger.get([id])
    assert (record.state, record.items) == (State.EMBEDDING, 1)


def test_a_final_version_does_not_move(ledger: Ledger) -> None:
    done, _ = ledger.submit(source("done.jpg"), PIPELINE)
    ledger.decoded(done, "v1", 0)
    failed, _ = ledger.submit(source("failed.jpg"), PIPELINE)
    ledger.fail(failed, "v1", "too large")
    dead, _ = ledger.submit(source("dead.jpg"), PIPELINE)
    ledger.fail(dead, "v1", "gave up", dead=True)
    deleted, _ = ledger.submit(source("deleted.jpg"), PIPELINE)
    assert ledger.remove(source("deleted.jpg")) is not None
    for id in (done, failed, dead, deleted):
        assert ledger.advance(id, "v1", State.DECODING) is False
        assert ledger.decoded(id, "v1", 5) is False
        assert ledger.indexed(id, "v1", ["x"]) is False  # e.g. an index task landing after the object was deleted
        assert ledger.fail(id, "v1", "later failure") is False
    assert [state(ledger, id) for id in (done, dead, deleted)] == [State.DONE, State.DEAD, State.DELETED]
    (record,) = ledger.get([failed])
    assert (record.state, record.error) == (State.FAILED, "too large")


def test_a_superseded_version_is_ignored(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(version="v1"), PIPELINE)
    ledger.submit(source(version="v2"), PIPELINE)
    assert ledger.advance(id, "v1", State.DECODING) is False
    assert ledger.decoded(id, "v1", 2) is False
    assert ledger.indexed(id, "v1", ["a", "b"]) is False
    assert ledger.fail(id, "v1", "old failure") is False
    (record,) = ledger.get([id])
    assert (record.version, record.state, record.items, record.indexed, record.error) == (
        "v2",
        State.QUEUED,
        None,
        0,
        None,
    )
    assert ledger.decoded(id, "v2", 1)
    assert ledger.indexed(id, "v2", ["a"]) is True


def test_transitions_of_an_unknown_source_are_refused(ledger: Ledger) -> None:
    unknown = source_id("photos", "never-submitted.jpg")
    assert ledger.advance(unknown, "v1", State.DECODING) is False
    assert ledger.decoded(unknown, "v1", 1) is False
    assert ledger.indexed(unknown, "v1", ["a"]) is False
    assert ledger.fail(unknown, "v1", "x") is False
    assert ledger.get([unknown]) == []


# ---------------------------------------------------------------- counts and failures


def test_counts_per_state(ledger: Ledger) -> None:
    assert ledger.counts() == dict.fromkeys(State, 0)
    ids = [ledger.submit(source(f"{n}.jpg"), PIPELINE)[0] for n in range(5)]
    ledger.advance(ids[0], "v1", State.DECODING)
    ledger.decoded(ids[1], "v1", 0)
    ledger.decoded(ids[2], "v1", 0)
    ledger.fail(ids[3], "v1", "corrupt")
    counts = ledger.counts()
    assert counts == {
        State.QUEUED: 1,
        State.DECODING: 1,
        State.EMBEDDING: 0,
        State.INDEXING: 0,
        State.DONE: 2,
        State.FAILED: 1,
        State.DEAD: 0,
        State.DELETED: 0,
    }
    ledger.submit(source("3.jpg"), PIPELINE)  # the failed one, retried
    ledger.submit(source("1.jpg", version="v2"), PIPELINE)  # a done one, changed
    counts = ledger.counts()
    assert (counts[State.QUEUED], counts[State.DONE], counts[State.FAILED]) == (3, 1, 0)


def test_failures_most_recent_first_with_reasons(ledger: Ledger) -> None:
    first, _ = ledger.submit(source("first.jpg"), PIPELINE)
    second, _ = ledger.submit(source("second.jpg"), PIPELINE)
    fine, _ = ledger.submit(source("fine.jpg"), PIPELINE)
    ledger.fail(first, "v1", "corrupt image data")
    ledger.fail(second, "v1", "too large: 3 GB")
    ledger.decoded(fine, "v1", 0)
    failures = ledger.failures()
    assert [(r.key, r.error, r.state) for r in failures] == [
        ("second.jpg", "too large: 3 GB", State.FAILED),
        ("first.jpg", "corrupt image data", State.FAILED),
    ]
    assert [r.key for r in ledger.failures(limit=1)] == ["second.jpg"]


def test_a_retried_failure_leaves_the_failures_and_a_new_one_comes_first(ledger: Ledger) -> None:
    first, _ = ledger.submit(source("first.jpg"), PIPELINE)
    second, _ = ledger.submit(source("second.jpg"), PIPELINE)
    ledger.fail(first, "v1", "first reason")
    ledger.fail(second, "v1", "second reason")
    ledger.submit(source("first.jpg"), PIPELINE)
    assert [r.key for r in ledger.failures()] == ["second.jpg"]
    ledger.fail(first, "v1", "failed again")
    assert [(r.key, r.error) for r in ledger.failures()] == [
        ("first.jpg", "failed again"),
        ("second.jpg", "second reason"),
    ]


def test_the_ledger_survives_a_reopen(tmp_path: Path, request: pytest.FixtureRequest, ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    ledger.decoded(id, "v1", 2)
    ledger.indexed(id, "v1", ["i0"])
    if isinstance(ledger, SqliteLedger):
        reopened: Ledger = SqliteLedger(tmp_path / "home" / "ledger.sqlite3")
    else:
        reopened = RedisLedger(request.getfixturevalue("ledger_redis_url"))
    (record,) = reopened.get([id])
    assert (record.state, record.items, record.indexed) == (State.INDEXING, 2, 1)
    assert reopened.submit(source(), PIPELINE) == (id, Action.SKIP)


# ---------------------------------------------------------------- storage events, dead letters, rates


def test_an_event_older_than_the_last_one_applied_is_stale(ledger: Ledger) -> None:
    id, action = ledger.submit(source(version="v2"), PIPELINE, sequencer="0062E9")
    assert action is Action.NEW
    assert ledger.submit(source(version="v1"), PIPELINE, sequencer="0062E8")[1] is Action.STALE
    assert ledger.submit(source(version="v2"), PIPELINE, sequencer="0062E9")[1] is Action.STALE  # a duplicate
    (record,) = ledger.get([id])
    assert (record.version, record.sequencer) == ("v2", "0062E9")
    assert ledger.submit(source(version="v3"), PIPELINE, sequencer="0062EA")[1] is Action.REPLACE


def test_a_submission_without_a_sequencer_keeps_the_order_known(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(version="v1"), PIPELINE, sequencer="0A")
    ledger.fail(id, "v1", "broken")
    assert ledger.submit(source(version="v1"), PIPELINE)[1] is Action.REPLACE  # `mmindex ingest`: no event
    assert ledger.submit(source(version="v0"), PIPELINE, sequencer="09")[1] is Action.STALE


def test_a_removed_object_is_deleted_and_a_late_creation_is_stale(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(version="v1"), PIPELINE, sequencer="10")
    ledger.decoded(id, "v1", 0)
    record = ledger.remove(source(version="v1"), sequencer="20")
    assert record is not None and (record.state, record.version, record.sequencer) == (State.DELETED, "v1", "20")
    assert ledger.submit(source(version="v1"), PIPELINE, sequencer="10")[1] is Action.STALE
    assert ledger.remove(source(version="v1"), sequencer="20") is None  # the same deletion again
    assert ledger.submit(source(version="v1"), PIPELINE, sequencer="30")[1] is Action.REPLACE  # uploaded again


def test_a_deletion_heard_before_the_creation_wins(ledger: Ledger) -> None:
    record = ledger.remove(source(version="deleted"), sequencer="20")
    assert record is not None and record.state is State.DELETED
    assert ledger.submit(source(version="v1"), PIPELINE, sequencer="10")[1] is Action.STALE
    assert ledger.counts()[State.DELETED] == 1 and ledger.counts()[State.QUEUED] == 0


def test_a_dead_letter_is_a_failure_to_replay(ledger: Ledger) -> None:
    id, _ = ledger.submit(source(), PIPELINE)
    assert ledger.fail(id, "v1", "gave up after 5 retries: S3 timed out", dead=True)
    (record,) = ledger.failures()
    assert (record.state, record.error) == (State.DEAD, "gave up after 5 retries: S3 timed out")
    assert ledger.counts()[State.DEAD] == 1
    assert ledger.submit(source(), PIPELINE)[1] is Action.REPLACE


def test_finished_since_counts_what_reached_a_final_state(ledger: Ledger) -> None:
    import time

    before = time.time() - 1
    ids = [ledger.submit(source(f"{n}.jpg"), PIPELINE)[0] for n in range(4)]
    ledger.decoded(ids[0], "v1", 0)
    ledger.decoded(ids[1], "v1", 1)
    ledger.indexed(ids[1], "v1", ["x"])
    ledger.fail(ids[2], "v1", "broken")
    assert ledger.finished_since(before) == 3
    assert ledger.finished_since(time.time() + 60) == 0


# ---------------------------------------------------------------- stranded work, lost state


def test_idle_lists_sources_in_flight_untouched_since_a_time(ledger: Ledger) -> None:
    import time

    ids = [ledger.submit(source(f"{n}.jpg"), PIPELINE)[0] for n in range(5)]
    ledger.advance(ids[1], "v1", State.DECODING)
    ledger.decoded(ids[2], "v1", 2)  # embedding
    ledger.decoded(ids[3], "v1", 0)  # done
    ledger.fail(ids[4], "v1", "broken")
    later = time.time() + 1
    assert sorted(record.id for record in ledger.idle(later)) == sorted(ids[:3])
    assert {record.state for record in ledger.idle(later)} == {State.QUEUED, State.DECODING, State.EMBEDDING}
    assert ledger.idle(time.time() - 60) == []  # touched since
    assert len(ledger.idle(later, limit=2)) == 2


def test_the_epoch_is_written_once_and_kept(ledger: Ledger) -> None:
    assert ledger.epoch() is None
    first = ledger.epoch(create=True)
    assert first is not None
    assert ledger.epoch(create=True) == first
    assert ledger.epoch() == first
