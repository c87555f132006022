"""shared/generators/retry.py: which failures are tried again and for how long, what each one says in its line,
and where the key comes from. Streams here are plain Python generators; the SDKs meet the stand-in elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import GeneratorSettings
from shared.errors import GeneratorFailed, PermanentError
from shared.generators import Prompt
from shared.generators.retry import Failure, api_key, http_failure, network_failure, retried
from tests.support.standin import one_line


class Flaky(Exception):
    """What a stream raises in these tests; `classify` says what it means."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure.error))
        self.failure = failure


def classify(error: Exception) -> Failure | None:
    return error.failure if isinstance(error, Flaky) else None


class Script:
    """Opens streams that fail with the given Failures, in turn, then answer `pieces`."""

    def __init__(self, failures: list[Failure], pieces: list[str], broken_after: Failure | None = None) -> None:
        self.failures = failures
        self.pieces = pieces
        self.broken_after = broken_after
        self.opened: list[float] = []

    def __call__(self) -> Iterator[str]:
        self.opened.append(time.monotonic())
        return self._stream(len(self.opened) - 1)

    def _stream(self, attempt: int) -> Iterator[str]:
        if attempt < len(self.failures):
            raise Flaky(self.failures[attempt])
        yield from self.pieces
        if self.broken_after is not None:
            raise Flaky(self.broken_after)


def settings(**values: object) -> GeneratorSettings:
    return GeneratorSettings.model_validate({"kind": "openai", **values})


def throttled(wait: float | None = None) -> Failure:
    return http_failure("stand-in", 429, "slow down", None if wait is None else str(wait))


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr("shared.generators.retry.BACKOFF_S", 0.05)
    return 0.05


def test_a_retryable_failure_before_the_first_piece_is_tried_again_with_a_doubling_backoff(
    fast_backoff: float,
) -> None:
    script = Script([throttled(), throttled()], ["At ", "seven."])

    assert list(retried(script, classify, settings(max_retries=2))) == ["At ", "seven."]

    assert len(script.opened) == 3
    first, second = (later - earlier for earlier, later in zip(script.opened, script.opened[1:], strict=False))
    assert first >= fast_backoff
    assert second >= 2 * fast_backoff


def test_the_retries_are_bounded_and_the_last_failure_is_raised(fast_backoff: float) -> None:
    script = Script([throttled()] * 5, ["never"])

    with pytest.raises(GeneratorFailed) as failed:
        list(retried(script, classify, settings(max_retries=2)))

    assert one_line(failed.value) == "stand-in is throttling requests (429): slow down"
    assert len(script.opened) == 3


def test_a_wait_the_service_asks_for_is_taken_but_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.generators.retry.BACKOFF_S", 60.0)
    monkeypatch.setattr("shared.generators.retry.MAX_BACKOFF_S", 0.1)
    script = Script([throttled(0), throttled(3600)], ["At seven."])
    started = time.monotonic()

    assert list(retried(script, classify, settings(max_retries=2))) == ["At seven."]

    assert time.monotonic() - started < 5  # neither the backoff nor the hour asked for
    assert script.opened[2] - script.opened[1] >= 0.1


def test_a_wait_past_the_timeout_is_not_taken() -> None:
    script = Script([throttled(10)], ["never"])
    started = time.monotonic()

    with pytest.raises(GeneratorFailed, match=r"throttling"):
        list(retried(script, classify, settings(timeout_s=2)))

    assert time.monotonic() - started < 2
    assert len(script.opened) == 1


def test_a_failure_that_retrying_cannot_help_is_raised_at_once() -> None:
    script = Script([http_failure("stand-in", 401, "bad key")], ["never"])

    with pytest.raises(GeneratorFailed, match=r"refused the API key \(401\)"):
        list(retried(script, classify, settings()))

    assert len(script.opened) == 1


def test_a_failure_after_the_first_piece_ends_the_answer_and_is_not_tried_again() -> None:
    script = Script([], ["At ", "seven"], broken_after=http_failure("stand-in", 503, "overloaded"))
    pieces: list[str] = []

    with pytest.raises(GeneratorFailed) as failed:
        pieces.extend(retried(script, classify, settings()))

    assert pieces == ["At ", "seven"]
    assert one_line(failed.value) == "stand-in failed (503): overloaded"
    assert len(script.opened) == 1


def test_an_error_no_one_classifies_is_raised_as_it_is() -> None:
    def broken() -> Iterator[str]:
        raise KeyError("a bug, not a failure of the service")
        yield ""  # a generator

    with pytest.raises(KeyError):
        list(retried(broken, classify, settings()))


def test_an_answer_still_coming_after_the_timeout_fails_with_a_504() -> None:
    def slow() -> Iterator[str]:
        for piece in ("At ", "seven ", "o'clock", "."):
            time.sleep(0.4)
            yield piece

    pieces: list[str] = []
    with pytest.raises(GeneratorFailed) as failed:
        pieces.extend(retried(slow, classify, settings(timeout_s=1)))

    assert 0 < len(pieces) < 4
    assert one_line(failed.value) == "the answer was not finished within 1 s (MMINDEX_GENERATOR__TIMEOUT_S)"
    assert failed.value.status == 504


def test_an_empty_answer_is_no_pieces() -> None:
    assert list(retried(Script([], []), classify, settings())) == []


@pytest.mark.parametrize(
    ("status", "says", "retryable"),
    [
        (401, "refused the API key (401): check MMINDEX_GENERATOR__API_KEY or __API_KEY_FILE;", False),
        (403, "refused the API key (403): check MMINDEX_GENERATOR__API_KEY or __API_KEY_FILE;", False),
        (404, "does not know that model or path (404): check MMINDEX_GENERATOR__MODEL and __URL;", False),
        (400, "refused the request (400):", False),
        (429, "is throttling requests (429):", True),
        (500, "failed (500):", True),
        (503, "failed (503):", True),
    ],
)
def test_each_http_status_says_what_failed_in_one_line(status: int, says: str, retryable: bool) -> None:
    failure = http_failure("stand-in", status, "the service\n  said\tthis " + "x" * 1000)

    message = one_line(failure.error)
    assert message.startswith(f"stand-in {says} the service said this x")
    assert len(message) < 450  # the service's text is cut short
    assert failure.retryable is retryable
    assert isinstance(failure.error, GeneratorFailed)


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0.5", 0.5), ("-2", 0.0), ("soon", None), (None, None)])
def test_a_retry_after_header_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert http_failure("stand-in", 429, "slow down", header).retry_after_s == seconds


def test_network_errors_are_told_by_their_kind() -> None:
    class ConnectError(Exception): ...

    class ReadTimeout(Exception): ...

    class RemoteProtocolError(Exception): ...

    unreachable = network_failure("stand-in", "http://127.0.0.1:9", 30, ConnectError("refused"))
    slow = network_failure("stand-in", "http://127.0.0.1:9", 30, ReadTimeout("read"))
    broken = network_failure("stand-in", "http://127.0.0.1:9", 30, RemoteProtocolError("peer closed"))

    assert unreachable is not None and unreachable.retryable
    assert one_line(unreachable.error) == "stand-in is unreachable at http://127.0.0.1:9: check MMINDEX_GENERATOR__URL"
    assert isinstance(unreachable.error, GeneratorFailed) and unreachable.error.status == 503
    assert slow is not None and not slow.retryable
    assert one_line(slow.error) == "stand-in did not answer within 30 s (MMINDEX_GENERATOR__TIMEOUT_S)"
    assert isinstance(slow.error, GeneratorFailed) and slow.error.status == 504
    assert broken is not None and broken.retryable
    assert one_line(broken.error) == "stand-in broke off the answer: peer closed"
    assert network_failure("stand-in", "http://127.0.0.1:9", 30, ValueError("a bug")) is None


def test_the_key_is_the_setting_else_the_file_else_none(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("from-file\n")

    assert api_key(settings(api_key=" from-setting ", api_key_file=str(secret))) == "from-setting"
    assert api_key(settings(api_key_file=str(secret))) == "from-file"
    assert api_key(settings()) is None


def test_a_key_file_that_cannot_be_read_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as failed:
        api_key(settings(api_key_file=str(tmp_path / "missing")))

    assert one_line(failed.value) == (
        f"MMINDEX_GENERATOR__API_KEY_FILE={tmp_path / 'missing'}: cannot read it (No such file or directory)"
    )


def test_a_prompts_text_is_its_words_without_its_pictures() -> None:
    assert Prompt("system", ("Sources: ", b"\xff\xd8\xff", "[1] a ferry.")).text == "Sources: [1] a ferry."
