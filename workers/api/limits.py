"""Request bodies are bounded before they are read: 413 for a declared length over the limit, and for a body
that runs past it while it streams (chunked, or lying about its length)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.config import Settings

DRAIN_BYTES = 64 * 1024**2
"""A body refused for its size is read and dropped up to this much before the 413 is sent, so that the client,
still sending, reads the answer instead of a reset connection (closing a socket with unread data resets it)."""
DRAIN_WAIT_S = 1.0
"""...but never waiting longer than this for the next part: a client that declares a large body and sends none
gets its 413 at once."""


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: JSON bodies up to MMINDEX_API__MAX_BODY_BYTES, multipart uploads up to
    MMINDEX_API__MAX_UPLOAD_BYTES, storage events up to MMINDEX_EVENTS__WEBHOOK_MAX_BYTES."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, scope: Scope) -> tuple[int, str]:
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        if scope["path"] == "/v1/events":
            return self.settings.events.webhook_max_bytes, "MMINDEX_EVENTS__WEBHOOK_MAX_BYTES"
        if headers.get(b"content-type", b"").startswith(b"multipart/"):
            return self.settings.api.max_upload_bytes, "MMINDEX_API__MAX_UPLOAD_BYTES"
        return self.settings.api.max_body_bytes, "MMINDEX_API__MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._drain(receive)
            await self._refuse(send, f"body of {int(declared)} bytes is over {limit} ({setting})")
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(f"body over {limit} bytes ({setting})")
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as error:
            if not started:
                await self._drain(receive)
                await self._refuse(send, str(error))

    @staticmethod
    async def _drain(receive: Receive) -> None:
        drained = 0
        while drained <= DRAIN_BYTES:
            try:
                message = await asyncio.wait_for(receive(), DRAIN_WAIT_S)
            except TimeoutError:
                return
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    @staticmethod
    async def _refuse(send: Send, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
