"""Image augmentation for fine-tuning a CLIP model, in Pillow: a random resized crop, a horizontal flip and colour
jitter (brightness, contrast, saturation, hue), each drawn from a `random.Random` so that a run can be repeated.

The crop comes out square, so that the model's processor (which resizes the shorter side and crops the centre)
sees all of it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from shared.config import Settings


@dataclass(frozen=True)
class Augmentation:
    """How far each change may go; `none()` changes nothing."""

    crop_scale: tuple[float, float] = (0.6, 1.0)  # the share of the image's area a crop keeps
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # a crop's width / height
    flip: float = 0.5  # the chance of a horizontal flip
    brightness: float = 0.3  # factors drawn from [1 - x, 1 + x]
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03  # a shift of the hue, as a share of the colour circle, drawn from [-x, x]

    @classmethod
    def none(cls) -> Augmentation:
        return cls((1.0, 1.0), (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Augmentation:
        """The augmentation `MMINDEX_FINETUNE__*` describe."""
        tuning = settings.finetune
        jitter = tuning.jitter
        return cls(
            (tuning.crop_min, 1.0),
            flip=tuning.flip,
            brightness=jitter,
            contrast=jitter,
            saturation=jitter,
            hue=tuning.hue,
        )

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """A changed copy of an RGB image."""
        image = self.crop(image, rng)
        if rng.random() < self.flip:
            image = ImageOps.mirror(image)
        return self.jitter(image, rng)

    def crop(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """A random region of the image (its share of the area and its aspect drawn from the ranges), resized to a
        square as wide as the image's shorter side; the centre square when no draw fits."""
        width, height = image.size
        side = min(width, height)
        if self.crop_scale == (1.0, 1.0) and self.crop_ratio == (1.0, 1.0):
            return image
        area = width * height
        for _ in range(10):
            target = area * rng.uniform(*self.crop_scale)
            ratio = math.exp(rng.uniform(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])))
            w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
            if 0 < w <= width and 0 < h <= height:
                left, top = rng.randint(0, width - w), rng.randint(0, height - h)
                return image.resize((side, side), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h))
        left, top = (width - side) // 2, (height - side) // 2
        return image.crop((left, top, left + side, top + side))

    def jitter(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """Brightness, contrast, saturation and hue changed by random amounts, in a random order."""
        changes = [
            (ImageEnhance.Brightness, self.brightness),
            (ImageEnhance.Contrast, self.contrast),
            (ImageEnhance.Color, self.saturation),
            (None, self.hue),
        ]
        rng.shuffle(changes)
        for enhancer, amount in changes:
            if amount <= 0:
                continue
            if enhancer is None:
                image = shift_hue(image, rng.uniform(-amount, amount))
            else:
                image = enhancer(image).enhance(rng.uniform(max(0.0, 1 - amount), 1 + amount))
        return image


def shift_hue(image: Image.Image, share: float) -> Image.Image:
    """The image with its hues turned by `share` of the colour circle."""
    hsv = np.array(image.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(share * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")
