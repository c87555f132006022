"""Images through Pillow: orientation, colour mode, size limits, thumbnails."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import CorruptMedia, TooLarge

# Pillow's own bomb check is replaced by ours, which is a setting and an error, not a warning.
Image.MAX_IMAGE_PIXELS = None


def open_rgb(path: Path, *, max_pixels: int, min_side: int) -> Image.Image:
    """Decode an image file to an upright RGB image whose shorter side is at least `min_side` (or all it has).

    JPEGs much larger than needed are decoded at reduced scale (Pillow's draft mode).
    """
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise CorruptMedia("not a readable image (the format is unknown or the header is damaged)") from None
    except OSError as error:
        raise CorruptMedia(f"cannot open image ({error})") from None
    with image:
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
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # EXIF and palette-transparency notes are not failures
                image.load()
                upright = ImageOps.exif_transpose(image)
                return to_rgb(upright)
        except (OSError, ValueError, SyntaxError) as error:
            raise CorruptMedia(f"corrupt image data ({' '.join(str(error).split())})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: alpha over white, CMYK and palettes converted, 16-bit scaled."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)
        return Image.fromarray(values.round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode in {"I", "F"}:
        # 32-bit: 8-bit values stay, 16-bit ones are scaled down, anything wider by its maximum.
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) if values.size else 0.0
        if top > 255:
            values = values * (255.0 / (65535.0 if top <= 65535 else top))
        return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


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
