"""Generators: who writes `mmindex ask`'s answer from a prompt of numbered sources.

One protocol, three implementations, chosen by MMINDEX_GENERATOR__KIND: `gemini` (Google's google-genai SDK, pictures
as inline parts), `openai` (any OpenAI-compatible chat endpoint through the openai SDK: OpenAI, vLLM, Ollama,
llama.cpp's server; pictures as data URLs) and `local` (a small GGUF model on this machine through llama.cpp, so that
`ask` works offline). A generator streams its answer in pieces; what goes wrong is one line (`retry`).
"""

from __future__ import annotations

from shared.config import Settings
from shared.errors import PermanentError
from shared.generators.protocol import Generator, Prompt

__all__ = ["KINDS", "Generator", "Prompt", "generator_for"]


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
