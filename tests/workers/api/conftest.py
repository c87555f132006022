"""An embedded index of a small library (photos, a note, a slideshow video, a file that is not an image and a link
out of the folder), and the real `mmindex serve` on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.api import Server, running_api
from tests.support.cli import Cli
from tests.support.media import photo, slideshow

NOTE = "Minutes of the harbour committee: the ferry leaves the harbour at seven every morning from May.\n"


@dataclass
class Library:
    folder: Path
    photos: list[Path]
    note: Path
    video: Path
    broken: Path
    secret: Path
    outside: Path  # a file that exists, never ingested


@pytest.fixture
def library(tmp_path: Path, cli: Cli) -> Library:
    folder = tmp_path / "library"
    photos = [photo(folder / "photos" / f"photo-{seed}.jpg", seed=seed) for seed in (1, 2, 3)]
    note = folder / "notes" / "harbour.txt"
    note.parent.mkdir(parents=True)
    note.write_text(NOTE)
    frames = [photo(tmp_path / "frames" / f"frame-{seed}.jpg", seed=seed) for seed in (7, 8)]
    video = slideshow(frames, 4.0, folder / "videos" / "slides.mp4")
    broken = folder / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish\n")
    (folder / "leak.txt").symlink_to(secret)
    outside = tmp_path / "elsewhere.jpg"
    photo(outside, seed=9)
    result = cli("ingest", str(folder), "--json")
    report = json.loads(result.stdout)
    assert len(report["indexed"]) == 5, report
    return Library(folder, photos, note, video, broken, secret, outside)


@pytest.fixture
def api(mmindex_env: dict[str, str], library: Library, tmp_path: Path) -> Iterator[Server]:
    """`mmindex serve` in embedded mode on the library's index, no keys."""
    with running_api(mmindex_env, tmp_path / "logs" / "api.log") as server:
        yield server
