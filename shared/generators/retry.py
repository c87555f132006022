"""Calling a remote generator: a 429 or 5xx is retried with bounded backoff before the answer's first piece, and
every failure ends as one line that says what to do (GeneratorFailed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.config import GeneratorSettings
from shared.errors import GeneratorFailed, PermanentError

BACKOFF_S = 1.0
"""The first wait after a 429 or 5xx; it doubles with each retry."""
MAX_BACKOFF_S = 20.0
"""The longest wait between two tries, whatever a Retry-After header asks."""


@dataclass(frozen=True)
class Failure:
    """What a failed call means: its one line, whether trying again may help, and how long the service asked us
    to wait."""

    error: GeneratorFailed | PermanentError
    retryable: bool = False
    retry_after_s: float | None = None


def http_failure(name: str, status: int, message: str, retry_after: str | None = None) -> Failure:
    """The Failure of an HTTP answer `status` from the generator `name`."""
    text = " ".join(message.split())[:300]
    if status in (401, 403):
        return Failure(
            GeneratorFailed(
                f"{name} refused the API key ({status}): check MMINDEX_GENERATOR__API_KEY or __API_KEY_FILE; {text}"
            )
        )
    if status == 429:
        wait = _seconds(retry_after)
        return Failure(GeneratorFailed(f"{name} is throttling requests (429): {text}"), True, wait)
    if status >= 500:
        return Failure(GeneratorFailed(f"{name} failed ({status}): {text}"), True, _seconds(retry_after))
    if status == 404:
        return Failure(
            GeneratorFailed(
                f"{name} does not know that model or path (404): check MMINDEX_GENERATOR__MODEL and __URL; {text}"
            )
        )
    return Failure(GeneratorFailed(f"{name} refused the request ({status}): {text}"))


def unreachable(name: str, url: str) -> Failure:
    return Failure(GeneratorFailed(f"{name} is unreachable at {url}: check MMINDEX_GENERATOR__URL", 503), True)


def too_slow(name: str, timeout_s: float) -> Failure:
    return Failure(GeneratorFailed(f"{name} did not answer within {timeout_s:g} s (MMINDEX_GENERATOR__TIMEOUT_S)", 504))


def _seconds(header: str | None) -> float | None:
    try:
        return None if header is None else max(0.0, float(header))
    except ValueError:
        return None


def api_key(settings: GeneratorSettings) -> str | None:
    """The key: MMINDEX_GENERATOR__API_KEY, else the file MMINDEX_GENERATOR__API_KEY_FILE names, else None (the
    SDK then reads its own variable, GEMINI_API_KEY or OPENAI_API_KEY)."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value().strip()
    if settings.api_key_file is not None:
        path = Path(settings.api_key_file)
        try:
            return path.read_text().strip()
        except OSError as error:
            raise PermanentError(
                f"MMINDEX_GENERATOR__API_KEY_FILE={path}: cannot read it ({error.strerror or error})"
            ) from None
    return None


def retried(
    open_stream: Callable[[], Iterator[str]],
    classify: Callable[[Exception], Failure | None],
    settings: GeneratorSettings,
) -> Iterator[str]:
    """The pieces of `open_stream()`'s answer. A retryable failure before the first piece is tried again, at most
    MMINDEX_GENERATOR__MAX_RETRIES times, after a backoff (or the Retry-After the service sent); a failure after it
    cannot be (part of the answer is out) and ends the answer. An answer not finished within
    MMINDEX_GENERATOR__TIMEOUT_S fails."""
    deadline = time.monotonic() + settings.timeout_s
    attempt = 0
    while True:
        stream = open_stream()
        try:
            first = next(stream, None)
        except Exception as error:
            failure = classify(error)
            if failure is None:
                raise
            wait = failure.retry_after_s if failure.retry_after_s is not None else BACKOFF_S * 2**attempt
            wait = min(wait, MAX_BACKOFF_S)
            if not failure.retryable or attempt >= settings.max_retries or time.monotonic() + wait > deadline:
                raise failure.error from None
            attempt += 1
            time.sleep(wait)
            continue
        break
    if first is None:
        return
    yield first
    try:
        for piece in stream:
            yield piece
            if time.monotonic() > deadline:
                raise GeneratorFailed(
                    f"the answer was not finished within {settings.timeout_s:g} s (MMINDEX_GENERATOR__TIMEOUT_S)", 504
                )
    except GeneratorFailed:
        raise
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        raise failure.error from None


def network_failure(name: str, url: str, timeout_s: float, error: Exception) -> Failure | None:
    """The Failure of an error raised by an HTTP client (httpx or a fork of it) on the way; None for any other."""
    kinds = {kind.__name__ for kind in type(error).__mro__}
    if kinds & {"ConnectError", "ConnectTimeout", "ConnectionError"}:
        return unreachable(name, url)
    if kinds & {"TimeoutException", "TimeoutError", "ReadTimeout"}:
        return too_slow(name, timeout_s)
    if kinds & {"RemoteProtocolError", "ReadError", "NetworkError"}:
        return Failure(GeneratorFailed(f"{name} broke off the answer: {error}", 502), True)
    return None
