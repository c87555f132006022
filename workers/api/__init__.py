"""The HTTP API and search page, `mmindex serve`: FastAPI on uvicorn.

One app, made by `create_app` for a process's runtime: search (`search`), answers with citations (`ask`), the job
queue (`sources`), the files of hits (`files`), storage notifications (`events`), health and the page (`health`).
Who may call what is `access`; errors are answered in one shape (`errors`); bodies are bounded (`limits`).
`/openapi.json` and `/docs` are FastAPI's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from shared.runtime import Runtime
from workers.api import ask, errors, events, files, health, search, sources
from workers.api.access import Access
from workers.api.limits import BodyLimit


def create_app(runtime: Runtime) -> FastAPI:
    """The app for `runtime` (the process's: its ledger and store opened, its models loaded on a thread)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.models.start()
        try:
            yield
        finally:
            app.state.searcher.close()
            app.state.background.close()

    app = FastAPI(
        title="mmindex",
        summary="Search images, video, recordings and documents by meaning",
        version="1",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.access = Access(runtime.settings.api)
    app.state.searcher = search.searcher_for(runtime)
    app.state.background = sources.Background(runtime)
    app.state.models = health.Models(runtime)
    errors.install(app)
    app.add_middleware(BodyLimit, settings=runtime.settings)
    if runtime.settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.api.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Range"],
        )
    for router in (
        search.router,
        ask.router,
        sources.router,
        files.router,
        events.router,
        health.router,
        health.page_router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=health.STATIC), name="static")
    return app
