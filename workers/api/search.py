"""`GET|POST /v1/search`: a text, image or spoken query, answered with time-coded hits and links to their files.

Two searchers behind one protocol: in embedded mode the server answers in-process on a pool of threads (the models
loaded once, so the second search costs only the search); in distributed mode the query goes to the query pool
through the broker. Both give up after MMINDEX_TASKS__QUERY_TIMEOUT_S (504).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Request
from fastapi import Query as Param
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile

from shared.documents import Modality, SearchMode
from shared.errors import PermanentError
from shared.runtime import Runtime
from shared.search import Query, audio_query, image_query, run_query
from shared.stores import MAX_K
from workers.api.access import Access, Role

router = APIRouter()


class Searcher(Protocol):
    async def search(self, query: Query) -> list[dict[str, Any]]:
        """Hits in `search --json`'s shape, best first."""
        ...

    def close(self) -> None: ...


class InProcessSearcher:
    """Embedded mode: `shared.search.run_query` on the server's own threads, with the process's models."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.pool = ThreadPoolExecutor(runtime.settings.api.search_threads, thread_name_prefix="search")

    async def search(self, query: Query) -> list[dict[str, Any]]:
        future = self.pool.submit(lambda: [hit.public() for hit in run_query(query, self.runtime)])
        return await asyncio.wait_for(asyncio.wrap_future(future), self.runtime.settings.tasks.query_timeout_s)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class PoolSearcher:
    """Distributed mode: the query travels to the query pool (`mmindex worker query`) through the broker."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def search(self, query: Query) -> list[dict[str, Any]]:
        from workers.query import search as search_task

        timeout_s = self.runtime.settings.tasks.query_timeout_s

        def ask() -> list[dict[str, Any]]:
            self.runtime.broker.ping()  # a broker that is down is a 503 now, not a publish retried for long
            result = search_task.apply_async(args=[query.to_message()])
            try:
                hits: list[dict[str, Any]] = result.get(timeout=timeout_s, propagate=True)
            finally:
                result.forget()
            return hits

        return await run_in_threadpool(ask)

    def close(self) -> None:
        pass


def searcher_for(runtime: Runtime) -> Searcher:
    return PoolSearcher(runtime) if runtime.settings.distributed else InProcessSearcher(runtime)


class SearchBody(BaseModel):
    """A search as JSON: one of `text`, `image` (base64) or `audio` (base64)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="What to look for, in words")
    image: str | None = Field(None, description="An example image, base64: find images and video moments like it")
    audio: str | None = Field(None, description="A recording, base64: search with the words said in it (first 30 s)")
    k: int = Field(10, ge=1, le=MAX_K, description="How many hits")
    modalities: list[Modality] = Field(default_factory=list, description="Only hits of these modalities")
    prefix: str | None = Field(None, description="Only sources whose URI starts with this")
    mode: SearchMode | None = Field(None, description="dense, lexical or hybrid; default MMINDEX_SEARCH__MODE")
    min_relevance: float | None = Field(
        None, ge=0, le=1, description="Drop hits less relevant (0-1); default MMINDEX_SEARCH__MIN_RELEVANCE"
    )

    @field_validator("text")
    @classmethod
    def _words(cls, text: str | None) -> str | None:
        if text is not None and not text.strip():
            raise ValueError("must not be empty")
        return text


def _one_query(body: SearchBody, image: bytes | None, audio: bytes | None, names: dict[str, str]) -> Query:
    """The Query for a request with exactly one of text, image and recording (decoding an upload is CPU work:
    called on a thread)."""
    given = [name for name, value in (("text", body.text), ("image", image), ("audio", audio)) if value]
    if len(given) != 1:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "give exactly one of text, image or audio", "type": "value_error"}]
        )
    modalities = [modality.value for modality in body.modalities]
    mode = None if body.mode is None else body.mode.value
    if mode == SearchMode.LEXICAL and not body.text:
        raise PermanentError(f"mode lexical searches by words: give text, not {given[0]}")
    if body.text:
        return Query(
            text=body.text,
            k=body.k,
            modalities=modalities,
            source_prefix=body.prefix,
            mode=mode,
            min_relevance=body.min_relevance,
        )
    data, kind = (image, "image") if image else (audio, "audio")
    assert data is not None
    with tempfile.TemporaryDirectory(prefix="mmindex-query-") as folder:
        path = Path(folder) / "query"
        path.write_bytes(data)
        name = names.get(kind) or f"the {kind}"
        prepare = image_query if kind == "image" else audio_query
        query = prepare(path, k=body.k, modalities=modalities, name=name)
    query.source_prefix, query.mode, query.min_relevance = body.prefix, mode, body.min_relevance
    return query


def _decoded(field: str, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PermanentError(f"{field}: not valid base64") from None


async def _form_query(request: Request) -> tuple[SearchBody, bytes | None, bytes | None, dict[str, str]]:
    limit = request.app.state.runtime.settings.api.max_upload_bytes
    form = await request.form(max_files=2, max_fields=32, max_part_size=limit)
    fields: dict[str, Any] = {"modalities": form.getlist("modality") + form.getlist("modalities")}
    for name in ("text", "k", "prefix", "mode", "min_relevance"):
        value = form.get(name)
        if isinstance(value, str) and value != "":
            fields[name] = value
    try:
        body = SearchBody.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    uploads: dict[str, bytes | None] = {"image": None, "audio": None}
    names: dict[str, str] = {}
    for kind in ("image", "audio"):
        upload = form.get(kind)
        if isinstance(upload, UploadFile):
            uploads[kind] = await upload.read()
            names[kind] = PurePosixPath(upload.filename or kind).name
            if not uploads[kind]:
                raise PermanentError(f"{names[kind]}: the file is empty")
    return body, uploads["image"], uploads["audio"], names


def _answer(request: Request, hits: list[dict[str, Any]], started: float) -> JSONResponse:
    access: Access = request.app.state.access
    for hit in hits:
        hit["name"] = PurePosixPath(hit["uri"]).name
        hit["media_url"] = access.link(hit["uri"])
        hit["thumbnail_url"] = access.link(hit["thumbnail"]) if hit.get("thumbnail") else None
    # Plain JSON types already: answered as they are, without FastAPI's encoding pass over every hit.
    return JSONResponse({"hits": hits, "took_ms": round((time.perf_counter() - started) * 1000, 1)})


@router.get("/v1/search", summary="Search by text")
async def search_get(
    request: Request,
    q: Annotated[str, Param(min_length=1, description="What to look for, in words")],
    *,
    k: Annotated[int, Param(ge=1, le=MAX_K, description="How many hits")] = 10,
    modality: Annotated[list[Modality] | None, Param(description="Only hits of these modalities")] = None,
    prefix: Annotated[str | None, Param(description="Only sources whose URI starts with this")] = None,
    mode: Annotated[SearchMode | None, Param(description="dense, lexical or hybrid")] = None,
    min_relevance: Annotated[float | None, Param(ge=0, le=1, description="Drop hits less relevant (0-1)")] = None,
) -> JSONResponse:
    request.app.state.access.require(request, Role.SEARCH)
    started = time.perf_counter()
    try:
        body = SearchBody(text=q, k=k, modalities=modality or [], prefix=prefix, mode=mode, min_relevance=min_relevance)
    except ValidationError as error:
        raise RequestValidationError([{**problem, "loc": ("q",)} for problem in error.errors()]) from None
    hits = await request.app.state.searcher.search(_one_query(body, None, None, {}))
    return _answer(request, hits, started)


@router.post(
    "/v1/search",
    summary="Search by text, an example image or a recording",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": SearchBody.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "image": {"type": "string", "format": "binary"},
                            "audio": {"type": "string", "format": "binary"},
                            "k": {"type": "integer"},
                            "modality": {"type": "array", "items": {"type": "string"}},
                            "prefix": {"type": "string"},
                            "mode": {"type": "string", "enum": [mode.value for mode in SearchMode]},
                            "min_relevance": {"type": "number"},
                        },
                    }
                },
            },
            "required": True,
        }
    },
)
async def search_post(request: Request) -> JSONResponse:
    request.app.state.access.require(request, Role.SEARCH)
    started = time.perf_counter()
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        body, image, audio, names = await _form_query(request)
    else:
        try:
            body = SearchBody.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from None
        image, audio, names = _decoded("image", body.image), _decoded("audio", body.audio), {}
    query = await run_in_threadpool(_one_query, body, image, audio, names)
    hits = await request.app.state.searcher.search(query)
    return _answer(request, hits, started)
