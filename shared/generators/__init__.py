"""Generators: who writes `mmindex ask`'s answer from a prompt of numbered sources.

One protocol, three implementations, chosen by MMINDEX_GENERATOR__KIND: `gemini` (Google's google-genai SDK, pictures
as inline parts), `openai` (any OpenAI-compatible chat endpoint through the openai SDK: OpenAI, vLLM, Ollama,
llama.cpp's server; pictures as data URLs) and `local` (a small GGUF model on this machine through llama.cpp, so that
`ask` works offline). A generator streams its answer in pieces; what goes wrong is one line (`retry`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from shared.config import Settings
from shared.errors import PermanentError


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


KINDS = ("local", "gemini", "openai")


def generator_for(settings: Settings) -> Generator:
    """The configured generator (a local model is loaded here: keep one per process)."""
    kind = settings.generator.kind
    if kind == "gemini":
        from shared.generators.gemini import GeminiGenerator

        return GeminiGenerator(settings.generator)
    if kind == "openai":
        from shared.generators.openai_chat import OpenAIGenerator

        return OpenAIGenerator(settings.generator)
    if kind == "local":
        from shared.generators.local import LocalGenerator

        return LocalGenerator(settings.generator, threads=settings.torch_threads())
    raise PermanentError(f"unknown MMINDEX_GENERATOR__KIND {kind!r}; choose from {', '.join(KINDS)}")
