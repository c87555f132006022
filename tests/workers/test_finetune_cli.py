"""`mmindex finetune`, run as a user runs it: the real all-MiniLM-L6-v2 tuned with negatives mined from an index
of a few documents and measured on them, the tiny random-weight CLIP tuned and measured on the index's photos, and
training files refused in one line naming the line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.cli import Cli
from tests.support.media import photo

DOCUMENTS = {
    "forklift": "The forklift in bay 3 lets its mast creep down when a full pallet is raised; the seals were worn.",
    "posset": "Lemon posset: heat cream and sugar, stir in lemon juice, and leave it to set in the fridge overnight.",
    "boiler": "The school boiler loses pressure every night; a valve on the heating circuit leaked and was replaced.",
    "robin": "A robin with a bright red breast came to the garden feeder twice on Tuesday morning.",
    "ferry": "The ferry to the island leaves the harbour at seven every morning from pier two.",
    "invoice": "Invoice INV-48213 for printer toner is overdue: payment was due on the first of March.",
    "roses": "Prune the roses in early spring, cutting each stem back to an outward-facing bud.",
    "flat": "Two-room flat with a balcony, five minutes' walk from the railway station, available in June.",
}
QUESTIONS = {
    "forklift": "the lift truck cannot hold heavy goods up",
    "posset": "a creamy dessert set by citrus",
    "boiler": "heating system needs topping up with water",
    "robin": "small bird with an orange chest at the bird table",
    "ferry": "when does the boat to the island sail",
    "invoice": "unpaid bill for printing supplies",
    "roses": "how to cut back flowering shrubs",
    "flat": "apartment with an outdoor space near the trains",
}


def test_models_are_tuned_with_negatives_mined_from_the_index_and_measured_on_what_it_holds(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "documents"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / f"{name}.txt").write_text(text + "\n")
    album = [photo(tmp_path / "album" / f"{i}.jpg", seed=i, size=(320, 240)) for i in range(6)]
    # Ingested in this process, on the index the `cli` command uses (one command fewer to start): the subject is
    # what `mmindex finetune` does with what the index holds.
    assert len(ingested(folder, tmp_path / "album")) == len(DOCUMENTS) + len(album)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": QUESTIONS[n], "positive": t}) + "\n" for n, t in DOCUMENTS.items()))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"query": q, "relevant": [f"documents/{n}.txt"]}) + "\n" for n, q in QUESTIONS.items())
        + json.dumps({"query": "how to tune a guitar", "relevant": []})
        + "\n"
    )

    report = cli.json(
        "finetune", "text", "--triplets", str(pairs), "--out", str(tmp_path / "tuned"), "--mine", "--eval",
        str(queries), "--batch-size", "4", "--validation", "0.25",
    )  # fmt: skip

    assert report["loss"].startswith("TripletLoss")  # every line now has a negative
    assert report["examples"] == {"train": 6, "validation": 2, "mined": 8}
    assert report["epochs"] == 1 and report["device"] == "cpu"
    assert report["model"] == cli.env["MMINDEX_MODELS__TEXT"]
    measured = report["eval"]
    assert measured["documents"] == len(DOCUMENTS) and "in memory" in measured["measured"]
    for when in ("before", "after"):
        assert measured[when]["queries"] == len(QUESTIONS)  # the question about a guitar has no answer to rank
        assert 0 < measured[when]["ndcg@10"] <= 1
        assert report["validation"][when]["queries"] == 2
    tuned = SentenceTransformer(str(tmp_path / "tuned"), device="cpu")
    assert tuned.encode(["a creamy dessert set by citrus"]).shape == (1, 384)

    # the CLIP model, on the photos; measured with an image and a caption over the index's thumbnails
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"image": f"album/{p.name}", "caption": f"photo {p.stem}"}) + "\n" for p in album)
    )
    queries.write_text(
        json.dumps({"image": "album/0.jpg", "relevant": ["album/0.jpg"]})
        + "\n"
        + json.dumps({"query": "photo 1", "relevant": ["album/1.jpg"]})
        + "\n"
    )

    report = cli.json(
        "finetune", "vision", "--pairs", str(pairs), "--out", str(tmp_path / "tuned-clip"), "--eval", str(queries),
        "--batch-size", "3", "--epochs", "2",
    )  # fmt: skip

    assert report["space"] == "vision" and report["examples"] == {"train": 5, "validation": 1}
    assert report["loss"].startswith("MultipleNegativesRankingLoss, symmetric")
    measured = report["eval"]
    assert measured["documents"] == len(album)
    assert measured["before"]["queries"] == measured["after"]["queries"] == 2
    assert measured["before"]["recall@1"] >= 0.5  # the image query finds its own thumbnail, even at random weights
    assert (tmp_path / "tuned-clip" / "modules.json").is_file()


def test_malformed_training_files_are_refused_in_one_line_naming_the_line(cli: Cli, tmp_path: Path) -> None:
    triplets = tmp_path / "triplets.jsonl"
    triplets.write_text('{"anchor": "a", "positive": "b"}\n{"anchor": "c", "positive": "d"}\n{"anchor": "e",\n')

    result = cli("finetune", "text", "--triplets", str(triplets), "--out", str(tmp_path / "tuned"))

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: {triplets}, line 3: not JSON (")
    photo(tmp_path / "a.jpg", seed=1)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"image": "a.jpg", "caption": "a photo"}\n{"image": "gone.jpg", "caption": "another"}\n')

    result = cli("finetune", "vision", "--pairs", str(pairs), "--out", str(tmp_path / "tuned"))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {pairs}, line 2: image gone.jpg not found (paths are relative to {tmp_path})"
    ]
    assert not (tmp_path / "tuned").exists()
