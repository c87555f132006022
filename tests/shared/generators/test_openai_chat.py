"""shared/generators/openai_chat.py: the openai SDK against a stand-in OpenAI-compatible chat endpoint: the request,
pictures as data URLs, the streamed answer, keys, retries of 429 and 5xx, and every failure in one line."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import GeneratorFailed, PermanentError
from shared.generators import Generator, Prompt, generator_for
from shared.generators.openai_chat import NO_KEY, OpenAIGenerator
from tests.support.services import free_port
from tests.support.standin import Reply, error, one_line, openai_stream, running_standin, sse

SYSTEM = "Answer from the numbered sources and cite them as [n]."
SOURCES = "Sources:\n[1] The ferry leaves the harbour at seven.\n"
QUESTION = "\nQuestion: When does the ferry leave?"


def chat(url: str, **generator: Any) -> Generator:
    settings = Settings(
        generator={"kind": "openai", "url": url + "/v1", "api_key": "k", "model": "chat-test", **generator}
    )
    return generator_for(settings)


def prompt(*pictures: bytes) -> Prompt:
    return Prompt(SYSTEM, (SOURCES, *pictures, QUESTION))


def test_a_prompt_with_a_picture_is_sent_as_text_and_a_data_url_and_the_pieces_make_the_answer(jpeg: bytes) -> None:
    with running_standin(openai_stream("The ferry leaves ", "at seven [1].")) as standin:
        generator = chat(standin.url)
        assert isinstance(generator, OpenAIGenerator)
        assert (generator.model, generator.reads_images) == ("chat-test", True)

        pieces = list(generator.stream(prompt(jpeg)))

    assert pieces == ["The ferry leaves ", "at seven [1]."]
    [request] = standin.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer k"
    assert request.body["model"] == "chat-test"
    assert request.body["stream"] is True
    assert request.body["max_tokens"] == 512
    system, user = request.body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert user["role"] == "user"
    first, picture, last = user["content"]
    assert first == {"type": "text", "text": SOURCES}
    assert last == {"type": "text", "text": QUESTION}
    assert picture["type"] == "image_url"
    scheme, _, data = picture["image_url"]["url"].partition(",")
    assert scheme == "data:image/jpeg;base64"
    assert base64.b64decode(data, validate=True) == jpeg


def test_without_a_picture_the_users_turn_is_plain_text() -> None:
    with running_standin(openai_stream("At seven [1].")) as standin:
        assert "".join(chat(standin.url).stream(prompt())) == "At seven [1]."

    assert standin.requests[0].body["messages"][1] == {"role": "user", "content": SOURCES + QUESTION}


def test_with_images_off_the_picture_is_left_out_and_the_turn_is_plain_text(jpeg: bytes) -> None:
    with running_standin(openai_stream("At seven [1].")) as standin:
        generator = chat(standin.url, images=False)
        assert generator.reads_images is False

        assert "".join(generator.stream(prompt(jpeg))) == "At seven [1]."

    assert standin.requests[0].body["messages"][1] == {"role": "user", "content": SOURCES + QUESTION}


def test_a_429_is_retried_after_the_wait_the_service_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.generators.retry.BACKOFF_S", 60.0)  # were Retry-After ignored, this test would wait
    script = (error(429, "Rate limit reached", {"Retry-After": "0"}), openai_stream("At ", "seven."))
    with running_standin(*script) as standin:
        started = time.monotonic()

        assert "".join(chat(standin.url).stream(prompt())) == "At seven."

    assert time.monotonic() - started < 10
    assert len(standin.requests) == 2


def test_a_wait_longer_than_the_time_left_is_not_waited() -> None:
    with running_standin(error(503, "overloaded", {"Retry-After": "30"})) as standin:
        started = time.monotonic()
        with pytest.raises(GeneratorFailed) as failed:
            list(chat(standin.url, timeout_s=5).stream(prompt()))

    assert time.monotonic() - started < 5
    assert "openai failed (503)" in one_line(failed.value)
    assert len(standin.requests) == 1


def test_a_500_every_time_fails_in_one_line_after_the_retries() -> None:
    with (
        running_standin(error(500, "The server had an error", {"Retry-After": "0"})) as standin,
        pytest.raises(GeneratorFailed) as failed,
    ):
        list(chat(standin.url, max_retries=1).stream(prompt()))

    message = one_line(failed.value)
    assert message.startswith("openai failed (500):")
    assert "The server had an error" in message
    assert failed.value.status == 502
    assert len(standin.requests) == 2  # the first try and max_retries=1 more


def test_a_refused_key_fails_at_once_naming_the_setting() -> None:
    with running_standin(error(401, "Incorrect API key provided")) as standin, pytest.raises(GeneratorFailed) as failed:
        list(chat(standin.url).stream(prompt()))

    message = one_line(failed.value)
    assert "refused the API key (401)" in message
    assert "MMINDEX_GENERATOR__API_KEY" in message
    assert len(standin.requests) == 1


def test_an_error_event_within_the_stream_is_a_one_line_failure() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "The ferry "}}]}
    broken = sse(chunk, {"error": {"code": 500, "message": "model\noverloaded"}})
    with running_standin(broken) as standin:
        pieces: list[str] = []
        with pytest.raises(GeneratorFailed) as failed:
            pieces.extend(chat(standin.url).stream(prompt()))

    assert pieces == ["The ferry "]
    assert one_line(failed.value) == "openai failed (500): model overloaded"
    assert len(standin.requests) == 1  # part of the answer was out: trying again would repeat it


def test_an_error_event_without_a_code_is_a_one_line_failure_too() -> None:
    with (
        running_standin(sse({"error": {"message": "context length exceeded"}})) as standin,
        pytest.raises(GeneratorFailed) as failed,
    ):
        list(chat(standin.url).stream(prompt()))

    assert one_line(failed.value) == "openai failed within its answer: context length exceeded"
    assert len(standin.requests) == 1


def test_an_unreachable_service_is_a_503_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there

    with pytest.raises(GeneratorFailed) as failed:
        list(chat(url, max_retries=0).stream(prompt()))

    assert one_line(failed.value) == f"openai is unreachable at {url}/v1: check MMINDEX_GENERATOR__URL"
    assert failed.value.status == 503


def test_a_service_slower_than_the_timeout_is_a_504_naming_the_setting() -> None:
    slow = Reply(delay_s=10, headers={"Content-Type": "text/event-stream"}, events=())
    with running_standin(slow) as standin:
        started = time.monotonic()
        with pytest.raises(GeneratorFailed) as failed:
            list(chat(standin.url, timeout_s=1).stream(prompt()))

    assert time.monotonic() - started < 5
    assert "MMINDEX_GENERATOR__TIMEOUT_S" in one_line(failed.value)
    assert failed.value.status == 504
    assert len(standin.requests) == 1


def test_an_answer_still_trickling_in_at_the_timeout_is_a_504() -> None:
    trickle = openai_stream(*(f"piece {n} " for n in range(10)), event_delay_s=0.3)
    with running_standin(trickle) as standin:
        pieces: list[str] = []
        with pytest.raises(GeneratorFailed) as failed:
            pieces.extend(chat(standin.url, timeout_s=1).stream(prompt()))

    assert 0 < len(pieces) < 10
    assert "MMINDEX_GENERATOR__TIMEOUT_S" in one_line(failed.value)
    assert failed.value.status == 504


def test_the_key_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "openai-key"
    secret.write_text("  key-from-file\n")
    with running_standin(openai_stream("At seven.")) as standin:
        settings = Settings(generator={"kind": "openai", "url": standin.url + "/v1", "api_key_file": str(secret)})

        assert "".join(generator_for(settings).stream(prompt())) == "At seven."

    assert standin.requests[0].headers["authorization"] == "Bearer key-from-file"
    assert standin.requests[0].body["model"] == "gpt-4o-mini"  # the default model


def test_a_key_file_that_cannot_be_read_is_a_one_line_permanent_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    settings = Settings(generator={"kind": "openai", "url": "http://127.0.0.1:9/v1", "api_key_file": str(missing)})

    with pytest.raises(PermanentError) as failed:
        generator_for(settings)

    message = one_line(failed.value)
    assert message.startswith(f"MMINDEX_GENERATOR__API_KEY_FILE={missing}: cannot read it")
    assert not isinstance(failed.value, GeneratorFailed)


def test_a_self_run_server_needs_no_key_a_placeholder_is_sent() -> None:
    with running_standin(openai_stream("At seven.")) as standin:
        settings = Settings(generator={"kind": "openai", "url": standin.url + "/v1", "model": "chat-test"})

        assert "".join(generator_for(settings).stream(prompt())) == "At seven."

    assert standin.requests[0].headers["authorization"] == f"Bearer {NO_KEY}"


def test_without_a_key_setting_the_sdks_own_variable_still_reaches_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "key-from-environment")
    with running_standin(openai_stream("At seven.")) as standin:
        settings = Settings(generator={"kind": "openai", "url": standin.url + "/v1", "model": "chat-test"})

        assert "".join(generator_for(settings).stream(prompt())) == "At seven."

    assert standin.requests[0].headers["authorization"] == "Bearer key-from-environment"


def test_the_service_itself_without_a_key_anywhere_is_a_one_line_permanent_error() -> None:
    with pytest.raises(PermanentError) as failed:
        generator_for(Settings(generator={"kind": "openai"}))

    assert one_line(failed.value).startswith("openai needs an API key: set MMINDEX_GENERATOR__API_KEY")
