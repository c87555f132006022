"""`openai`: any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server) through the
openai SDK; pictures go as JPEG data URLs when MMINDEX_GENERATOR__IMAGES is on (turn it off for a model that reads
only words). The SDK's own retries are off, `retry` does them, bounded."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

from shared.config import GeneratorSettings
from shared.errors import GeneratorFailed, PermanentError
from shared.generators.protocol import Prompt
from shared.generators.retry import Failure, api_key, http_failure, network_failure, retried, too_slow, unreachable

DEFAULT_MODEL = "gpt-4o-mini"
SERVICE = "https://api.openai.com/v1"
TEMPERATURE = 0.2
NO_KEY = "unused"
"""The key sent to an endpoint that needs none (a self-run server), since the SDK insists on one."""


class OpenAIGenerator:
    def __init__(self, settings: GeneratorSettings) -> None:
        import openai

        self.settings = settings
        self.model = settings.model or DEFAULT_MODEL
        self.url = settings.url or SERVICE
        self.reads_images = settings.images
        key = api_key(settings)
        if not key and settings.url and not os.environ.get("OPENAI_API_KEY"):
            key = NO_KEY  # a self-run server needs none; OPENAI_API_KEY, when set, still reaches a proxy
        try:
            self.client = openai.OpenAI(api_key=key, base_url=settings.url, timeout=settings.timeout_s, max_retries=0)
        except openai.OpenAIError as error:  # no key given nor in OPENAI_API_KEY
            raise PermanentError(
                f"openai needs an API key: set MMINDEX_GENERATOR__API_KEY (or __API_KEY_FILE, or OPENAI_API_KEY);"
                f" {error}"
            ) from None

    def messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        """The chat: the instructions, then the user's turn (plain text when it holds no picture, which every
        compatible server takes)."""
        content: str | list[dict[str, Any]]
        if self.reads_images and any(isinstance(part, bytes) for part in prompt.parts):
            content = [
                {"type": "text", "text": part}
                if isinstance(part, str)
                else {
                    "type": "image_url",
                    "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(part).decode("ascii")},
                }
                for part in prompt.parts
            ]
        else:
            content = prompt.text
        return [{"role": "system", "content": prompt.system}, {"role": "user", "content": content}]

    def stream(self, prompt: Prompt) -> Iterator[str]:
        messages: Any = self.messages(prompt)

        def pieces() -> Iterator[str]:
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=self.settings.max_tokens,
                temperature=TEMPERATURE,
                stream=True,
            )
            with chunks:
                for chunk in chunks:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content

        return retried(pieces, self._failure, self.settings)

    def _failure(self, error: Exception) -> Failure | None:
        import openai

        if isinstance(error, openai.APIStatusError):
            return http_failure("openai", error.status_code, error.message, error.response.headers.get("retry-after"))
        if isinstance(error, openai.APITimeoutError):
            return too_slow("openai", self.settings.timeout_s)
        if isinstance(error, openai.APIConnectionError):
            return unreachable("openai", self.url)
        if isinstance(error, openai.APIError):  # an error event within the stream, after its 200
            body: Any = error.body
            code = body.get("code") if isinstance(body, dict) else None
            if isinstance(code, int) and 400 <= code < 600:
                return http_failure("openai", code, error.message)
            return Failure(GeneratorFailed(f"openai failed within its answer: {' '.join(error.message.split())}"))
        return network_failure("openai", self.url, self.settings.timeout_s, error)
