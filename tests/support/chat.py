"""An OpenAI-compatible chat endpoint stood in for on 127.0.0.1 (tests/support/standin.py), for the tests of `ask`:
each reply is an answer streamed in small pieces, the way the real ones stream, or an error status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.standin import Request, error, openai_stream, running_standin


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `text` streamed in pieces of `piece` characters, or an error `status`."""

    text: str = ""
    status: int = 200
    piece: int = 4


class ChatStandIn:
    def __init__(self, url: str, requests: list[Request]) -> None:
        self.url = url  # the base URL an OpenAI client is given: …/v1
        self.requests = requests  # every request sent, in order


@contextmanager
def chat_standin(*replies: Reply | str) -> Iterator[ChatStandIn]:
    """A stand-in answering `POST /v1/chat/completions` with `replies` in turn (the last one again when they run
    out), until the block ends."""
    script = []
    for reply in (reply if isinstance(reply, Reply) else Reply(reply) for reply in replies or [""]):
        if reply.status != 200:
            script.append(error(reply.status, f"stand-in says {reply.status}"))
        else:
            pieces = [reply.text[start : start + reply.piece] for start in range(0, len(reply.text), reply.piece)]
            script.append(openai_stream(*pieces))
    with running_standin(*script) as standin:
        yield ChatStandIn(standin.url + "/v1", standin.requests)
