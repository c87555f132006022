"""Fine-tuning a space's model on examples of one's own: `mmindex finetune text|vision`.

The base model is loaded as sentence-transformers loads it and trained with sentence-transformers' losses:
`TripletLoss` (cosine distance) on triplets, `MultipleNegativesRankingLoss` with in-batch negatives on pairs, and for
CLIP the same loss both ways (image → caption and caption → image: CLIP's symmetric contrastive loss) on augmented
images. The loop is our own, a few lines (AdamW, linear warm-up and decay, clipped gradients): sentence-transformers'
trainer needs `datasets` and `accelerate`, which mmindex does not install. The result is a sentence-transformers
model directory, which `SentenceTransformer(DIR)` loads and `mmindex reindex SPACE --model DIR` takes.

A share of the examples is held out and the model measured on it before and after (`validation`); with a query
file, also on the documents the index holds (`eval`, see `shared.models.finetune_eval`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.documents import Space
from shared.errors import ModelUnavailable, PermanentError
from shared.models import check_loadable, hub_offline, model_setting
from shared.models.augment import Augmentation
from shared.models.finetune_data import Pair, Triplet, mine_negatives, read_pairs, read_triplets, split
from shared.models.finetune_eval import IndexEval, index_eval, retrieval, triplet_accuracy
from shared.models.sentence import cap_sequence_length, resolve_device, why

Progress = Callable[[int, int, float], None]
"""Told after each training step: steps done, steps in all, the step's loss."""


@dataclass(frozen=True)
class Options:
    """How to train."""

    epochs: int = 1
    batch_size: int = 16
    learning_rate: float | None = None  # None: 2e-5 for text models, 1e-5 for CLIP
    validation: float = 0.1  # the share of the examples held out
    warmup: float = 0.1  # the share of the steps the learning rate rises over
    seed: int = 0


def check_out(out: Path) -> None:
    """Refuse an output folder that exists and holds anything (or is not a folder)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PermanentError(f"--out {out} exists and is not empty; name a new or empty folder")


def load_base(name: str, setting: str, device: str, threads: int, *, images: bool = False) -> Any:
    """The model to fine-tune, as sentence-transformers loads it, on `device`; ModelUnavailable naming `setting`
    (the option or the setting that named it) when it cannot load, or cannot encode images when `images`."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    resolved = resolve_device(device)
    if resolved == "cpu":
        torch.set_num_threads(threads)
    cache_only = check_loadable(name, setting)
    with hub_offline(cache_only):
        try:
            model = SentenceTransformer(name, device=resolved)
        except Exception as error:  # any loader failure: missing files, no hub, bad config
            raise ModelUnavailable(
                f"model {name!r} cannot be loaded ({why(name, error)}); {setting} must name a sentence-transformers"
                " model (a local directory, or a hub name when a hub answers)"
            ) from error
    if images and "image" not in [str(modality) for modality in getattr(model, "modalities", ["text"])]:
        raise ModelUnavailable(f"model {name!r} cannot encode images; {setting} must name a CLIP model")
    cap_sequence_length(model)
    model.eval()
    return model


def batches(keys: Sequence[frozenset[str]], size: int, rng: random.Random) -> list[list[int]]:
    """The examples (by index) in shuffled batches of `size` in which no two share an input (`keys`): a duplicate
    would be taken for an in-batch negative of itself."""
    order = list(range(len(keys)))
    rng.shuffle(order)
    planned: list[list[int]] = []
    while order:
        batch: list[int] = []
        seen: set[str] = set()
        rest = []
        for index in order:
            if len(batch) < size and not keys[index] & seen:
                batch.append(index)
                seen |= keys[index]
            else:
                rest.append(index)
        planned.append(batch)
        order = rest
    return planned


def fit(
    model: Any,
    loss: Any,
    *,
    plan: list[list[list[int]]],
    columns: Callable[[list[int], int], list[list[Any]]],
    options: Options,
    learning_rate: float,
    progress: Progress | None,
) -> float:
    """Train `model` through `loss`, epoch by epoch over the planned batches, each turned into its input columns
    (`columns(batch, epoch)`: anchors, positives, negatives, or images and captions); return the seconds it took."""
    import torch

    torch.manual_seed(options.seed)
    device = model.device
    total = sum(len(epoch) for epoch in plan)
    warmup = max(1, math.ceil(total * options.warmup))
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    started = time.monotonic()
    model.train()
    done = 0
    try:
        for epoch, planned in enumerate(plan):
            for batch in planned:
                features = []
                for column in columns(batch, epoch):
                    prepared = model.preprocess(column)
                    features.append(
                        {key: value.to(device) if hasattr(value, "to") else value for key, value in prepared.items()}
                    )
                value = loss(features, None)
                value.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                done += 1
                if progress is not None:
                    progress(done, total, float(value.detach()))
    finally:
        model.eval()
    return time.monotonic() - started


def _save(model: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))


def _setting(model: str | None, space: Space) -> str:
    return "--model" if model else f"{model_setting(space)} (or --model)"


def _prepare_eval(eval_file: Path | None, space: Space, settings: Settings) -> IndexEval | None:
    if eval_file is None:
        return None
    from shared.runtime import get_runtime

    return index_eval(eval_file, space, get_runtime(), max_pixels=settings.image.max_pixels)


def finetune_text(
    triplets_file: Path,
    out: Path,
    settings: Settings,
    *,
    model: str | None = None,
    options: Options | None = None,
    eval_file: Path | None = None,
    mine: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fine-tune a text model on the triplets (or pairs) of `triplets_file`, save it in `out` and report what was
    trained and how it measured before and after."""
    options = options or Options()
    check_out(out)
    triplets = read_triplets(triplets_file, mine=mine)
    evaluation = _prepare_eval(eval_file, Space.TEXT, settings)
    name = model or settings.models.text
    base = load_base(name, _setting(model, Space.TEXT), settings.models.device, settings.torch_threads())
    mined = 0
    if mine:
        from shared.runtime import get_runtime

        triplets, mined = mine_negatives(triplets, get_runtime())
    training, validation = split(triplets, options.validation, options.seed)
    with_negatives = all(triplet.negative is not None for triplet in triplets)
    corpus = list(dict.fromkeys([t.positive for t in triplets] + [t.negative for t in triplets if t.negative]))
    position = {text: index for index, text in enumerate(corpus)}

    def measure() -> dict[str, Any]:
        figures = retrieval(base, [t.anchor for t in validation], corpus, [position[t.positive] for t in validation])
        if with_negatives:
            figures["triplet accuracy"] = triplet_accuracy(base, validation)
        return figures

    before = measure()
    eval_before = evaluation.measure(base) if evaluation else None

    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
        TripletDistanceMetric,
        TripletLoss,
    )

    if with_negatives:
        loss = TripletLoss(base, distance_metric=TripletDistanceMetric.COSINE, triplet_margin=0.3)
        loss_name = "TripletLoss (cosine distance, margin 0.3)"
    else:
        loss = MultipleNegativesRankingLoss(base)
        loss_name = "MultipleNegativesRankingLoss (in-batch negatives)"
    rng = random.Random(options.seed)
    keys = [frozenset({t.anchor, t.positive}) for t in training]
    plan = [batches(keys, options.batch_size, rng) for _ in range(options.epochs)]

    def columns(batch: list[int], epoch: int) -> list[list[Any]]:
        chosen: list[Triplet] = [training[index] for index in batch]
        found = [[t.anchor for t in chosen], [t.positive for t in chosen]]
        return [*found, [t.negative for t in chosen]] if with_negatives else found

    learning_rate = options.learning_rate or 2e-5
    seconds = fit(
        base, loss, plan=plan, columns=columns, options=options, learning_rate=learning_rate, progress=progress
    )
    after = measure()
    report = _report(
        Space.TEXT,
        name=name,
        out=out,
        options=options,
        learning_rate=learning_rate,
        loss=loss_name,
        device=str(base.device),
        seconds=seconds,
        examples=(len(training), len(validation)),
    )
    report["examples"]["mined"] = mined
    report["validation"] = {
        "measured": (
            f"each held-out anchor ranks the {len(corpus)} distinct positives and negatives of the file"
            " (its own positive is the answer)"
            + (
                "; triplet accuracy: the share of held-out anchors nearer their positive than their negative"
                if with_negatives
                else ""
            )
        ),
        "before": before,
        "after": after,
    }
    _save(base, out)
    report["eval"] = (
        evaluation.report(eval_before, evaluation.measure(base))
        if evaluation is not None and eval_before is not None
        else None
    )
    return report


def finetune_vision(
    pairs_file: Path,
    out: Path,
    settings: Settings,
    *,
    model: str | None = None,
    options: Options | None = None,
    eval_file: Path | None = None,
    augmentation: Augmentation | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fine-tune a CLIP model on the image-caption pairs of `pairs_file` with CLIP's contrastive loss, the images
    augmented (`augmentation`, by default `Augmentation()`), save it in `out` and report as `finetune_text`."""
    options = options or Options()
    augmentation = augmentation or Augmentation()
    check_out(out)
    pairs, images = read_pairs(pairs_file, max_pixels=settings.image.max_pixels)
    evaluation = _prepare_eval(eval_file, Space.VISION, settings)
    name = model or settings.models.vision
    base = load_base(name, _setting(model, Space.VISION), settings.models.device, settings.torch_threads(), images=True)
    training, validation = split(pairs, options.validation, options.seed)
    corpus = list(images)
    position = {path: index for index, path in enumerate(corpus)}

    def measure() -> dict[str, Any]:
        return retrieval(
            base,
            [pair.caption for pair in validation],
            [images[path] for path in corpus],
            [position[pair.image] for pair in validation],
        )

    before = measure()
    eval_before = evaluation.measure(base) if evaluation else None

    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    loss = MultipleNegativesRankingLoss(
        base, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    )
    loss_name = "MultipleNegativesRankingLoss, symmetric (image to caption and caption to image, in-batch negatives)"
    rng = random.Random(options.seed)
    keys = [frozenset({str(pair.image), pair.caption}) for pair in training]
    plan = [batches(keys, options.batch_size, rng) for _ in range(options.epochs)]

    def columns(batch: list[int], epoch: int) -> list[list[Any]]:
        looks = random.Random(options.seed * 1_000_003 + epoch * 10_007 + batch[0])
        chosen: list[Pair] = [training[index] for index in batch]
        return [[augmentation(images[pair.image], looks) for pair in chosen], [pair.caption for pair in chosen]]

    learning_rate = options.learning_rate or 1e-5
    seconds = fit(
        base, loss, plan=plan, columns=columns, options=options, learning_rate=learning_rate, progress=progress
    )
    after = measure()
    report = _report(
        Space.VISION,
        name=name,
        out=out,
        options=options,
        learning_rate=learning_rate,
        loss=loss_name,
        device=str(base.device),
        seconds=seconds,
        examples=(len(training), len(validation)),
    )
    report["augmentation"] = asdict(augmentation)
    report["validation"] = {
        "measured": f"each held-out caption ranks the {len(corpus)} images of the file (its own image is the answer)",
        "before": before,
        "after": after,
    }
    _save(base, out)
    report["eval"] = (
        evaluation.report(eval_before, evaluation.measure(base))
        if evaluation is not None and eval_before is not None
        else None
    )
    return report


def _report(
    space: Space,
    *,
    name: str,
    out: Path,
    options: Options,
    learning_rate: float,
    loss: str,
    device: str,
    seconds: float,
    examples: tuple[int, int],
) -> dict[str, Any]:
    return {
        "space": space.value,
        "model": name,
        "out": str(out),
        "examples": {"train": examples[0], "validation": examples[1]},
        "loss": loss,
        "epochs": options.epochs,
        "batch_size": options.batch_size,
        "learning_rate": learning_rate,
        "device": device,
        "train_seconds": round(seconds, 1),
    }
