"""shared/lifecycle.py: the index follows the ledger when a version fails, is written, or its source leaves storage.

Embedded mode, on the real SQLite ledger and LanceDB store under a fresh MMINDEX_HOME.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ledger import State
from shared.lifecycle import fail_sources, remove, settle
from shared.runtime import Runtime
from shared.storage import ObjectInfo
from tests.support.index import embedded_runtime, version_of, versions_held


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runtime]:
    with embedded_runtime(monkeypatch, tmp_path) as runtime:
        yield runtime


def test_a_failed_new_version_leaves_the_last_good_one_searchable(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    version_of(runtime, path, "v1")
    id = version_of(runtime, path, "v2", done=False)

    fail_sources([(id, "v2")], "cannot decode: truncated")

    assert versions_held(runtime) == ["words of v1"]
    (record,) = runtime.ledger.get([id])
    assert (record.version, record.state, record.error) == ("v2", State.FAILED, "cannot decode: truncated")


def test_a_late_failure_of_a_finished_version_undoes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    id = version_of(runtime, tmp_path / "notes.txt", "v1")

    fail_sources([(id, "v1")], "a redelivered task timed out")

    assert versions_held(runtime) == ["words of v1"]
    assert runtime.ledger.get([id])[0].state is State.DONE


def test_settling_a_finished_version_replaces_the_older_one_and_is_idempotent(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    version_of(runtime, path, "v1")
    id = version_of(runtime, path, "v2")

    settle(runtime, {(id, "v2")})
    settle(runtime, {(id, "v2")})  # a redelivery of the index task

    assert versions_held(runtime) == ["words of v2"]


def test_documents_written_for_a_superseded_version_are_taken_out_again(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    id = version_of(runtime, path, "v1", done=False)
    version_of(runtime, path, "v2", done=False)  # v1's late batch was written after v2 was queued

    settle(runtime, {(id, "v1")})

    assert versions_held(runtime) == ["words of v2"]


def test_a_source_that_left_storage_leaves_the_index_and_a_stale_removal_changes_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    id = version_of(runtime, path, "v1")
    gone = ObjectInfo(uri=str(path), root="local", key=str(path), size=0, version="v1")

    assert remove(runtime, gone) is not None
    assert versions_held(runtime) == []
    assert runtime.ledger.get([id])[0].state is State.DELETED

    version_of(runtime, path, "v2")
    runtime.ledger.submit(ObjectInfo(str(path), "local", str(path), 1, "v2"), runtime.settings.pipeline_version, "0B")
    assert remove(runtime, gone, sequencer="0A") is None  # older than the event that wrote v2
    assert versions_held(runtime) == ["words of v2"]
