"""`/healthz` (the process answers), `/readyz` (it can do its work), `/v1/info` (what the page needs to know before
it asks for anything), and the search page itself at `/`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from shared.documents import Space
from shared.errors import one_line
from shared.runtime import Runtime
from shared.search import MODALITIES

router = APIRouter()
page_router = APIRouter()
STATIC = Path(__file__).parent / "static"


class Models:
    """Embedded mode: the models of the index's spaces, loaded on a thread when the server starts, so that the
    first search does not wait for them and `/readyz` can say when they are in."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.state = "not needed" if runtime.settings.distributed else "loading"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.state == "loading":
            self._thread = threading.Thread(target=self._load, name="models", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            for name in self.runtime.store.dimensions():
                self.runtime.encoder(Space(name))
            self.state = "ok"
        except Exception as error:  # said by /readyz; a search says it again, in its own answer
            self.state = one_line(error)


def _checks(runtime: Runtime, models: Models) -> dict[str, str]:
    checks: dict[str, str] = {}
    for name, probe in (
        ("broker", lambda: runtime.broker.ping() if runtime.broker is not None else None),
        ("ledger", runtime.ledger.counts),
        ("store", runtime.store.dimensions),
    ):
        try:
            probe()
            checks[name] = "ok" if name != "broker" or runtime.broker is not None else "not needed"
        except Exception as error:  # any failure is what this answers with
            checks[name] = one_line(error)
    checks["models"] = models.state
    return checks


@router.get("/healthz", summary="The server answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Broker, ledger and store reachable, models loaded")
async def readyz(request: Request) -> JSONResponse:
    checks = await run_in_threadpool(_checks, request.app.state.runtime, request.app.state.models)
    ready = all(value in ("ok", "not needed") for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@page_router.get("/v1/info", summary="Whether a key is needed, and what a search may be narrowed to")
async def info(request: Request) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    return {
        "auth": request.app.state.access.keyed,
        "modalities": list(MODALITIES),
        "distributed": runtime.settings.distributed,
    }


@page_router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")
