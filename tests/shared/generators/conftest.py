"""Fixtures for the generators' tests: an environment free of the SDKs' own variables, and a real JPEG."""

from __future__ import annotations

import io
import os

import pytest

SDK_VARIABLES = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)


@pytest.fixture(autouse=True)
def sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, endpoint or MMINDEX_GENERATOR__ setting from the environment reaches a generator unless a test sets
    it: the SDKs read their own variables."""
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("MMINDEX_GENERATOR__"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    """A small real JPEG, as a hit's picture reaches a prompt."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()
