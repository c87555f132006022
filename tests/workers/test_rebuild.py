"""workers/rebuild.py and `mmindex reindex` / `mmindex models`, as a user runs them: a space is rebuilt with another
model from what the index holds (the originals deleted first), swapped in, rolled back and dropped; a rebuild that
could not finish resumes, and what is ingested, replaced or deleted meanwhile reaches both generations; in embedded
mode, and with real workers on the real OpenSearch node."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.documents import SearchMode, Space
from shared.runtime import get_runtime
from shared.search import Query, image_query, run_query
from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.models import TINY, build_random_clip
from tests.support.services import on_opensearch
from tests.support.workers import running_workers
from workers.intakes.submission import submit
from workers.rebuild import ROUNDS, rebuild

NOTE = "The ferry to the island leaves at nine every morning from the old harbour."


@pytest.fixture(scope="module")
def clip16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another random-weight CLIP, of 16-d vectors where the configured one gives 32-d."""
    return build_random_clip(tmp_path_factory.mktemp("models") / "clip16", replace(TINY, embed_dim=16), seed=1)


def generations(cli: Cli, space: str) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in cli.json("models") if g["space"] == space}


def test_a_space_is_rebuilt_from_what_the_index_holds_and_swapped_in(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path, clip16: Path
) -> None:
    album = tmp_path / "album"
    photos = [photo(album / f"{i}.jpg", seed=i) for i in range(4)]
    (album / "note.txt").write_text(NOTE)
    queries = [near_copy(path, tmp_path / f"q{i}.jpg") for i, path in enumerate(photos)]
    # Ingested in this process, on the index the `cli` command uses: the subject is what `mmindex reindex` and
    # `mmindex models` do next (`mmindex ingest` itself is tested elsewhere); one command fewer to start.
    assert len(ingested(album)) == 5
    shutil.rmtree(album)  # a rebuild reads the stored thumbnails and words, never the originals

    report = cli.json("reindex", "vision", "--model", str(clip16), "--swap")
    assert (report["generation"], report["from"], report["dimension"]) == ("g2", "g1", 16)
    assert (report["documents"], report["rebuilt"], report["missing"], report["swapped"]) == (4, 4, 0, True)
    vision = generations(cli, "vision")
    assert [(g["state"], g["dimension"], g["documents"]) for g in vision.values()] == [
        ("retired", 32, 4),
        ("serving", 16, 4),
    ]
    assert vision["g2"]["model"] == str(clip16)
    assert vision["g1"]["fingerprint"] and vision["g2"]["fingerprint"] not in (None, vision["g1"]["fingerprint"])

    dropped = cli("models", "drop", "vision", "g1")
    assert dropped.returncode == 0, dropped.stderr
    assert list(generations(cli, "vision")) == ["g2"]
    # Only the 16-d generation is left to answer, and its model does: the setting that names another says so.
    searched = cli("search", "--image", str(queries[2]), "--k", "2", "--json")
    assert json.loads(searched.stdout)[0]["uri"] == str(photos[2])
    told = [line for line in searched.stderr.splitlines() if "MMINDEX_MODELS__VISION" in line]
    assert len(told) == 1 and "serves generation g2" in told[0] and str(clip16) in told[0], searched.stderr

    refused = cli("models", "rollback", "vision")
    assert refused.returncode == 2 and "no earlier generation" in refused.stderr, refused.stderr
    serving = cli("models", "drop", "vision", "g2")
    assert serving.returncode == 2 and "swap another in before dropping it" in serving.stderr, serving.stderr
    broken = cli("reindex", "vision", "--model", str(tmp_path / "no-such-model"))
    assert broken.returncode == 2 and broken.stderr.startswith("error: ") and "no-such-model" in broken.stderr
    assert "\n" not in broken.stderr.strip(), broken.stderr


@pytest.mark.usefixtures("embedded")
def test_a_rebuild_that_could_not_finish_resumes_and_ingestion_meanwhile_reaches_both(
    tmp_path: Path, clip16: Path
) -> None:
    runtime = get_runtime()
    album = tmp_path / "album"
    photos = [photo(album / f"{i}.jpg", seed=i) for i in range(4)]
    submit([str(album)])
    thumbnail = Path(next(item.thumbnail for item in runtime.store.items(Space.VISION) if item.uri == str(photos[0])))
    aside = thumbnail.rename(tmp_path / "aside.jpg")  # one stored thumbnail unreadable for now

    first = rebuild(Space.VISION, str(clip16), runtime, wait=True, swap=True)
    assert (first.documents, first.missing, first.swapped) == (4, 1, False)  # incomplete: not swapped
    assert len(first.rounds) == ROUNDS and first.rounds[1:] == [1] * (ROUNDS - 1)  # the missing one, tried again

    # While g2 is being built, a new photo and a replaced one are written to both generations.
    added = photo(album / "new.jpg", seed=40)
    photo(photos[1], seed=41)
    submission = submit([str(album)])
    assert {record.uri for record in runtime.ledger.get(submission.ids)} == {str(added), str(photos[1])}
    assert [runtime.store.count(Space.VISION, generation=n) for n in (1, 2)] == [5, 4]

    aside.rename(thumbnail)
    resumed = rebuild(Space.VISION, str(clip16), runtime, wait=True, swap=True)
    assert (resumed.generation.number, resumed.resumed, resumed.sent) == (2, True, 1)
    assert (resumed.documents, resumed.missing, resumed.swapped) == (5, 0, True)
    assert [runtime.store.count(Space.VISION, generation=n) for n in (1, 2)] == [5, 5]
    for path in (added, photos[1], photos[0]):
        hits = run_query(image_query(near_copy(path, tmp_path / f"query-{path.name}"), k=1), runtime)
        assert (hits[0].uri, hits[0].generation) == (str(path), 2)


@pytest.mark.usefixtures("embedded")
def test_the_text_space_is_rebuilt_from_its_stored_words(tmp_path: Path, minilm: Path) -> None:
    runtime = get_runtime()
    album = tmp_path / "notes"
    album.mkdir()
    (album / "ferry.txt").write_text(NOTE)
    (album / "roses.txt").write_text("Prune the roses in early spring, before the buds swell.")
    submit([str(album)])
    shutil.rmtree(album)
    tuned = shutil.copytree(minilm, tmp_path / "minilm-copy")  # another model by its path (the same weights)

    report = rebuild(Space.TEXT, str(tuned), runtime, wait=True, swap=True)

    assert (report.documents, report.missing, report.swapped) == (2, 0, True)
    hits = run_query(Query(text="when does the boat to the island go", k=1, mode=SearchMode.DENSE), runtime)
    assert (hits[0].uri, hits[0].text, hits[0].generation) == (str(album / "ferry.txt"), NOTE, 2)


def test_on_opensearch_with_workers_a_rebuild_takes_in_what_is_ingested_and_deleted_meanwhile(
    redis_url: str,
    mmindex_env: dict[str, str],
    opensearch_url: str,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
    clip16: Path,
) -> None:
    env, store = on_opensearch(mmindex_env, redis_url, opensearch_url, f"rebuild-{bucket}")
    cli = Cli(env=env, cwd=tmp_path)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    photos = [photo(tmp_path / f"p{i}.jpg", seed=60 + i) for i in range(5)]
    with running_workers(env, tmp_path / "logs"):
        for path in photos:
            s3.put_object(Bucket=bucket, Key=f"p/{path.name}", Body=path.read_bytes())
        assert len(cli.json("ingest", f"s3://{bucket}/p/", "--wait")["indexed"]) == 5
        for path in photos[2:]:  # the originals go; their thumbnails stay in the artifact area
            s3.delete_object(Bucket=bucket, Key=f"p/{path.name}")

        started = cli.json("reindex", "vision", "--model", str(clip16))  # queued; the workers build g2
        assert (started["generation"], started["sent"]) == ("g2", 5)
        # Meanwhile a photo arrives and one leaves: ingestion writes to both generations, the deletion reaches both.
        added = photo(tmp_path / "new.jpg", seed=70)
        s3.put_object(Bucket=bucket, Key="p/new.jpg", Body=added.read_bytes())
        assert cli.json("ingest", f"s3://{bucket}/p/new.jpg", "--wait")["indexed"] == [f"s3://{bucket}/p/new.jpg"]
        s3.delete_object(Bucket=bucket, Key="p/p0.jpg")
        assert cli("ingest", f"s3://{bucket}/p/p0.jpg", "--wait", "--json").returncode == 1  # gone: taken out

        finished = cli.json("reindex", "vision", "--model", str(clip16), "--wait", "--swap")
        assert (finished["generation"], finished["resumed"], finished["swapped"]) == ("g2", True, True)
        assert (finished["documents"], finished["missing"]) == (5, 0)
        counts = {g["name"]: (g["state"], g["documents"]) for g in cli.json("models") if g["space"] == "vision"}
        assert counts == {"g1": ("retired", 5), "g2": ("serving", 5)}
        assert store.count(source=f"s3://{bucket}/p/p0.jpg") == 0
        for path, key in ((added, "new.jpg"), (photos[3], "p3.jpg")):
            hits = cli.json("search", "--image", str(near_copy(path, tmp_path / f"q-{key}")), "--k", "5")
            assert hits[0]["uri"] == f"s3://{bucket}/p/{key}"
            assert f"s3://{bucket}/p/p0.jpg" not in [hit["uri"] for hit in hits]

        back = cli("models", "rollback", "vision")
        assert back.returncode == 0 and "serves g1" in back.stdout, back.stderr
        hits = cli.json("search", "--image", str(near_copy(added, tmp_path / "q-again.jpg")), "--k", "1")
        assert hits[0]["uri"] == f"s3://{bucket}/p/new.jpg"
