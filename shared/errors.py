"""Errors, sorted once: retryable ones are retried with backoff, permanent ones fail the source.

A message says what failed, on which input, and what to do about it, in one line.
"""

from __future__ import annotations


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


class StoreError(RetryableError):
    """The vector store or the ledger could not be reached or refused a write for now."""


RETRYABLE: tuple[type[BaseException], ...] = (RetryableError, ConnectionError, TimeoutError)
"""What tasks retry with backoff; anything else fails at once."""


def one_line(error: BaseException) -> str:
    """The error as a single line a person can act on."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, MmindexError):
        text = f"{type(error).__name__}: {text}"
    return text[:500]
