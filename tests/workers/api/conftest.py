"""An embedded index of a small library (photos, a note, a slideshow video, a file that is not an image and a link
out of the folder), and the real `mmindex serve` on it.

`library` and `api` are built once for the package and shared: a test that uses them leaves the library's files
and index as it found them. A test that changes the index (submits sources) takes `own_library` and `own_api`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.api import Server, running_api
from tests.support.cli import Cli, mmindex_environment
from tests.support.media import photo, slideshow

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which the browser tests drive through Playwright."""
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


def build_library(root: Path, ingest: Callable[[Path], list[str]]) -> Library:
    """The library's files under `root`, ingested by `ingest` (which returns the uris indexed): five sources
    indexed, two failed."""
    folder = root / "library"
    photos = [photo(folder / "photos" / f"photo-{seed}.jpg", seed=seed) for seed in (1, 2, 3)]
    note = folder / "notes" / "harbour.txt"
    note.parent.mkdir(parents=True)
    note.write_text(NOTE)
    frames = [photo(root / "frames" / f"frame-{seed}.jpg", seed=seed) for seed in (7, 8)]
    video = slideshow(frames, 4.0, folder / "videos" / "slides.mp4")
    broken = folder / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    secret = root / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish\n")
    (folder / "leak.txt").symlink_to(secret)
    outside = root / "elsewhere.jpg"
    photo(outside, seed=9)
    indexed = ingest(folder)
    assert len(indexed) == 5, indexed
    return Library(folder, photos, note, video, broken, secret, outside)


@pytest.fixture(scope="package")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("library")


@pytest.fixture(scope="package")
def library_env(
    library_root: Path, tiny_clip: Path, minilm: Path, whisper: Path, s3_endpoint: str, aws_credentials: None
) -> dict[str, str]:
    """The environment of an embedded mmindex on the shared library's index."""
    return mmindex_environment(library_root / "home", tiny_clip, minilm, whisper, s3_endpoint)


@pytest.fixture(scope="package")
def library(library_root: Path, library_env: dict[str, str]) -> Library:
    """The library, ingested once for the package; its users must leave it as they found it."""
    cli = Cli(env=library_env, cwd=library_root)

    def ingest(folder: Path) -> list[str]:
        indexed: list[str] = json.loads(cli("ingest", str(folder), "--json").stdout)["indexed"]
        return indexed

    return build_library(library_root, ingest)


@pytest.fixture(scope="package")
def api(library_env: dict[str, str], library: Library, library_root: Path) -> Iterator[Server]:
    """`mmindex serve` in embedded mode on the shared library's index, no keys; for tests that only read."""
    with running_api(library_env, library_root / "logs" / "api.log") as server:
        yield server


@pytest.fixture
def own_library(tmp_path: Path, ingested: Callable[..., list[str]]) -> Library:
    """A library of the test's own, for a test that changes its index; ingested in this process, on the index of
    `mmindex_env` (the `embedded` fixture)."""
    return build_library(tmp_path, lambda folder: ingested(folder, failed=2))


@pytest.fixture
def own_api(mmindex_env: dict[str, str], own_library: Library, tmp_path: Path) -> Iterator[Server]:
    """`mmindex serve` in embedded mode on the test's own library, no keys."""
    with running_api(mmindex_env, tmp_path / "logs" / "api.log") as server:
        yield server


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, checked before anything is built: missing, the test fails at once and says why."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for this test", pytrace=False)
    return CHROMIUM
