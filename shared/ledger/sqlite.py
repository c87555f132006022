"""The ledger in a SQLite file: the embedded mode's, safe for several processes on one host."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from threading import Lock

from shared.ledger.protocol import FAILURES, FINAL, PENDING, Action, SourceRecord, State, decide, source_id, stale
from shared.storage import ObjectInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY, root TEXT NOT NULL, key TEXT NOT NULL, uri TEXT NOT NULL,
    version TEXT NOT NULL, pipeline TEXT NOT NULL, state TEXT NOT NULL,
    items INTEGER, error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, sequencer TEXT
);
CREATE INDEX IF NOT EXISTS sources_state ON sources (state);
CREATE INDEX IF NOT EXISTS sources_updated ON sources (updated_at);
CREATE TABLE IF NOT EXISTS indexed_items (
    source_id TEXT NOT NULL, version TEXT NOT NULL, item_id TEXT NOT NULL,
    PRIMARY KEY (source_id, item_id)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decoded_parts (
    source_id TEXT NOT NULL, version TEXT NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
    items INTEGER NOT NULL, PRIMARY KEY (source_id, version, part)
);
"""
_COLUMNS = "id, root, key, uri, version, pipeline, state, items, error, created_at, updated_at, sequencer"


class SqliteLedger:
    def __init__(self, path: Path, in_flight_timeout_s: float = 3600) -> None:
        self._in_flight_timeout_s = in_flight_timeout_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(sources)")}
            if columns and "sequencer" not in columns:  # a ledger written before events were ordered
                self._db.execute("ALTER TABLE sources ADD COLUMN sequencer TEXT")
            self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _record(self, db: sqlite3.Connection, row: tuple[object, ...]) -> SourceRecord:
        (id_, root, key, uri, version, pipeline, state, items, error, created, updated, sequencer) = row
        (count,) = db.execute(
            "SELECT COUNT(*) FROM indexed_items WHERE source_id = ? AND version = ?", (id_, version)
        ).fetchone()
        return SourceRecord(
            id=str(id_),
            root=str(root),
            key=str(key),
            uri=str(uri),
            version=str(version),
            pipeline=str(pipeline),
            state=State(str(state)),
            items=None if items is None else int(str(items)),
            indexed=int(count),
            error=None if error is None else str(error),
            created_at=float(str(created)),
            updated_at=float(str(updated)),
            sequencer=None if sequencer is None else str(sequencer),
        )

    def _load(self, db: sqlite3.Connection, id: str) -> SourceRecord | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM sources WHERE id = ?", (id,)).fetchone()
        return None if row is None else self._record(db, row)

    def _reset(
        self, db: sqlite3.Connection, source: ObjectInfo, pipeline: str, state: State, sequencer: str | None
    ) -> None:
        """Make the row hold a new version (or a deletion) with no progress."""
        id, now = source_id(source.root, source.key), time.time()
        db.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " uri = excluded.uri, version = excluded.version, pipeline = excluded.pipeline,"
            " state = excluded.state, items = NULL, error = NULL, updated_at = excluded.updated_at,"
            " sequencer = COALESCE(excluded.sequencer, sources.sequencer)",
            (id, source.root, source.key, source.uri, source.version, pipeline, state, now, now, sequencer),
        )
        db.execute("DELETE FROM indexed_items WHERE source_id = ?", (id,))
        db.execute("DELETE FROM decoded_parts WHERE source_id = ?", (id,))

    def submit(self, source: ObjectInfo, pipeline: str, sequencer: str | None = None) -> tuple[str, Action]:
        id = source_id(source.root, source.key)
        with self._tx() as db:
            existing = self._load(db, id)
            if stale(existing, sequencer):
                return id, Action.STALE
            action = decide(existing, source.version, pipeline, self._in_flight_timeout_s)
            if action is Action.SKIP:
                if sequencer is not None:  # the same version again, but a newer event: remember its order
                    db.execute("UPDATE sources SET sequencer = ? WHERE id = ?", (sequencer, id))
            else:
                self._reset(db, source, pipeline, State.QUEUED, sequencer)
        return id, action

    def remove(self, source: ObjectInfo, sequencer: str | None = None) -> SourceRecord | None:
        id = source_id(source.root, source.key)
        with self._tx() as db:
            existing = self._load(db, id)
            if stale(existing, sequencer):
                return None
            gone = source if existing is None else replace(source, version=existing.version)
            self._reset(db, gone, existing.pipeline if existing else "", State.DELETED, sequencer)
            return self._load(db, id)

    def get(self, ids: Sequence[str]) -> list[SourceRecord]:
        with self._tx(write=False) as db:
            found = [self._load(db, id) for id in ids]
        return [record for record in found if record is not None]

    def _update(self, db: sqlite3.Connection, id: str, version: str, **fields: object) -> bool:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        cursor = db.execute(
            f"UPDATE sources SET {assignments}, updated_at = ? WHERE id = ? AND version = ?"
            f" AND state NOT IN ({', '.join('?' * len(FINAL))})",
            (*fields.values(), time.time(), id, version, *FINAL),
        )
        return cursor.rowcount == 1

    def advance(self, id: str, version: str, state: State) -> bool:
        with self._tx() as db:
            return self._update(db, id, version, state=state)

    def decoded(self, id: str, version: str, items: int, part: int = 0, parts: int = 1) -> bool:
        with self._tx() as db:
            record = self._load(db, id)
            if record is None or record.version != version or record.state in FINAL:
                return False
            db.execute("INSERT OR IGNORE INTO decoded_parts VALUES (?, ?, ?, ?, ?)", (id, version, part, parts, items))
            reported, total = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(items), 0) FROM decoded_parts WHERE source_id = ? AND version = ?",
                (id, version),
            ).fetchone()
            if int(reported) < parts:
                state = State.INDEXING if record.state is State.INDEXING else State.EMBEDDING
                return self._update(db, id, version, state=state)
            complete = record.indexed >= int(total)
            return self._update(db, id, version, items=int(total), state=State.DONE if complete else State.EMBEDDING)

    def indexed(self, id: str, version: str, item_ids: Iterable[str]) -> bool:
        with self._tx() as db:
            record = self._load(db, id)
            if record is None or record.version != version or record.state in FINAL:
                return False
            db.executemany(
                "INSERT OR IGNORE INTO indexed_items VALUES (?, ?, ?)", [(id, version, item) for item in item_ids]
            )
            record = self._load(db, id)
            assert record is not None
            complete = record.items is not None and record.indexed >= record.items
            self._update(db, id, version, state=State.DONE if complete else State.INDEXING)
            return complete

    def fail(self, id: str, version: str, reason: str, dead: bool = False) -> bool:
        with self._tx() as db:
            return self._update(db, id, version, state=State.DEAD if dead else State.FAILED, error=reason)

    def counts(self) -> dict[State, int]:
        with self._tx(write=False) as db:
            rows = db.execute("SELECT state, COUNT(*) FROM sources GROUP BY state").fetchall()
        found = {State(str(state)): int(count) for state, count in rows}
        return {state: found.get(state, 0) for state in State}

    def failures(self, limit: int = 100) -> list[SourceRecord]:
        with self._tx(write=False) as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sources WHERE state IN (?, ?) ORDER BY updated_at DESC LIMIT ?",
                (*sorted(FAILURES), limit),
            ).fetchall()
            return [self._record(db, row) for row in rows]

    def finished_since(self, since: float) -> int:
        with self._tx(write=False) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM sources WHERE state IN (?, ?, ?) AND updated_at >= ?",
                (State.DONE, State.FAILED, State.DEAD, since),
            ).fetchone()
        return int(count)

    def idle(self, before: float, limit: int = 10_000) -> list[SourceRecord]:
        with self._tx(write=False) as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sources WHERE state IN ({', '.join('?' * len(PENDING))}) AND updated_at < ?"
                " ORDER BY updated_at LIMIT ?",
                (*sorted(PENDING), before, limit),
            ).fetchall()
            return [self._record(db, row) for row in rows]

    def epoch(self, create: bool = False) -> str | None:
        with self._tx(write=create) as db:
            if create:
                value = f"{uuid.uuid4().hex} {time.time():.0f}"
                db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (value,))
            row = db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()
        return None if row is None else str(row[0])
