"""What a generator is asked and how it answers (the seam between `ask` and the generators)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    """What a generator is asked: its instructions, and the user's turn as text and JPEG pictures in order."""

    system: str
    parts: tuple[str | bytes, ...]

    @property
    def text(self) -> str:
        """The user's turn without its pictures."""
        return "".join(part for part in self.parts if isinstance(part, str))


class Generator(Protocol):
    model: str
    """The model that answers, as the answer names it."""
    reads_images: bool
    """Whether pictures in a prompt reach the model (else they are left out of it)."""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """The answer in pieces as they are written; GeneratorFailed or ModelUnavailable, in one line."""
        ...
