"""Every error the API answers is `{"error": "<one line>"}` with the status that says whose move it is.

400: the request's content cannot be used (an image that is not one, a recording with no speech); 401/403: the key;
404: nothing there; 413: too large; 422: a field out of range or of the wrong kind, named; 503: the broker, the
ledger, the store or a model cannot be reached for now; 502/503/504: the generator of answers failed, is out of
reach, or was too slow; 504: the query pool did not answer in time. Anything else
is a bug: 500, logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    GeneratorFailed,
    MmindexError,
    ModelUnavailable,
    PermanentError,
    SourceNotFound,
    TooLarge,
    mask,
    one_line,
)
from workers.api.limits import BodyTooLarge
from workers.intakes import EXPECTED

log = logging.getLogger(__name__)


def answer(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """`{"error": message}` on one line, passwords masked."""
    return JSONResponse({"error": mask(" ".join(message.split()))[:500]}, status_code=status, headers=headers)


def invalid(errors: Any) -> str:
    """pydantic's errors in one line, each naming its field: `k: Input should be less than or equal to 1000`."""
    problems = []
    for problem in errors:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "form"))
        problems.append(f"{where or 'request'}: {problem.get('msg', 'invalid')}")
    return "; ".join(problems)


def status_of(error: BaseException) -> int:
    """The status an error raised while answering a request is answered with."""
    if isinstance(error, TooLarge | BodyTooLarge):
        return 413
    if isinstance(error, ModelUnavailable):
        return 503
    if isinstance(error, GeneratorFailed):
        return error.status
    if isinstance(error, SourceNotFound):
        return 404
    if isinstance(error, PermanentError):
        return 400
    if isinstance(error, CeleryTimeoutError | TimeoutError):
        return 504
    if isinstance(error, EXPECTED):
        return 503
    return 500


def install(app: FastAPI) -> None:
    """Answer every error in the one shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return answer(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return answer(422, invalid(error.errors()))

    async def known_error(request: Request, error: Exception) -> JSONResponse:
        status = status_of(error)
        if status == 503:
            log.warning("%s %s: %s", request.method, request.url.path, one_line(error))
        return answer(status, one_line(error))

    # Errors raised on purpose and those of services out of reach are answered here; any other exception is a bug,
    # answered 500 by the handler below, and logged by uvicorn with its traceback.
    for kind in {MmindexError, CeleryTimeoutError, TimeoutError, BodyTooLarge, *EXPECTED}:
        app.add_exception_handler(kind, known_error)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        return answer(500, "internal error (logged by the server)")
