"""The real `mmindex serve`, started on a free port of 127.0.0.1 and stopped by its PID however the block ends."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import BIN, free_port, stop

READY_S = 120.0
"""How long the server may take to answer /readyz (it loads the models first)."""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[Any]
    log: Path

    def client(self, key: str | None = None, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def running_api(env: dict[str, str], log: Path, *args: str, ready: bool = True) -> Iterator[Server]:
    """`mmindex serve --port P [args]` until the block ends; waits for /healthz (and /readyz when `ready`)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN / "mmindex"), "serve", "--port", str(port), *args], env=env, stdout=sink, stderr=sink
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait(server, "/readyz" if ready else "/healthz")
        yield server
    finally:
        stop(process)


def until_finished(client: httpx.Client, uri: str, timeout: float = 240.0) -> dict[str, Any]:
    """`GET /v1/sources?uri=` until the source is done, failed or dead; its record then."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/v1/sources", params={"uri": uri})
        record: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        if record.get("state") in ("done", "failed", "dead"):
            return record
        assert time.monotonic() < deadline, f"{uri} not finished after {timeout:.0f} s: {answer.text}"
        time.sleep(0.3)


def _wait(server: Server, path: str) -> None:
    deadline = time.monotonic() + READY_S
    last = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"mmindex serve exited with {server.process.returncode}: {server.output()}")
        try:
            answer = httpx.get(server.url + path, timeout=5)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.TransportError as error:
            last = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"{path} not ready after {READY_S:.0f} s: {last}; {server.output()}")


def events(text: str) -> list[tuple[str, Any]]:
    """A server-sent event stream's events as (event, data) pairs, the data parsed as JSON."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((fields["event"], json.loads(fields["data"])))
    return found
