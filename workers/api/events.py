"""`POST /v1/events`: S3-event JSON as MinIO's webhook target posts it, with the answers of `mmindex events webhook`.

The bearer token is MMINDEX_EVENTS__TOKEN (not an API key: it is the storage's, configured in MinIO); without one
the route is off (404). The answer comes once the events are applied (their tasks queued): 200 with what was done;
400 for a body that is not an S3 event; 401 without the token; 411 without a Content-Length; 413 over
MMINDEX_EVENTS__WEBHOOK_MAX_BYTES; 503 only when the broker or the ledger cannot be reached, so that the sender
delivers it again. A bug gets a 500, is logged with its traceback, and ends the process (exit status 70) once
the answer is sent: a supervisor starts it again, and the sender sends again. Where the senders cannot be trusted,
`mmindex events webhook` takes the same posts with a deadline for reading each request and a cap on connections.
"""

from __future__ import annotations

import hmac
import logging
import os

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from shared.errors import PermanentError, one_line
from shared.notifications import parse
from shared.runtime import Runtime
from workers.api.errors import answer
from workers.intakes import EXPECTED
from workers.intakes.webhook import apply_in_lanes

log = logging.getLogger(__name__)
router = APIRouter()


def _end_on_bug() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(os.EX_SOFTWARE)


@router.post("/v1/events", summary="S3 / MinIO event notifications (bearer MMINDEX_EVENTS__TOKEN)")
async def events(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    token = runtime.settings.events.token
    if token is None:
        return answer(404, "the events intake is off: set MMINDEX_EVENTS__TOKEN")
    sent = request.headers.get("authorization", "").encode("utf-8", "replace")
    if not hmac.compare_digest(sent, f"Bearer {token.get_secret_value()}".encode()):
        return answer(401, "missing or wrong bearer token")
    if "transfer-encoding" in request.headers:
        return answer(411, "send the body with a Content-Length, not chunked")
    if "content-length" not in request.headers:
        return answer(411, "a Content-Length header is required")
    body = await request.body()
    try:
        applied = await run_in_threadpool(lambda: apply_in_lanes(parse(body), runtime))
    except PermanentError as error:  # not an S3 event, or not one mmindex can take: sending it again is futile
        return answer(400, one_line(error))
    except EXPECTED as error:  # broker, ledger or storage unreachable, or refusing: the sender tries again
        log.warning("could not apply events: %s", one_line(error))
        return answer(503, one_line(error))
    except Exception as error:  # a bug: a 503 would have the sender try again for ever
        log.critical("a bug ended the events intake (a supervisor starts it again)", exc_info=error)
        return JSONResponse(
            {"error": "the events intake failed on a bug and restarts"},
            status_code=500,
            background=BackgroundTask(_end_on_bug),
        )
    figures = {name: len(uris) for name, uris in vars(applied).items()}
    log.info("%s", figures)
    return JSONResponse(figures)
