"""workers/intakes/submission.py: what `mmindex ingest` records and reports for links, non-regular files, hidden
files and paths that do not exist (embedded mode, the real command), and how `apply` takes a local file's removal
(the folder watch's)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ledger import State
from shared.notifications import EventFilter, ObjectEvent
from shared.runtime import Runtime
from tests.support.cli import Cli
from tests.support.index import embedded_runtime, version_of, versions_held
from tests.support.media import photo
from workers.intakes.submission import apply


@pytest.mark.timeout(300)
def test_only_what_lies_in_the_folder_is_read_and_the_rest_is_reported(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish, kept by the quartermaster\n")
    folder = tmp_path / "inbox"
    notes = folder / "a" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("minutes of the harbour committee: the ferry timetable changes in May\n")
    picture = photo(folder / "photo.jpg", seed=3)
    (folder / "b").mkdir()
    (folder / "b" / "notes-link.txt").symlink_to(notes)  # inside: followed, to the file it names
    (folder / "leak.txt").symlink_to(secret)  # outside: refused
    os.mkfifo(folder / "x.jpg")  # would block the reader for ever
    (folder / "zero.jpg").symlink_to("/dev/zero")  # would never end
    (folder / "a-again").symlink_to(folder / "a")  # a link to a folder: not followed, and said so
    (folder / ".hidden.txt").write_text("a hidden note\n")

    result = cli("ingest", str(folder), "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["indexed"]) == sorted([str(notes), str(picture)])
    errors = {Path(failure["uri"]).name: failure["error"] for failure in report["failed"]}
    assert errors.keys() == {"leak.txt", "x.jpg", "zero.jpg", "a-again"}
    assert all("\n" not in error for error in errors.values())
    assert f"a symbolic link to somewhere outside {folder}" in errors["leak.txt"]
    assert str(secret) not in errors["leak.txt"] and "MMINDEX_INGEST__LINKS" in errors["leak.txt"]
    assert "a FIFO (named pipe), not a regular file" in errors["x.jpg"]
    assert "a symbolic link to somewhere outside" in errors["zero.jpg"]
    assert errors["a-again"] == f"{folder / 'a-again'}: a symbolic link to a folder; not followed"
    assert report["skipped"] == [str(folder / ".hidden.txt")]

    hits = cli.json("search", "swordfish vault code quartermaster", "--k", "10", "--min-relevance", "0")
    assert hits, "the notes are indexed, so the search has something to return"
    assert all("swordfish" not in (hit["text"] or "") for hit in hits)
    assert {hit["uri"] for hit in hits} <= {str(notes), str(picture)}


@pytest.mark.timeout(300)
def test_a_typo_is_reported_and_leaves_no_failed_source(cli: Cli, tmp_path: Path) -> None:
    good = photo(tmp_path / "album" / "good.jpg", seed=1)
    typo = tmp_path / "albun"

    result = cli("ingest", str(tmp_path / "album"), str(typo), "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == [str(good)], report
    assert report["failed"] == [{"uri": str(typo), "error": f"{typo}: no such file or directory"}]
    status = cli.json("status")
    assert status["counts"]["failed"] == 0 and status["failed"] == []
    assert status["counts"]["done"] == 1


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runtime]:
    with embedded_runtime(monkeypatch, tmp_path) as runtime:
        yield runtime


def test_a_removed_local_file_leaves_the_index_and_one_written_again_stays(runtime: Runtime, tmp_path: Path) -> None:
    gone, back = tmp_path / "gone.txt", tmp_path / "back.txt"
    back.write_text("written again after its removal was seen\n")
    gone_id = version_of(runtime, gone, "v1")
    back_id = version_of(runtime, back, "v2")

    events = [ObjectEvent.file_removed(str(path)) for path in (gone, back)]
    applied = apply(events, EventFilter(ignore_prefix=""), runtime)

    assert applied.removed == [str(gone)] and applied.unchanged == [str(back)]
    states = {record.id: record.state for record in runtime.ledger.get([gone_id, back_id])}
    assert states == {gone_id: State.DELETED, back_id: State.DONE}
    assert versions_held(runtime) == ["words of v2"]
