"""Errors, sorted once: retryable ones are retried with backoff, permanent ones fail the source.

A message says what failed, on which input, and what to do about it, in one line.
"""

from __future__ import annotations

import re


class MmindexError(Exception):
    """Base of every error mmindex raises on purpose."""


class PermanentError(MmindexError):
    """Retrying cannot help: the input or the configuration must change."""


class RetryableError(MmindexError):
    """A transient fault (network, throttling, a 5xx): the same work may succeed later."""


class SourceNotFound(PermanentError):
    """The source object or file does not exist."""


class TooLarge(PermanentError):
    """The source exceeds a configured size or pixel limit."""


class UnsupportedMedia(PermanentError):
    """The content is of a kind mmindex does not index, or not what its name claims."""


class CorruptMedia(PermanentError):
    """The content claims a known format but cannot be decoded."""


class ModelUnavailable(PermanentError):
    """A configured model cannot be loaded."""


class HubUnreachable(RetryableError):
    """A model that is not cached cannot be downloaded for now: no model hub answers (a worker retries later)."""


class GeneratorFailed(RetryableError):
    """The generator of answers did not answer: unreachable (503), refused or failing (502), too slow (504)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class StoreError(RetryableError):
    """The vector store or the ledger could not be reached or refused a write for now."""


RETRYABLE: tuple[type[BaseException], ...] = (RetryableError, ConnectionError, TimeoutError)
"""What tasks retry with backoff; anything else fails at once."""


_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^\s]*@(?=[^@\s]*(?:\s|$))")
"""A URL's user information up to the last `@` before its host: a password may hold `/` and `@` itself."""
_QUERY_SECRETS = re.compile(r"(?i)(?P<name>[?&](?:password|pass|pwd|secret|token|access_token)=)[^&\s]+")
"""Secrets given as query parameters (redis-py takes `?password=`)."""


def mask(text: str) -> str:
    """`text` with the password of every URL in it hidden: `redis://user:secret@host` → `redis://user:***@host`,
    `redis://host/0?password=secret` → `redis://host/0?password=***`."""
    return _QUERY_SECRETS.sub(r"\g<name>***", _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text))


def one_line(error: BaseException) -> str:
    """The error as a single line a person can act on, with the passwords of URLs in it masked."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, MmindexError):
        text = f"{type(error).__name__}: {text}"
    return mask(text)[:500]
