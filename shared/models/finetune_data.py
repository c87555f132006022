"""What fine-tuning learns from: the training files read and checked line by line, the validation share split off,
and hard negatives mined from the index.

A text file (JSON Lines) holds `{"anchor": words, "positive": words, "negative": words?}` a line: the anchor should
come nearer its positive than its negative (or than the other examples' positives, when no line has a negative).
A vision file holds `{"image": path, "caption": words}` a line, the path relative to the file's folder. A file is
refused at its first malformed line, naming it and what is wrong.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from shared.documents import Space
from shared.errors import MmindexError, PermanentError, one_line
from shared.media.image import open_rgb

if TYPE_CHECKING:
    from shared.runtime import Runtime

MIN_EXAMPLES = 4
"""The fewest lines a training file may hold: at least two to train on (an in-batch negative needs a second
example), and one to validate on."""
IMAGE_SIDE = 256
"""The shorter side training images are kept at: room for a random crop before the model's processor shrinks it
(224 px for CLIP ViT-B/32)."""
MINE_DEPTH = 10
"""Hits of the index a hard negative is looked for in."""


@dataclass(frozen=True)
class Triplet:
    line: int
    anchor: str
    positive: str
    negative: str | None = None


@dataclass(frozen=True)
class Pair:
    line: int
    image: Path
    caption: str


def _lines(path: Path, what: str) -> list[tuple[int, str, dict[str, Any]]]:
    """The file's lines as JSON objects, with their numbers and where they are (for messages)."""
    if not path.is_file():
        raise PermanentError(f"{path}: no such file; give the {what} file, one JSON object a line")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise PermanentError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(entry, dict):
            raise PermanentError(f"{where}: not a JSON object")
        entries.append((number, where, entry))
    return entries


def _words(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if value is None:
        raise PermanentError(f'{where}: no "{key}"')
    if not isinstance(value, str) or not value.strip():
        raise PermanentError(f'{where}: "{key}" must be words (a non-empty string)')
    return value


def _enough(count: int, path: Path, what: str) -> None:
    if count < MIN_EXAMPLES:
        raise PermanentError(
            f"{path}: {count} {what}, too few to fine-tune on; give at least {MIN_EXAMPLES}"
            " (some to train on, at least one to validate on)"
        )


def read_triplets(path: Path, *, mine: bool = False) -> list[Triplet]:
    """The triplets of a JSON Lines file. Either every line has a "negative" or none has, unless the missing ones
    are to be mined (`mine`)."""
    triplets = []
    for number, where, entry in _lines(path, "triplets"):
        anchor, positive = _words(entry, "anchor", where), _words(entry, "positive", where)
        negative = None if entry.get("negative") is None else _words(entry, "negative", where)
        triplets.append(Triplet(number, anchor, positive, negative))
    _enough(len(triplets), path, "triplets")
    given = [triplet for triplet in triplets if triplet.negative is not None]
    if given and len(given) < len(triplets) and not mine:
        lacking = next(triplet for triplet in triplets if triplet.negative is None)
        raise PermanentError(
            f'{path}, line {lacking.line}: no "negative", but line {given[0].line} has one; give every line a'
            " negative (triplet loss) or none (in-batch negatives), or add --mine to mine the missing ones"
        )
    return triplets


def load_image(path: Path, *, max_pixels: int) -> Image.Image:
    """An image to train on: upright RGB, its shorter side at most IMAGE_SIDE."""
    image = open_rgb(path, max_pixels=max_pixels, min_side=IMAGE_SIDE)
    scale = IMAGE_SIDE / min(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    return image


def read_pairs(path: Path, *, max_pixels: int) -> tuple[list[Pair], dict[Path, Image.Image]]:
    """The image-caption pairs of a JSON Lines file, and their images, each read once (kept in memory at
    IMAGE_SIDE: about 0.2 MB an image). An image that is missing or cannot be read is refused, naming its line."""
    pairs = []
    images: dict[Path, Image.Image] = {}
    for number, where, entry in _lines(path, "image-caption pairs"):
        name, caption = _words(entry, "image", where), _words(entry, "caption", where)
        image = (path.parent / name).expanduser()
        if image not in images:
            if not image.is_file():
                raise PermanentError(f"{where}: image {name} not found (paths are relative to {path.parent})")
            try:
                images[image] = load_image(image, max_pixels=max_pixels)
            except MmindexError as error:
                raise PermanentError(f"{where}: image {name} cannot be read ({one_line(error)})") from None
        pairs.append(Pair(number, image, caption))
    _enough(len(pairs), path, "pairs")
    return pairs, images


Example = TypeVar("Example")


def split(examples: Sequence[Example], share: float, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(training, validation): a shuffled `share` of the examples, at least one, held out; at least two left to
    train on."""
    if not 0 < share < 1:
        raise PermanentError(f"--validation {share}: the validation share must be between 0 and 1 (e.g. 0.1)")
    order = list(examples)
    random.Random(seed).shuffle(order)
    held = min(max(1, round(len(order) * share)), len(order) - 2)
    if held < 1:
        raise PermanentError(f"{len(order)} examples are too few to split; give at least {MIN_EXAMPLES}")
    return order[held:], order[:held]


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def mine_negatives(triplets: Sequence[Triplet], runtime: Runtime) -> tuple[list[Triplet], int]:
    """The triplets, each without a negative given one mined from the index: the best-ranked of the first
    MINE_DEPTH hits of its anchor in the `text` space's serving generation (the anchor encoded by that generation's
    model) whose words are not its positive's, nor part of them. An anchor whose hits offer none gets another
    example's positive. Returns the triplets and how many negatives were mined."""
    lacking = [triplet for triplet in triplets if triplet.negative is None]
    if not lacking:
        return list(triplets), 0
    store = runtime.store
    serving = store.lineage(Space.TEXT.value).serving
    if serving is None or store.count(Space.TEXT.value) == 0:
        raise PermanentError(
            "--mine: the index's text space holds no documents to mine negatives from; ingest documents first,"
            " or give every line a negative"
        )
    encoder = runtime.encoder(Space.TEXT, runtime.model_for(Space.TEXT, serving))
    vectors = encoder.encode_texts([triplet.anchor for triplet in lacking])
    mined: dict[int, str] = {}
    for triplet, vector in zip(lacking, vectors, strict=True):
        positive = _plain(triplet.positive)
        for hit in store.search(Space.TEXT.value, vector.tolist(), MINE_DEPTH, None, serving.number):
            words = _plain(hit.text or "")
            if words and words != _plain(triplet.anchor) and words not in positive and positive not in words:
                mined[triplet.line] = hit.text or ""
                break
    positives = [triplet.positive for triplet in triplets]
    if len({_plain(text) for text in positives}) < 2:
        raise PermanentError("--mine: every example has the same positive; no negative can be found")
    rng = random.Random(0)
    completed = []
    for triplet in triplets:
        negative = triplet.negative or mined.get(triplet.line)
        while negative is None or _plain(negative) == _plain(triplet.positive):
            negative = rng.choice(positives)
        completed.append(replace(triplet, negative=negative))
    return completed, len(mined)
