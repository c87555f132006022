"""What an exported model's graphs are fed: the tokenizer's and image processor's arrays, made without torch.

They are the very tokenizer and image processor the model came with, saved beside its export, and they truncate
texts where the torch model does (`max_length`, CLIP's 77 tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class Preprocessor:
    """Turns texts and pictures into a tower's input arrays, by input name."""

    def __init__(self, tokenizer: Any, image_processor: Any, max_length: int, inputs: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.max_length = max_length
        self.inputs = inputs  # each tower's input names

    @classmethod
    def load(cls, folder: Path, info: dict[str, Any]) -> Preprocessor:
        """The preprocessing saved in `folder` with an export, whose record (its towers, the text limit) is `info`."""
        import transformers
        from transformers import AutoImageProcessor, AutoTokenizer

        transformers.logging.set_verbosity_error()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        image_processor = AutoImageProcessor.from_pretrained(str(folder)) if "image" in info["towers"] else None
        return cls(tokenizer, image_processor, int(info["max_length"]), dict(info["towers"]))

    def feeds(self, tower: str, items: Sequence[Any]) -> dict[str, np.ndarray]:
        """One batch of `tower`'s inputs: texts tokenized and padded, or pictures resized and normalised."""
        if tower == "image":
            pixels = self.image_processor(images=[image.convert("RGB") for image in items], return_tensors="np")
            return {"pixel_values": np.asarray(pixels["pixel_values"], dtype=np.float32)}
        encoded = self.tokenizer(
            list(items), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {name: np.asarray(encoded[name], dtype=np.int64) for name in self.inputs[tower]}
