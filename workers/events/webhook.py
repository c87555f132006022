"""`mmindex events webhook`: S3-event JSON posted over HTTP, as MinIO's webhook target sends it.

Every request must carry `Authorization: Bearer <MMINDEX_EVENTS__TOKEN>`. The answer comes only after
the events were applied (their tasks queued): 200 with what was done; 400 for a body that is not an
S3 event; 401 without the token; 503 when the broker or the ledger cannot be reached, so that the
sender (MinIO queues and retries) delivers it again.
"""

from __future__ import annotations

import hmac
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.errors import PermanentError, one_line
from shared.events import MalformedEvent, parse
from shared.runtime import Runtime, get_runtime
from workers.events import event_filter
from workers.intake import apply

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024**2
"""Bytes of a request body at most (a notification holds a few records)."""


class Handler(BaseHTTPRequestHandler):
    runtime: Runtime
    token: str

    def do_POST(self) -> None:
        if not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {self.token}"):
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY} bytes"})
            return
        try:
            events = parse(self.rfile.read(length))
            applied = apply(events, event_filter(self.runtime.settings), self.runtime)
        except MalformedEvent as error:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": one_line(error)})
            return
        except Exception as error:  # broker, ledger or storage unreachable, or refusing: the sender tries again
            log.warning("could not apply events: %s", one_line(error))
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": one_line(error)})
            return
        figures = {name: len(uris) for name, uris in vars(applied).items()}
        log.info("%s", figures)
        self._answer(HTTPStatus.OK, figures)

    def do_GET(self) -> None:
        """A health check for load balancers and compose files."""
        self._answer(HTTPStatus.OK, {"status": "ok"})

    def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def server(host: str, port: int, token: str, runtime: Runtime | None = None) -> ThreadingHTTPServer:
    """A server answering on (host, port); `serve_forever()` runs it. Port 0 picks a free one."""
    if not token:
        raise PermanentError("the webhook needs a bearer token: set MMINDEX_EVENTS__TOKEN")
    handler = type("BoundHandler", (Handler,), {"runtime": runtime or get_runtime(), "token": token})
    return ThreadingHTTPServer((host, port), handler)
