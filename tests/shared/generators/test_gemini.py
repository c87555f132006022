"""shared/generators/gemini.py: the google-genai SDK against a stand-in speaking Gemini's REST API: the request as
Google documents it, the streamed answer, retries of 429 and 5xx, and every failure in one line."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import GeneratorFailed, PermanentError
from shared.generators import Generator, Prompt, generator_for
from shared.generators.gemini import GeminiGenerator
from tests.support.services import free_port
from tests.support.standin import Reply, error, gemini_stream, one_line, running_standin

PATH = re.compile(r"^/v1(beta)?/models/gemini-test:streamGenerateContent\?(.*&)?alt=sse(&.*)?$")
"""Where the SDK streams an answer from (its default API version is v1; v1beta is Google's other)."""


def gemini(url: str, **generator: Any) -> Generator:
    settings = Settings(generator={"kind": "gemini", "url": url, "api_key": "k", "model": "gemini-test", **generator})
    return generator_for(settings)


def prompt(*pictures: bytes) -> Prompt:
    return Prompt(
        "Answer from the numbered sources and cite them as [n].",
        ("Sources:\n[1] The ferry leaves the harbour at seven.\n", *pictures, "\nQuestion: When does the ferry leave?"),
    )


def decoded(data: str) -> bytes:
    """Base64 as Google's JSON carries it: standard or URL-safe alphabet."""
    return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)


def test_the_request_follows_googles_rest_format_and_the_streamed_pieces_make_the_answer(jpeg: bytes) -> None:
    with running_standin(gemini_stream("The ferry leaves ", "at seven [1].")) as standin:
        generator = gemini(standin.url)
        assert isinstance(generator, GeminiGenerator)
        assert (generator.model, generator.reads_images) == ("gemini-test", True)

        pieces = list(generator.stream(prompt(jpeg)))

    assert pieces == ["The ferry leaves ", "at seven [1]."]
    [request] = standin.requests
    assert request.method == "POST"
    assert PATH.match(request.path), request.path
    assert request.headers["x-goog-api-key"] == "k"
    assert request.body["systemInstruction"]["parts"] == [
        {"text": "Answer from the numbered sources and cite them as [n]."}
    ]
    [content] = request.body["contents"]
    assert content["role"] == "user"
    first, picture, last = content["parts"]
    assert first == {"text": "Sources:\n[1] The ferry leaves the harbour at seven.\n"}
    assert last == {"text": "\nQuestion: When does the ferry leave?"}
    inline = picture["inlineData"]
    assert inline.get("mimeType", inline.get("mime_type")) == "image/jpeg"
    assert decoded(inline["data"]) == jpeg
    assert request.body["generationConfig"]["maxOutputTokens"] == 512


def test_with_images_off_no_picture_is_sent(jpeg: bytes) -> None:
    with running_standin(gemini_stream("At seven [1].")) as standin:
        generator = gemini(standin.url, images=False)
        assert generator.reads_images is False

        assert "".join(generator.stream(prompt(jpeg))) == "At seven [1]."

    parts = standin.requests[0].body["contents"][0]["parts"]
    assert [part["text"] for part in parts] == [
        "Sources:\n[1] The ferry leaves the harbour at seven.\n",
        "\nQuestion: When does the ferry leave?",
    ]
    assert not any("inlineData" in part for part in parts)


def test_a_429_is_retried_after_the_wait_the_service_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.generators.retry.BACKOFF_S", 60.0)  # were Retry-After ignored, this test would wait
    script = (error(429, "Resource has been exhausted", {"Retry-After": "0"}), gemini_stream("At ", "seven."))
    with running_standin(*script) as standin:
        started = time.monotonic()

        assert "".join(gemini(standin.url).stream(prompt())) == "At seven."

    assert time.monotonic() - started < 10
    assert len(standin.requests) == 2


def test_a_500_every_time_fails_in_one_line_after_the_retries() -> None:
    with (
        running_standin(error(500, "Internal error encountered.", {"Retry-After": "0"})) as standin,
        pytest.raises(GeneratorFailed) as failed,
    ):
        list(gemini(standin.url, max_retries=1).stream(prompt()))

    assert one_line(failed.value) == "gemini failed (500): Internal error encountered."
    assert failed.value.status == 502
    assert len(standin.requests) == 2  # the first try and max_retries=1 more


def test_a_refused_key_fails_at_once_naming_the_setting() -> None:
    with (
        running_standin(error(401, "API key not valid. Please pass a valid API key.")) as standin,
        pytest.raises(GeneratorFailed) as failed,
    ):
        list(gemini(standin.url).stream(prompt()))

    message = one_line(failed.value)
    assert "refused the API key (401)" in message
    assert "MMINDEX_GENERATOR__API_KEY" in message
    assert len(standin.requests) == 1


def test_an_unknown_model_fails_at_once_naming_the_settings_to_check() -> None:
    with (
        running_standin(error(404, "models/gemini-test is not found for API version v1")) as standin,
        pytest.raises(GeneratorFailed, match=r"MMINDEX_GENERATOR__MODEL and __URL") as failed,
    ):
        list(gemini(standin.url).stream(prompt()))

    one_line(failed.value)
    assert len(standin.requests) == 1


def test_an_error_page_of_many_lines_is_told_in_one() -> None:
    page = Reply(502, {"Content-Type": "text/html"}, body="<html>\n<body>\n  Bad gateway\n</body>\n</html>\n")
    with running_standin(page) as standin, pytest.raises(GeneratorFailed) as failed:
        list(gemini(standin.url, max_retries=0).stream(prompt()))

    assert "gemini failed (502)" in one_line(failed.value)
    assert "Bad gateway" in str(failed.value)


def test_an_error_after_the_first_piece_ends_the_answer_without_a_retry() -> None:
    broken = gemini_stream("The ferry ")
    broken = Reply(
        broken.status,
        broken.headers,
        events=[*(broken.events or ()), {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}],
    )
    with running_standin(broken) as standin:
        pieces: list[str] = []
        with pytest.raises(GeneratorFailed) as failed:
            pieces.extend(gemini(standin.url).stream(prompt()))

    assert pieces == ["The ferry "]
    assert one_line(failed.value) == "gemini failed (503): overloaded"
    assert len(standin.requests) == 1  # part of the answer was out: trying again would repeat it


def test_an_unreachable_service_is_a_503_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there

    with pytest.raises(GeneratorFailed) as failed:
        list(gemini(url, max_retries=0).stream(prompt()))

    assert one_line(failed.value) == f"gemini is unreachable at {url}: check MMINDEX_GENERATOR__URL"
    assert failed.value.status == 503


def test_a_service_slower_than_the_timeout_is_a_504_naming_the_setting() -> None:
    slow = Reply(delay_s=10, headers={"Content-Type": "text/event-stream"}, events=())
    with running_standin(slow) as standin:
        started = time.monotonic()
        with pytest.raises(GeneratorFailed) as failed:
            list(gemini(standin.url, timeout_s=1).stream(prompt()))

    assert time.monotonic() - started < 5
    assert "MMINDEX_GENERATOR__TIMEOUT_S" in one_line(failed.value)
    assert failed.value.status == 504
    assert len(standin.requests) == 1


def test_the_key_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "gemini-key"
    secret.write_text("key-from-file\n")
    with running_standin(gemini_stream("At seven.")) as standin:
        settings = Settings(generator={"kind": "gemini", "url": standin.url, "api_key_file": str(secret)})

        assert "".join(generator_for(settings).stream(prompt())) == "At seven."

    assert standin.requests[0].headers["x-goog-api-key"] == "key-from-file"
    assert "/models/gemini-2.5-flash:" in standin.requests[0].path  # the default model


def test_without_a_key_the_sdks_own_variable_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "key-from-environment")
    with running_standin(gemini_stream("At seven.")) as standin:
        settings = Settings(generator={"kind": "gemini", "url": standin.url, "model": "gemini-test"})

        assert "".join(generator_for(settings).stream(prompt())) == "At seven."

    assert standin.requests[0].headers["x-goog-api-key"] == "key-from-environment"


def test_no_key_anywhere_is_a_one_line_permanent_error() -> None:
    with pytest.raises(PermanentError) as failed:
        generator_for(Settings(generator={"kind": "gemini", "url": "http://127.0.0.1:9", "model": "gemini-test"}))

    assert one_line(failed.value).startswith("gemini needs an API key: set MMINDEX_GENERATOR__API_KEY")
