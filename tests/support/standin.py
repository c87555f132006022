"""A stand-in HTTP service on 127.0.0.1 for the remote ones the tests cannot reach (Gemini, OpenAI-compatible chat).

It records every request it is sent and answers each from a script the test gives, in order: a status, headers, and
a body, or server-sent events written one by one (a stream). When the script runs out, its last answer is given
again. Started on a free port and stopped, its handlers woken from any delay, when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `events` (each a `data:` line's payload) make it a stream, else `body` is sent whole."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """A dict or list is sent as JSON, a str or bytes as it is."""
    events: Sequence[Any] | None = None
    """Payloads of server-sent events: a dict is written as JSON, a str as it is (`[DONE]`)."""
    delay_s: float = 0.0
    """How long to wait before answering (a slow service)."""
    event_delay_s: float = 0.0
    """How long to wait before each event of a stream (a service that writes slowly)."""


@dataclass(frozen=True)
class Request:
    """One request the stand-in was sent."""

    method: str
    path: str
    """The path with its query."""
    headers: dict[str, str]
    """Names in lower case."""
    body: Any
    """The JSON body, parsed; None when there was none."""


def sse(*payloads: Any, event_delay_s: float = 0.0) -> Reply:
    """A stream of server-sent events."""
    return Reply(200, {"Content-Type": "text/event-stream"}, events=payloads, event_delay_s=event_delay_s)


def gemini_stream(*pieces: str, event_delay_s: float = 0.0) -> Reply:
    """An answer in Gemini's streamed format (`streamGenerateContent?alt=sse`), one event a piece."""
    return sse(
        *({"candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}]} for piece in pieces),
        event_delay_s=event_delay_s,
    )


def openai_stream(*pieces: str, model: str = "chat-test", event_delay_s: float = 0.0) -> Reply:
    """An answer in the OpenAI chat completions' streamed format, one chunk a piece, then `[DONE]`."""
    chunks: list[Any] = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}],
        }
        for piece in pieces
    ]
    chunks.append("[DONE]")
    return sse(*chunks, event_delay_s=event_delay_s)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """An error answer shaped as both Google's and OpenAI's APIs shape theirs."""
    return Reply(status, headers or {}, body={"error": {"code": status, "message": message, "status": "ERROR"}})


class Standin:
    """The running stand-in: its base URL and the requests it has been sent."""

    def __init__(self, script: Sequence[Reply]) -> None:
        if not script:
            raise ValueError("a stand-in needs at least one reply")
        self.script = list(script)
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))  # a free port
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
        )

    def take(self, request: Request) -> Reply:
        """Record `request`; the scripted reply to it."""
        with self._lock:
            self.requests.append(request)
            return self.script[min(len(self.requests), len(self.script)) - 1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command,
                self.path,
                {name.lower(): value for name, value in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            reply = standin.take(request)
            if reply.delay_s and standin.stopping.wait(reply.delay_s):
                return  # the test is over: nobody waits for this answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.events is not None:
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for payload in reply.events:
                    if reply.event_delay_s and standin.stopping.wait(reply.event_delay_s):
                        return
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    self.wfile.write(f"data: {data}\r\n\r\n".encode())
                    self.wfile.flush()
                return
            body = reply.body
            if isinstance(body, dict | list):
                body = json.dumps(body)
                if not any(name.lower() == "content-type" for name in reply.headers):
                    self.send_header("Content-Type", "application/json")
            content: bytes = body.encode() if isinstance(body, str) else (body or b"")
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads `requests`
            pass

    return Handler


@contextmanager
def running_standin(*script: Reply) -> Iterator[Standin]:
    """A stand-in answering with `script`, in order (its last reply again once it runs out); stopped at the end."""
    standin = Standin(script)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def one_line(error: BaseException) -> str:
    """The message of `error`, checked to be the single line a failure is told in."""
    message = str(error)
    assert message and "\n" not in message, f"not one line: {message!r}"
    return message
