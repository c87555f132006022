"""Media made here for the tests and the benchmarks: photo-like JPEGs, slides, videos and recordings made by the
real ffmpeg, scanned PDFs (page pictures without a text layer), and the committed spoken sentences."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.media.ffmpeg import ffmpeg_exe

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
"""Short spoken English sentences (see make.sh there for what they say)."""


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg mmindex itself uses, quietly; raise with its last error lines when it fails.

    The output (the last argument) may be in a folder that does not exist yet.
    """
    Path(args[-1]).parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr[-2000:]}")


# ---------------------------------------------------------------- photos


def photo_image(seed: int, size: tuple[int, int] = (640, 480), noise: float = 0.0) -> Image.Image:
    """A photo-like image: a gradient background with shapes, different for every seed; with sensor-like
    Gaussian noise of standard deviation `noise` (in 8-bit levels) when it is above 0."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image, tint, 0.6)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(20, 160)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    if noise > 0:
        grain = np.random.default_rng(seed).normal(0, noise, (size[1], size[0], 3))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8), "RGB")
    return image


def photo(path: Path, seed: int, size: tuple[int, int] = (640, 480), noise: float = 0.0) -> Path:
    """`photo_image` saved at `path` (a JPEG of quality 90 for a .jpg), its folder made if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    photo_image(seed, size, noise).save(path, quality=90)
    return path


def photo_bytes(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """`photo_image` as the bytes of a JPEG (quality 90), to upload."""
    buffer = io.BytesIO()
    photo_image(seed, size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def near_copy(source: Path, target: Path) -> Path:
    """The same photo, resized and re-encoded: what a user searches with to find the original."""
    with Image.open(source) as image:
        image.resize((image.width // 2, image.height // 2)).save(target, quality=60)
    return target


# ---------------------------------------------------------------- video and sound


def slideshow(photos: list[Path], seconds: float, target: Path, size: str = "320x240", sound: bool = True) -> Path:
    """An H.264 video showing each photo for `seconds`, in order, with a quiet tone as its sound track (none
    without `sound`)."""
    inputs: list[str] = []
    for path in photos:
        inputs += ["-loop", "1", "-t", str(seconds), "-i", str(path)]
    chain = "".join(f"[{i}:v]scale={size},setsar=1,fps=10[v{i}];" for i in range(len(photos)))
    chain += "".join(f"[v{i}]" for i in range(len(photos))) + f"concat=n={len(photos)}:v=1:a=0[out]"
    total = seconds * len(photos)
    tone = ("-f", "lavfi", "-t", str(total), "-i", "sine=frequency=220:sample_rate=16000") if sound else ()
    ffmpeg(
        *inputs,
        *tone,
        *("-filter_complex", chain, "-map", "[out]", *(("-map", f"{len(photos)}:a") if sound else ())),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *(("-c:a", "aac", "-shortest") if sound else ()),
        str(target),
    )
    return target


def recording(target: Path, length_s: float, spoken: dict[float, Path]) -> Path:
    """A mono recording of `length_s` seconds: silence, with each clip of `spoken` starting at its offset."""
    inputs: list[str] = ["-f", "lavfi", "-t", str(length_s), "-i", "anullsrc=channel_layout=mono:sample_rate=16000"]
    chain = ""
    for number, (offset, clip) in enumerate(spoken.items(), start=1):
        inputs += ["-i", str(clip)]
        chain += f"[{number}:a]aresample=16000,adelay={int(offset * 1000)}:all=1[s{number}];"
    chain += "[0:a]" + "".join(f"[s{n}]" for n in range(1, len(spoken) + 1))
    chain += f"amix=inputs={len(spoken) + 1}:duration=first:normalize=0[out]"
    ffmpeg(*inputs, "-filter_complex", chain, "-map", "[out]", "-ac", "1", str(target))
    return target


def receipt(path: Path, lines: list[str], size: tuple[int, int] = (720, 900), font_px: int = 30) -> Path:
    """A photographed-looking receipt: `lines` of dark text on off-white paper, in Pillow's own font (no system
    fonts needed), saved as a JPEG."""
    image = Image.new("RGB", size, (250, 248, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_px)
    for number, line in enumerate(lines):
        draw.text((50, 50 + number * round(font_px * 2.3)), line, fill=(20, 20, 20), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=80)
    return path


def slide(path: Path, title: str, lines: list[str]) -> Path:
    """A presentation slide: a large title and a few lines of words, in Pillow's own font (no system fonts)."""
    image = Image.new("RGB", (1280, 720), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.text((80, 80), title, fill=(10, 10, 60), font=ImageFont.load_default(size=72))
    for number, line in enumerate(lines):
        draw.text((80, 240 + number * 60), line, fill=(30, 30, 30), font=ImageFont.load_default(size=36))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


# ---------------------------------------------------------------- scanned documents


def scan(*paragraphs: str, height: int | None = None) -> Image.Image:
    """A page of printed lines, a paragraph's lines close together and a wide gap between paragraphs; 800 pixels
    wide and just tall enough, or `height` tall (a whole page with the lines at its top)."""
    font = ImageFont.load_default(size=28)
    page = Image.new("L", (800, height or 120 + 90 * len(paragraphs)), 255)
    draw = ImageDraw.Draw(page)
    for number, paragraph in enumerate(paragraphs):
        draw.text((50, 60 + 90 * number), paragraph, font=font, fill=0)
    return page


def scanned_pdf(path: Path, *pages: Image.Image) -> Path:
    """A PDF of page pictures (one pixel a point) and nothing else: no text layer."""
    first, *rest = pages
    path.parent.mkdir(parents=True, exist_ok=True)
    first.save(path, save_all=True, append_images=rest, resolution=72.0)
    return path
