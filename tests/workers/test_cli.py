"""The command line in embedded mode: no broker, tasks run in-process, LanceDB and SQLite under MMINDEX_HOME."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image

from tests.conftest import Cli, near_copy, photo


def test_a_folder_of_photos_is_searchable_by_a_near_copy(cli: Cli, tmp_path: Path) -> None:
    photos = [photo(tmp_path / "album" / f"{name}.jpg", seed=i) for i, name in enumerate("abcde")]

    report = cli.json("ingest", str(tmp_path / "album"))

    assert sorted(report["indexed"]) == sorted(str(p) for p in photos)
    assert report["failed"] == [] and report["skipped"] == []
    for target in photos:
        hits = cli.json("search", "--image", str(near_copy(target, tmp_path / f"query-{target.name}")), "--k", "3")
        assert hits[0]["uri"] == str(target)
        assert Path(hits[0]["thumbnail"]).is_file()
        assert set(hits[0]) == {"uri", "modality", "score", "start_s", "end_s", "text", "thumbnail"}
        assert hits[0]["score"] > hits[1]["score"]


def test_unchanged_sources_are_skipped_and_a_changed_one_replaces_its_documents(cli: Cli, tmp_path: Path) -> None:
    photos = [photo(tmp_path / "album" / f"{i}.jpg", seed=i) for i in range(3)]
    cli.json("ingest", str(tmp_path / "album"))

    again = cli.json("ingest", str(tmp_path / "album"))
    assert again["indexed"] == [] and sorted(again["skipped"]) == sorted(str(p) for p in photos)

    photo(photos[0], seed=100)  # the file changes in place
    changed = cli.json("ingest", str(tmp_path / "album"))
    assert changed["indexed"] == [str(photos[0])] and len(changed["skipped"]) == 2

    hits = cli.json("search", "--image", str(near_copy(photos[0], tmp_path / "query.jpg")), "--k", "100")
    assert hits[0]["uri"] == str(photos[0])
    assert [hit["uri"] for hit in hits].count(str(photos[0])) == 1  # the old version's document is gone
    assert len(hits) == 3
    thumbnails = sorted(Path(cli.env["MMINDEX_HOME"], "artifacts", "thumbnails").glob("*/*/*.jpg"))
    assert len(thumbnails) == 3  # and so is its thumbnail
    assert Path(hits[0]["thumbnail"]) in thumbnails


def test_bad_files_fail_with_reasons_and_the_good_ones_are_indexed(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    good = photo(folder / "good.jpg", seed=1)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:2000])
    (folder / "notes.jpg").write_text("not a photo at all\n")
    (folder / "noise.png").write_bytes(random.Random(3).randbytes(5000))
    Image.new("1", (10_000, 9_000)).save(folder / "huge.png")

    result = cli("ingest", str(folder), str(tmp_path / "missing.jpg"), "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == [str(good)]
    errors = {Path(failure["uri"]).name: failure["error"] for failure in report["failed"]}
    assert errors.keys() == {"empty.jpg", "truncated.jpg", "notes.jpg", "noise.png", "huge.png", "missing.jpg"}
    assert errors["empty.jpg"] == "empty file (0 bytes)"
    assert "truncated" in errors["truncated.jpg"]
    assert errors["notes.jpg"] == "content is text but the name says image (.jpg)"
    assert "unrecognised content" in errors["noise.png"]
    assert "90000000 pixels exceeds the limit" in errors["huge.png"]
    assert "no such file" in errors["missing.jpg"]

    status = cli.json("status")  # a path that never existed is reported, never recorded
    assert status["counts"]["done"] == 1 and status["counts"]["failed"] == 5
    assert (status["pending"], status["eta_s"]) == (0, 0.0) and status["finished_per_minute"] >= 3.0
    recorded = {name: error for name, error in errors.items() if name != "missing.jpg"}
    assert {Path(f["uri"]).name: f["error"] for f in status["failed"]} == recorded
    assert {f["state"] for f in status["failed"]} == {"failed"}

    human = cli("status")
    assert "done 1" in human.stdout and "failed 5" in human.stdout


def test_a_model_that_cannot_load_fails_the_sources_with_the_setting_to_change(cli: Cli, tmp_path: Path) -> None:
    cli.env["MMINDEX_MODELS__VISION"] = str(tmp_path / "no-such-model")
    source = photo(tmp_path / "one.jpg", seed=5)

    result = cli("ingest", str(source), "--json")

    assert result.returncode == 1
    (failure,) = json.loads(result.stdout)["failed"]
    assert failure["uri"] == str(source)
    assert "MMINDEX_MODELS__VISION" in failure["error"]


def test_search_and_worker_explain_what_they_need(cli: Cli) -> None:
    nothing = cli("search")
    assert nothing.returncode == 2 and "give one of TEXT" in nothing.stderr
    both = cli("search", "boats", "--image", "x.jpg")
    assert both.returncode == 2 and "give one of TEXT" in both.stderr

    no_broker = cli("worker", "decode")
    assert no_broker.returncode == 2 and "MMINDEX_BROKER_URL" in no_broker.stderr

    unknown = cli("worker", "gpu")
    assert unknown.returncode == 2 and "decode, embed, index, query" in unknown.stderr


def test_a_bad_new_version_fails_and_the_last_good_one_stays_searchable(cli: Cli, tmp_path: Path) -> None:
    good = photo(tmp_path / "album" / "a.jpg", seed=1)
    query = near_copy(good, tmp_path / "query.jpg")
    cli.json("ingest", str(tmp_path / "album"))
    good.write_bytes(good.read_bytes()[:1500])  # overwritten by a broken upload

    result = cli("ingest", str(tmp_path / "album"), "--json")

    assert result.returncode == 1
    assert "truncated" in json.loads(result.stdout)["failed"][0]["error"]
    assert [hit["uri"] for hit in cli.json("search", "--image", str(query))] == [str(good)]


def test_a_deleted_file_is_reported_and_leaves_the_index(cli: Cli, tmp_path: Path) -> None:
    keep = photo(tmp_path / "album" / "keep.jpg", seed=1)
    gone = photo(tmp_path / "album" / "gone.jpg", seed=2)
    query = near_copy(gone, tmp_path / "query.jpg")
    cli.json("ingest", str(tmp_path / "album"))
    gone.unlink()

    result = cli("ingest", str(gone), "--json")

    assert result.returncode == 1
    assert "no such file" in json.loads(result.stdout)["failed"][0]["error"]
    hits = cli.json("search", "--image", str(query))
    assert [hit["uri"] for hit in hits] == [str(keep)]
    thumbnails = list(Path(cli.env["MMINDEX_HOME"], "artifacts", "thumbnails").glob("*/*/*.jpg"))
    assert thumbnails == [Path(hits[0]["thumbnail"])]


def test_an_unreadable_entry_in_a_folder_fails_alone(cli: Cli, tmp_path: Path) -> None:
    good = photo(tmp_path / "album" / "good.jpg", seed=1)
    (tmp_path / "album" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")

    result = cli("ingest", str(tmp_path / "album"), "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == [str(good)]
    assert [Path(f["uri"]).name for f in report["failed"]] == ["dangling.jpg"]
    assert "no such file" in report["failed"][0]["error"]


def test_bad_configuration_is_one_line_not_a_traceback(cli: Cli) -> None:
    cli.env["MMINDEX_BROKR_URL"] = "redis://127.0.0.1:6379/0"

    result = cli("status")

    assert result.returncode == 2
    assert "unknown setting(s) MMINDEX_BROKR_URL" in result.stderr
    assert "Traceback" not in result.stderr
