"""`gemini`: Google's Gemini through the google-genai SDK; pictures go as inline JPEG parts beside the words.

MMINDEX_GENERATOR__URL points the SDK elsewhere (a proxy, or a stand-in in the tests); the SDK's own retries are off,
`retry` does them, bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.config import GeneratorSettings
from shared.errors import PermanentError
from shared.generators.protocol import Prompt
from shared.generators.retry import Failure, api_key, http_failure, network_failure, retried

DEFAULT_MODEL = "gemini-2.5-flash"
SERVICE = "https://generativelanguage.googleapis.com"
TEMPERATURE = 0.2


class GeminiGenerator:
    reads_images = True

    def __init__(self, settings: GeneratorSettings) -> None:
        from google import genai
        from google.genai import types

        self.settings = settings
        self.model = settings.model or DEFAULT_MODEL
        self.url = settings.url or SERVICE
        key = api_key(settings)
        options = types.HttpOptions(timeout=int(settings.timeout_s * 1000), base_url=settings.url)
        try:
            self.client = genai.Client(api_key=key, http_options=options)
        except ValueError as error:  # no key given nor in GEMINI_API_KEY / GOOGLE_API_KEY
            raise PermanentError(
                f"gemini needs an API key: set MMINDEX_GENERATOR__API_KEY (or __API_KEY_FILE, or GEMINI_API_KEY);"
                f" {error}"
            ) from None
        self.reads_images = settings.images

    def stream(self, prompt: Prompt) -> Iterator[str]:
        from google.genai import types

        parts = [
            types.Part.from_text(text=part)
            if isinstance(part, str)
            else types.Part.from_bytes(data=part, mime_type="image/jpeg")
            for part in prompt.parts
            if isinstance(part, str) or self.reads_images
        ]
        config = types.GenerateContentConfig(
            system_instruction=prompt.system,
            max_output_tokens=self.settings.max_tokens,
            temperature=TEMPERATURE,
        )

        def pieces() -> Iterator[str]:
            chunks = self.client.models.generate_content_stream(
                model=self.model, contents=[types.Content(role="user", parts=parts)], config=config
            )
            for chunk in chunks:
                if chunk.text:
                    yield chunk.text

        return retried(pieces, self._failure, self.settings)

    def _failure(self, error: Exception) -> Failure | None:
        from google.genai import errors

        if isinstance(error, errors.APIError):
            response: Any = error.response
            headers = getattr(response, "headers", None) or {}
            return http_failure("gemini", error.code, error.message or str(error), headers.get("retry-after"))
        return network_failure("gemini", self.url, self.settings.timeout_s, error)
