"""`POST /v1/ask`: a question answered from the index, citing its sources by number (shared/answers).

The search goes the way `/v1/search` goes (in-process, or through the query pool); the answer is written here, by
the server's generator (MMINDEX_GENERATOR__*, one per process). JSON by default: `ask --json`'s object, each
citation with links to its file and thumbnail. With `Accept: text/event-stream` (or `"stream": true`) the answer
is streamed as server-sent events: `sources` (the citations, before a word is written), `text` (`{"text": piece}`
each, already cleaned of numbers that name no source), then `answer` (the whole object), or `error`
(`{"error": one line}`) if the generator fails on the way."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.answers.ask import Answer, Event, answer, final
from shared.documents import Modality
from shared.errors import MmindexError, one_line
from shared.runtime import Runtime
from shared.search import Query
from workers.api.access import Access, Role

router = APIRouter()

MAX_HITS = 100
MAX_QUESTION = 4000
"""Characters of a question at most (a question, not a document)."""
log = logging.getLogger(__name__)


class AskBody(BaseModel):
    """A question as JSON."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION, description="The question, in words")
    k: int = Field(8, ge=1, le=MAX_HITS, description="How many hits the answer may draw on")
    modalities: list[Modality] = Field(default_factory=list, description="Only hits of these modalities")
    prefix: str | None = Field(None, description="Only sources whose URI starts with this")
    min_relevance: float | None = Field(
        None, ge=0, le=1, description="Drop hits less relevant (0-1); default MMINDEX_SEARCH__MIN_RELEVANCE"
    )
    stream: bool = Field(False, description="Stream the answer as server-sent events (as `Accept: text/event-stream`)")

    @field_validator("question")
    @classmethod
    def _words(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("must not be empty")
        return question


def _linked(citations: list[dict[str, Any]], access: Access) -> list[dict[str, Any]]:
    for citation in citations:
        citation["media_url"] = access.link(citation["uri"])
        citation["thumbnail_url"] = access.link(citation["thumbnail"]) if citation.get("thumbnail") else None
    return citations


def _event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


@router.post("/v1/ask", summary="Answer a question from the index, citing its sources (JSON or server-sent events)")
async def ask(request: Request) -> Any:
    request.app.state.access.require(request, Role.SEARCH)
    try:
        body = AskBody.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    access: Access = request.app.state.access
    runtime: Runtime = request.app.state.runtime
    query = Query(
        text=body.question,
        k=body.k,
        modalities=[modality.value for modality in body.modalities],
        source_prefix=body.prefix,
        min_relevance=body.min_relevance,
    )
    started = time.perf_counter()
    hits = await request.app.state.searcher.search(query)
    events = answer(
        body.question,
        hits,
        runtime.generator,
        runtime.settings.generator,
        picture=runtime.picture,
        retrieval_s=round(time.perf_counter() - started, 4),
    )
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _streamed(events, access), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )
    result: Answer = await run_in_threadpool(final, events)
    public = result.public()
    _linked(public["citations"], access)
    return JSONResponse(public)


async def _streamed(events: Iterator[Event], access: Access) -> AsyncIterator[bytes]:
    """The events as server-sent events; a failure on the way is the last one, `error`, in one line."""
    try:
        async for kind, value in iterate_in_threadpool(events):
            if kind == "sources":
                yield _event("sources", _linked(value, access))
            elif kind == "text":
                yield _event("text", {"text": value})
            else:
                public = value.public()
                _linked(public["citations"], access)
                yield _event("answer", public)
    except MmindexError as error:
        yield _event("error", {"error": one_line(error)})
    except Exception:  # a bug: the stream still ends in the one shape, and the server logs the traceback
        log.exception("POST /v1/ask: the answer failed on the way")
        yield _event("error", {"error": "internal error (logged by the server)"})
