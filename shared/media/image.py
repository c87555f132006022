"""Images through Pillow: orientation, colour mode, size limits, thumbnails."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import CorruptMedia, TooLarge


def use_own_pixel_limit() -> None:
    """Turn Pillow's own decompression-bomb check off in this process (idempotent): `open_rgb` checks an image's
    pixels against MMINDEX_IMAGE__MAX_PIXELS, a setting and an error, where Pillow's is a fixed limit that warns
    (and refuses at twice it). Pillow reads its limit from a global, for every image any thread opens, so the
    check is turned off for the whole process, once an image is opened here: importing this module changes
    nothing."""
    Image.MAX_IMAGE_PIXELS = None


def open_rgb(path: Path, *, max_pixels: int, min_side: int, max_decoded_bytes: int | None = None) -> Image.Image:
    """Decode an image file to an upright RGB image whose shorter side is at least `min_side` (or all it has).

    JPEGs much larger than needed are decoded at reduced scale (Pillow's draft mode). The memory decoding takes
    is checked from the header, before any pixel is read: past `max_pixels` or `max_decoded_bytes` (the decoded
    pixels and their RGB copy, see `decoded_bytes`) it raises TooLarge naming the setting.
    """
    use_own_pixel_limit()
    # The file is ours to close, not Pillow's: the image decoded from it stays usable after, without a copy.
    try:
        file = path.open("rb")
    except OSError as error:
        raise CorruptMedia(f"cannot open image ({error})") from None
    with file:
        try:
            image = Image.open(file)
        except UnidentifiedImageError:
            raise CorruptMedia("not a readable image (the format is unknown or the header is damaged)") from None
        except OSError as error:
            raise CorruptMedia(f"cannot open image ({error})") from None
        return _decode(image, max_pixels=max_pixels, min_side=min_side, max_decoded_bytes=max_decoded_bytes)


def _decode(image: Image.Image, *, max_pixels: int, min_side: int, max_decoded_bytes: int | None) -> Image.Image:
    width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
            " (MMINDEX_IMAGE__MAX_PIXELS); possibly a decompression bomb"
        )
    scale = min_side / min(width, height)
    if image.format == "JPEG" and scale < 0.5:
        # Decode at 1/2, 1/4 or 1/8 scale in the JPEG decoder itself, never below what is needed.
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    needed = decoded_bytes(image.mode, image.size, transparent=_transparent(image), turned=_turned(image))
    if max_decoded_bytes is not None and needed > max_decoded_bytes:
        raise TooLarge(
            f"{width}x{height} {image.mode} image needs {_mib(needed)} MiB decoded, over the limit of"
            f" {_mib(max_decoded_bytes)} MiB (MMINDEX_IMAGE__MAX_DECODED_BYTES)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and palette-transparency notes are not failures
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # a copy only when it has to turn the picture
            return to_rgb(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise CorruptMedia(f"corrupt image data ({' '.join(str(error).split())})") from None


def decoded_bytes(mode: str, size: tuple[int, int], *, transparent: bool = False, turned: bool = False) -> int:
    """Memory an image of this mode and size takes at its peak while it is decoded, turned upright and converted.

    Its pixels as Pillow holds them (1 byte for 1, L and P, 2 for 16-bit grayscale, 4 for every other mode), plus
    the larger of what turning and converting hold beside them: `turned` (an EXIF orientation other than 1), a
    turned copy of the pixels; converting (`to_rgb`), the RGB result (4 bytes a pixel, none for an RGB image), the
    8-bit plane of a high-bit-depth image (1 byte), and the RGBA copy alpha is composited from (4 bytes) when the
    image has alpha in another mode than RGBA (LA, PA, ..., or a palette with transparency: `transparent`).
    """
    pixels = size[0] * size[1]
    deep = mode.startswith("I;16") or mode in {"I", "F"}
    held = 1 if mode in {"1", "L", "P"} else 2 if mode.startswith("I;16") else 4
    converted = 0 if mode == "RGB" else 4
    if deep:
        converted += 1
    if mode in _ALPHA_MODES - {"RGBA"} or (mode == "P" and transparent):
        converted += 4
    return pixels * (held + max(converted, held if turned else 0))


_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def _transparent(image: Image.Image) -> bool:
    """Whether a palette image has transparency to composite: a transparent index, or alpha in its palette."""
    palette = image.palette
    return "transparency" in image.info or (palette is not None and palette.mode == "RGBA")


def _turned(image: Image.Image) -> bool:
    """Whether the image's EXIF orientation asks for it to be turned or mirrored (a copy of its pixels)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):
        return False  # unreadable EXIF: exif_transpose cannot read it either, and leaves the image as it is
    return orientation in range(2, 9)


def _mib(size: int) -> str:
    return f"{size / 1024**2:.0f}"


_STRIP_PIXELS = 1 << 20
"""Pixels of a high-bit-depth image converted at a time: its float32 working copy stays at a few MB."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: alpha over white, CMYK and palettes converted, 16-bit scaled.

    Beyond the RGB result, a conversion holds at most one 8-bit plane or one RGBA copy of the image, and a strip
    of float32 values; never a full-size float copy.
    """
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        return _deep_to_gray(image, 255.0 / 65535.0).convert("RGB")
    if image.mode in {"I", "F"}:
        # 32-bit: 8-bit values stay, 16-bit ones are scaled down, anything wider by its maximum.
        top = _maximum(image)
        factor = 255.0 / (65535.0 if top <= 65535 else top) if top > 255 else 1.0
        return _deep_to_gray(image, factor).convert("RGB")
    if image.mode == "P":
        # Through RGBA only when there is transparency to composite: that copy is 4 bytes a pixel more.
        if not _transparent(image):
            return image.convert("RGB")
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba)  # the mask is the RGBA image's own alpha: no copy of the band
        return background
    return image.convert("RGB")


def _maximum(image: Image.Image) -> float:
    """The largest finite value of an I or F image (0 when there is none)."""
    top = 0.0
    for values in _strips(image):
        finite = values[np.isfinite(values)]
        if finite.size:
            top = max(top, float(finite.max()))
    return top


def _deep_to_gray(image: Image.Image, factor: float) -> Image.Image:
    """An I, I;16 or F image as 8-bit grayscale: values times `factor`, rounded, clipped to 0–255; NaN is 0."""
    gray = Image.new("L", image.size)
    top = 0
    for values in _strips(image):
        np.multiply(values, np.float32(factor), out=values)
        np.nan_to_num(values, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(values, 0, 255, out=values)
        strip = Image.fromarray(np.rint(values, out=values).astype(np.uint8), mode="L")
        gray.paste(strip, (0, top))
        top += strip.height
    return gray


def _strips(image: Image.Image) -> Iterator[np.ndarray]:
    """The image's values as float32 arrays of whole rows, `_STRIP_PIXELS` at a time, top to bottom."""
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(top + rows, height)))
        yield np.asarray(strip).astype(np.float32)


def thumbnail_jpeg(image: Image.Image, short_side: int) -> bytes:
    """A JPEG whose shorter side is `short_side` (never upscaled): the stored thumbnail and model input."""
    width, height = image.size
    scale = short_side / min(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
