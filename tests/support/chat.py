"""A stand-in for an OpenAI-compatible chat endpoint on 127.0.0.1 (the real services cannot be reached from here):
it counts the requests it gets and answers each from a script, streamed the way the real ones stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: `text` streamed in pieces of `piece` characters, or an error `status`."""

    text: str = ""
    status: int = 200
    piece: int = 4


@dataclass
class ChatStandIn:
    url: str  # the base URL an OpenAI client is given: .../v1
    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def chat_standin(*replies: Reply | str) -> Iterator[ChatStandIn]:
    """A stand-in answering `POST /v1/chat/completions` with `replies` in turn (the last one again when they run
    out), until the block ends."""
    script = [reply if isinstance(reply, Reply) else Reply(reply) for reply in replies] or [Reply("")]
    standin: ChatStandIn

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            standin.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            reply = script[min(len(standin.requests), len(script)) - 1]
            if reply.status != 200:
                error = json.dumps({"error": {"message": f"stand-in says {reply.status}", "type": "error"}}).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(error)))
                self.end_headers()
                self.wfile.write(error)
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for start in range(0, len(reply.text), reply.piece):
                delta = {"choices": [{"index": 0, "delta": {"content": reply.text[start : start + reply.piece]}}]}
                self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin = ChatStandIn(f"http://127.0.0.1:{server.server_address[1]}/v1", script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
