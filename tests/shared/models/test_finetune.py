"""shared/models/finetune.py, finetune_data.py, augment.py: fine-tuning the real all-MiniLM-L6-v2 and the tiny
random-weight CLIP on small sets, one short epoch each, and the training files refused line by line.

The tuned model must load as sentence-transformers loads any model and encode; how much better it ranks is for
`examples/eval/finetune.py` to measure, not for a test.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.config import Settings
from shared.errors import ModelUnavailable, PermanentError
from shared.models.augment import Augmentation
from shared.models.finetune import Options, finetune_text, finetune_vision
from shared.models.finetune_data import MIN_EXAMPLES, read_pairs, read_triplets, split
from tests.support.media import photo, photo_image

TOPICS = [
    ("the forklift lowers its load by itself", "hydraulic seals of the lift truck were worn and replaced"),
    ("a dessert set only by lemon juice", "lemon posset: cream, sugar and citrus, chilled overnight"),
    ("the boiler loses pressure every night", "the heating circuit leaks at a valve; it was refilled and fixed"),
    ("a bird with a red breast in the garden", "a robin was seen at the feeder on Tuesday morning"),
    ("when does the ferry leave the harbour", "the boat sails at seven every morning from pier two"),
    ("invoice still unpaid after two months", "payment reminder: the amount due is overdue since March"),
    ("how to prune roses in spring", "cut the rose stems back to an outward bud before new growth"),
    ("a flat with a balcony near the station", "two-room apartment, terrace, five minutes from the railway"),
    ("the server room is too warm", "air conditioning failed in the data centre; temperature rising"),
    ("a painting of a stormy sea", "oil on canvas: waves breaking over a ship in a gale"),
    ("new release fixes a crash on start", "version 2.4 corrects the start-up failure seen on some machines"),
    ("the staff canteen closes early on Friday", "notice: lunch service ends at one o'clock on Fridays"),
]


def triplet_lines(count: int, *, negatives: bool) -> list[dict[str, Any]]:
    lines = []
    for index in range(count):
        anchor, positive = TOPICS[index % len(TOPICS)]
        line: dict[str, Any] = {"anchor": f"{anchor} ({index})", "positive": f"{positive} [{index}]"}
        if negatives:
            line["negative"] = TOPICS[(index + 5) % len(TOPICS)][1]
        lines.append(line)
    return lines


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.fixture
def settings(minilm: Path, tiny_clip: Path) -> Settings:
    return Settings(models={"text": str(minilm), "vision": str(tiny_clip), "device": "cpu", "threads": 1})


FAST = Options(epochs=1, batch_size=8, validation=0.2)


def test_triplets_tune_the_text_model_into_a_directory_sentence_transformers_loads(
    settings: Settings, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    triplets = write(tmp_path / "triplets.jsonl", triplet_lines(24, negatives=True))
    steps: list[tuple[int, int]] = []

    report = finetune_text(
        triplets,
        tmp_path / "tuned",
        settings,
        options=FAST,
        progress=lambda done, total, _: steps.append((done, total)),
    )

    assert report["loss"].startswith("TripletLoss")
    assert report["examples"] == {"train": 19, "validation": 5, "mined": 0}
    assert report["model"] == settings.models.text and report["out"] == str(tmp_path / "tuned")
    assert steps[-1] == (3, 3)  # 19 examples in batches of 8, one epoch
    for when in ("before", "after"):
        figures = report["validation"][when]
        assert figures["queries"] == 5
        assert 0 <= figures["ndcg@10"] <= 1 and 0 <= figures["triplet accuracy"] <= 1
    assert report["eval"] is None
    tuned = SentenceTransformer(str(tmp_path / "tuned"), device="cpu")
    vectors = tuned.encode(["a dessert set only by lemon juice", "the boat sails at seven"])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()


def test_pairs_without_negatives_train_with_in_batch_negatives(settings: Settings, tmp_path: Path) -> None:
    pairs = write(tmp_path / "pairs.jsonl", triplet_lines(12, negatives=False))

    report = finetune_text(pairs, tmp_path / "tuned", settings, options=FAST)

    assert report["loss"].startswith("MultipleNegativesRankingLoss")
    assert "triplet accuracy" not in report["validation"]["after"]
    assert (tmp_path / "tuned" / "modules.json").is_file()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"anchor": "a", "positive": "b"}', '{"anchor": "c", "positive": "d"}', "{not json"], "line 3: not JSON"),
        (['{"anchor": "a", "positive": "b"}', '{"anchor": "c"}'], 'line 2: no "positive"'),
        (['{"anchor": "a", "positive": 7}'], 'line 1: "positive" must be words'),
        (['["anchor", "positive"]'], "line 1: not a JSON object"),
        (
            ['{"anchor": "a", "positive": "b", "negative": "x"}', *(['{"anchor": "c", "positive": "d"}'] * 4)],
            'line 2: no "negative", but line 1 has one',
        ),
        (['{"anchor": "a", "positive": "b"}'] * (MIN_EXAMPLES - 1), f"give at least {MIN_EXAMPLES}"),
    ],
)
def test_a_malformed_triplets_file_is_refused_naming_the_line(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        read_triplets(write(tmp_path / "triplets.jsonl", lines))


def test_the_output_must_be_new_and_the_model_must_load(settings: Settings, tmp_path: Path) -> None:
    triplets = write(tmp_path / "triplets.jsonl", triplet_lines(8, negatives=False))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")

    with pytest.raises(PermanentError, match=r"--out .*taken exists and is not empty"):
        finetune_text(triplets, tmp_path / "taken", settings, options=FAST)
    with pytest.raises(ModelUnavailable, match=r"cannot be loaded .*--model"):
        finetune_text(triplets, tmp_path / "new", settings, model=str(tmp_path / "no-model"), options=FAST)
    with pytest.raises(ModelUnavailable, match="cannot encode images; --model must name a CLIP model"):
        pairs = write(tmp_path / "pairs.jsonl", [{"image": "p.jpg", "caption": f"c{i}"} for i in range(4)])
        photo(tmp_path / "p.jpg", seed=1)
        finetune_vision(pairs, tmp_path / "new", settings, model=settings.models.text, options=FAST)
    assert not (tmp_path / "new").exists()


def test_the_validation_share_is_held_out_and_at_least_one(tmp_path: Path) -> None:
    training, validation = split(list(range(10)), 0.1)
    assert len(validation) == 1 and sorted(training + validation) == list(range(10))
    assert split(list(range(10)), 0.1) == (training, validation)  # the same every run
    assert len(split(list(range(40)), 0.25)[1]) == 10
    with pytest.raises(PermanentError, match="between 0 and 1"):
        split(list(range(10)), 1.0)


def test_image_caption_pairs_tune_the_clip_model(settings: Settings, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    lines = [{"image": f"photos/{i}.jpg", "caption": f"photo number {i}"} for i in range(6)]
    for i in range(6):
        photo(tmp_path / "set" / "photos" / f"{i}.jpg", seed=i, size=(320, 240))
    pairs = write(tmp_path / "set" / "pairs.jsonl", lines)

    report = finetune_vision(pairs, tmp_path / "tuned", settings, options=Options(epochs=2, batch_size=3))

    assert report["space"] == "vision" and report["model"] == settings.models.vision
    assert report["loss"].startswith("MultipleNegativesRankingLoss, symmetric")
    assert report["examples"] == {"train": 5, "validation": 1}
    assert report["augmentation"]["flip"] == 0.5
    assert set(report["validation"]["after"]) >= {"recall@1", "ndcg@10"}
    tuned = SentenceTransformer(str(tmp_path / "tuned"), device="cpu")
    assert tuned.encode([photo_image(9, (64, 64))]).shape == (1, 32)
    assert tuned.encode(["photo number 1"]).shape == (1, 32)


def test_a_pairs_file_with_a_missing_or_unreadable_image_is_refused_naming_the_line(tmp_path: Path) -> None:
    photo(tmp_path / "a.jpg", seed=1)
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    lines = [{"image": "a.jpg", "caption": "a"}, {"image": "missing.jpg", "caption": "b"}]

    with pytest.raises(PermanentError, match=r"pairs.jsonl, line 2: image missing.jpg not found"):
        read_pairs(write(tmp_path / "pairs.jsonl", lines), max_pixels=10**8)
    lines[1] = {"image": "broken.jpg", "caption": "b"}
    with pytest.raises(PermanentError, match=r"line 2: image broken.jpg cannot be read \(not a readable image"):
        read_pairs(write(tmp_path / "pairs.jsonl", lines), max_pixels=10**8)
    with pytest.raises(PermanentError, match='line 1: no "caption"'):
        read_pairs(write(tmp_path / "pairs.jsonl", [{"image": "a.jpg"}]), max_pixels=10**8)


def test_augmentation_crops_flips_and_jitters_reproducibly() -> None:
    image = photo_image(3, (200, 120))
    augment = Augmentation()

    first = [augment(image, random.Random(seed)) for seed in range(4)]
    again = [augment(image, random.Random(seed)) for seed in range(4)]

    assert all(changed.size == (120, 120) and changed.mode == "RGB" for changed in first)
    assert [np.asarray(a).tobytes() for a in first] == [np.asarray(b).tobytes() for b in again]
    assert len({np.asarray(changed).tobytes() for changed in first}) == 4  # each draw differs
    same = Augmentation.none()(image, random.Random(0))
    assert np.array_equal(np.asarray(same), np.asarray(image))
    mirror = Augmentation((1.0, 1.0), (1.0, 1.0), flip=1.0, brightness=0, contrast=0, saturation=0, hue=0)
    assert np.array_equal(np.asarray(mirror(image, random.Random(0))), np.asarray(image)[:, ::-1])


def test_the_augmentation_is_the_one_the_settings_describe() -> None:
    settings = Settings(finetune={"crop_min": 0.8, "flip": 0.0, "jitter": 0.1, "hue": 0.0})

    augment = Augmentation.from_settings(settings)

    assert (augment.crop_scale, augment.flip, augment.hue) == ((0.8, 1.0), 0.0, 0.0)
    assert augment.brightness == augment.contrast == augment.saturation == 0.1
