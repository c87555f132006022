"""The parity probe: fixed texts and pictures that an exported model must encode as torch does.

They are made here, not read from files, so that every machine checks its exports on the same inputs. The
pictures are drawn (gradients, shapes, noise) at several sizes and aspect ratios, so that the image processor's
resizing and cropping are part of what is checked; one text is longer than any model's limit, so that truncation
is too.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

TEXTS = (
    "a ferry leaves the harbour at seven in the morning",
    "how to prune roses in early spring",
    "whisk the eggs with sugar until pale",
    "rain over the hills tonight, clearing by dawn",
    "the invoice was paid on the third of March",
    "a red bicycle leaning against a brick wall",
    "Quarterly revenue grew 12% while costs fell",
    "dog",
    "two children flying a kite on a windy beach",
    "The committee will meet again after the summer recess to review the budget.",
    "error: connection refused (port 6379)",
    "snow-covered mountains under a clear blue sky",
    "Sie fahren morgen mit dem Zug nach Berlin.",
    "a bowl of ramen with a soft-boiled egg",
    "the speaker thanks everyone for coming",
    "1, 2, 3, 4: counting the boxes on the shelf",
    " ".join(["a long report about the harbour, the ferries and the weather"] * 40),
    "close-up of a cat's green eyes",
    "notes from the design review: ship the search page first",
    "sunset over a quiet lake with a wooden pier",
    "plum tart 3.80, rye loaf 4.25",
    "the drummer counts in the band",
    "a crowded market street at night",
)


def probe_texts() -> list[str]:
    """The probe's texts."""
    return list(TEXTS)


def probe_images(count: int = 16) -> list[Image.Image]:
    """The probe's pictures: `count` drawn pictures, the same on every machine."""
    generator = np.random.default_rng(18)
    sizes = [(320, 240), (240, 320), (224, 224), (640, 360), (96, 128), (500, 500)]
    images = []
    for n in range(count):
        width, height = sizes[n % len(sizes)]
        x = np.linspace(0, 1, width)[None, :, None]
        y = np.linspace(0, 1, height)[:, None, None]
        colours = generator.uniform(0, 255, size=(2, 3))
        field = colours[0] * (1 - x) * (1 - y) + colours[1] * x * y + generator.normal(0, 12, (height, width, 3))
        image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            box = sorted(generator.uniform(0, width, 2)), sorted(generator.uniform(0, height, 2))
            fill = tuple(int(v) for v in generator.uniform(0, 255, 3))
            shape = draw.ellipse if generator.uniform() < 0.5 else draw.rectangle
            shape((box[0][0], box[1][0], box[0][1], box[1][1]), fill=fill)
        images.append(image)
    return images
