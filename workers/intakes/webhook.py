"""`mmindex events webhook`: S3-event JSON posted over HTTP, as MinIO's webhook target sends it.

Every request must carry `Authorization: Bearer <MMINDEX_EVENTS__TOKEN>`. The answer comes only after
the events were applied (their tasks queued): 200 with what was done; 400 for a body that is not an
S3 event (or a malformed `Content-Length`); 401 without the token; 411 without a `Content-Length`; 413 for a
body over `MMINDEX_EVENTS__WEBHOOK_MAX_BYTES`; 503 only when the broker or the ledger cannot be reached, so
that the sender (MinIO queues and retries) delivers it again. Bad input never gets a 503: it would come again
for ever. A bug (any other error while applying) gets a 500, is logged with its traceback, and ends the
process at once (exit status 70, EX_SOFTWARE): a supervisor starts it again, and the sender sends again.

It takes a POST on any path, so a MinIO target can name `/` or `/v1/events`, the same route `mmindex serve` answers
with the same answers (workers/api/events.py). This server stays the one storage posts to where clients cannot be
trusted: uvicorn has no deadline for reading a request and answers a malformed one in plain text, where this one
answers every bad request with a JSON 4xx at once.

The server is `http.server`'s, kept from being held open by clients that never finish a request: at most
`MMINDEX_EVENTS__WEBHOOK_CONNECTIONS` connections are served at once (one thread each; a connection past the
limit is closed at once, never queued), and a client must send its headers and body within
`MMINDEX_EVENTS__WEBHOOK_TIMEOUT_S`, or its connection is shut.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

from shared.errors import PermanentError, one_line
from shared.notifications import ObjectEvent, parse
from shared.runtime import Runtime, get_runtime
from workers.intakes import EXPECTED, event_filter
from workers.intakes.submission import Applied, apply

log = logging.getLogger(__name__)

LANES = 8
"""Events of a large notification are applied this many at a time (by key, so each key keeps its order)."""


class WebhookServer(ThreadingHTTPServer):
    """A threading HTTP server with a bound on connections and a deadline for reading each request."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[Handler], *, connections: int, timeout_s: float):
        self.timeout_s = timeout_s
        self.connections = connections
        self._slots = threading.BoundedSemaphore(connections)
        self._reading: dict[socket.socket, float] = {}  # connections still sending their request → deadline
        self._lock = threading.Lock()
        self._refused = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refused += 1
            if self._refused in (1, 10, 100) or self._refused % 1000 == 0:
                log.warning(
                    "%d connections closed unserved: %d are open already (MMINDEX_EVENTS__WEBHOOK_CONNECTIONS)",
                    self._refused,
                    self.connections,
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self.done_reading(request)
            self._slots.release()

    def reading(self, connection: socket.socket) -> None:
        """`connection` has `timeout_s` from now to send its request."""
        with self._lock:
            self._reading[connection] = time.monotonic() + self.timeout_s

    def done_reading(self, connection: socket.socket) -> None:
        with self._lock:
            self._reading.pop(connection, None)

    def end_on_bug(self, error: BaseException) -> NoReturn:
        """Log a bug's traceback and end the process at once, whichever thread met it: a supervisor starts the
        webhook again, and the events of the request it failed on come again from their sender."""
        log.critical("a bug ended the webhook (a supervisor starts it again)", exc_info=error)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(os.EX_SOFTWARE)

    def service_actions(self) -> None:
        """Shut the connections whose request is late (run by `serve_forever` between polls)."""
        now = time.monotonic()
        with self._lock:
            late = [connection for connection, deadline in self._reading.items() if deadline <= now]
            for connection in late:
                del self._reading[connection]
        for connection in late:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)  # its thread's read ends at once, and the thread with it


def apply_in_lanes(events: Sequence[ObjectEvent], runtime: Runtime) -> Applied:
    """Apply the events; a large notification in lanes by key, each lane in order (the ledger's round trips,
    one per event, are what takes the time)."""
    only = event_filter(runtime.settings)
    if len(events) <= runtime.settings.ingest.sources_per_task or not runtime.settings.distributed:
        return apply(events, only, runtime)
    lanes: list[list[ObjectEvent]] = [[] for _ in range(LANES)]
    for event in events:
        lanes[zlib.crc32(event.uri.encode()) % LANES].append(event)
    with ThreadPoolExecutor(LANES, thread_name_prefix="webhook-apply") as pool:
        results = list(pool.map(lambda lane: apply(lane, only, runtime), [lane for lane in lanes if lane]))
    total = Applied()
    for result in results:
        for name, uris in vars(result).items():
            getattr(total, name).extend(uris)
    return total


class Handler(BaseHTTPRequestHandler):
    runtime: Runtime
    token: str
    max_bytes: int
    server: WebhookServer

    def setup(self) -> None:
        self.server.reading(self.request)
        super().setup()  # each read waits `timeout` at most; the server's deadline bounds them all together

    def do_POST(self) -> None:
        # The header as sent, bytes for bytes (http.server decodes it as Latin-1): a non-ASCII one is just wrong.
        sent = self.headers.get("Authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(sent, f"Bearer {self.token}".encode()):
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        length = self._length()
        if length is None:
            return
        body = self.rfile.read(length)
        self.server.done_reading(self.request)
        if len(body) < length:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"body ended after {len(body)} of {length} bytes"})
            return
        try:
            events = parse(body)
            applied = apply_in_lanes(events, self.runtime)
        except PermanentError as error:  # not an S3 event, or not one mmindex can take: sending it again is futile
            self._answer(HTTPStatus.BAD_REQUEST, {"error": one_line(error)})
            return
        except EXPECTED as error:  # broker, ledger or storage unreachable, or refusing
            log.warning("could not apply events: %s", one_line(error))
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": one_line(error)})  # the sender tries again
            return
        except Exception as error:  # a bug: answering 503 would have the sender try again for ever
            with contextlib.suppress(OSError):  # the sender may be gone; the process ends either way
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "the webhook failed on a bug and restarts"})
            self.server.end_on_bug(error)
        figures = {name: len(uris) for name, uris in vars(applied).items()}
        log.info("%s", figures)
        self._answer(HTTPStatus.OK, figures)

    def do_GET(self) -> None:
        """A health check for load balancers and compose files."""
        self.server.done_reading(self.request)
        self._answer(HTTPStatus.OK, {"status": "ok"})

    def _length(self) -> int | None:
        """The body's length as the request declares it, or None once the request was answered with why not."""
        if "Transfer-Encoding" in self.headers:
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "send the body with a Content-Length, not chunked"})
            return None
        declared = self.headers.get("Content-Length")
        if declared is None:
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "a Content-Length header is required"})
            return None
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"Content-Length {declared[:40]!r} is not a byte count"})
            return None
        length = int(declared)
        if length > self.max_bytes:
            error = f"body of {length} bytes is over {self.max_bytes} (MMINDEX_EVENTS__WEBHOOK_MAX_BYTES)"
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": error})
            return None
        return length

    def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self.server.done_reading(self.request)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def server(host: str, port: int, token: str, runtime: Runtime | None = None) -> WebhookServer:
    """A server answering on (host, port); `serve_forever()` runs it. Port 0 picks a free one."""
    if not token:
        raise PermanentError("the webhook needs a bearer token: set MMINDEX_EVENTS__TOKEN")
    runtime = runtime or get_runtime()
    events = runtime.settings.events
    handler = type(
        "BoundHandler",
        (Handler,),
        {
            "runtime": runtime,
            "token": token,
            "max_bytes": events.webhook_max_bytes,
            "timeout": events.webhook_timeout_s,
        },
    )
    return WebhookServer(
        (host, port), handler, connections=events.webhook_connections, timeout_s=events.webhook_timeout_s
    )
