"""The job queue over HTTP (admin keys): submit sources, follow one, the index's status, retry what failed.

Answers have the shapes of `ingest --json` (without `--wait`), `status --json` and `retry --json`. Ingestion never
runs in the request: in distributed mode the decode tasks go to the broker; in embedded mode to the server's
background worker, one thread that runs them (decode, embed, index) one group after another. A server stopped
with groups still waiting there finishes the group it is on; the others stay `queued` in the ledger, and
`mmindex retry` queues them again once they count as stranded (MMINDEX_TASKS__STRANDED_AFTER_S).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.ledger import source_id
from shared.runtime import Runtime
from shared.storage import locate
from workers.api.access import Role
from workers.intakes.submission import Send, submit
from workers.messages import DecodeMessage
from workers.reports import retry, source_report, status_report, submission_report

log = logging.getLogger(__name__)
router = APIRouter()


class Background:
    """Where the server sends decode groups: the broker (distributed), or its own background thread (embedded)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.pool = None if runtime.settings.distributed else ThreadPoolExecutor(1, thread_name_prefix="ingest")

    @property
    def send(self) -> Send | None:
        return None if self.pool is None else self._later

    def _later(self, message: DecodeMessage) -> None:
        assert self.pool is not None
        self.pool.submit(self._decode, message).add_done_callback(self._logged)

    @staticmethod
    def _decode(message: DecodeMessage) -> None:
        from workers.decode import decode

        decode.delay(message.to_message())  # without a broker: decoded, embedded and indexed right here

    @staticmethod
    def _logged(future: Future[None]) -> None:
        error = future.exception()
        if error is not None:
            log.error("background ingestion failed", exc_info=error)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


class SourcesBody(BaseModel):
    uris: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=10_000, description="Files, folders or s3://bucket/prefix URIs"
    )


@router.post("/v1/sources", status_code=202, summary="Queue new and changed sources (as `ingest --json`)")
async def submit_sources(request: Request, body: SourcesBody) -> JSONResponse:
    request.app.state.access.require(request, Role.ADMIN)
    runtime: Runtime = request.app.state.runtime
    background: Background = request.app.state.background

    def run() -> dict[str, Any]:
        return submission_report(submit(body.uris, runtime, send=background.send), runtime)

    return JSONResponse(await run_in_threadpool(run), status_code=202)


@router.get("/v1/sources", summary="One source: its state, version, reason and times")
async def source(request: Request, uri: str) -> dict[str, Any]:
    request.app.state.access.require(request, Role.ADMIN)
    runtime: Runtime = request.app.state.runtime
    where = locate(uri)
    records = await run_in_threadpool(runtime.ledger.get, [source_id(where.root, where.key)])
    if not records:
        raise HTTPException(404, f"{uri}: not a source of this index")
    return source_report(records[0])


@router.get("/v1/status", summary="Sources per state, an ETA and the failures (as `status --json`)")
async def status(request: Request) -> dict[str, Any]:
    request.app.state.access.require(request, Role.ADMIN)
    return await run_in_threadpool(status_report, request.app.state.runtime)


@router.post("/v1/retry", summary="Queue failed and stranded sources again (as `retry --json`)")
async def retry_failed(request: Request) -> dict[str, Any]:
    request.app.state.access.require(request, Role.ADMIN)
    runtime: Runtime = request.app.state.runtime
    background: Background = request.app.state.background

    def run() -> dict[str, Any]:
        return submission_report(retry(runtime, send=background.send), runtime)

    return await run_in_threadpool(run)
