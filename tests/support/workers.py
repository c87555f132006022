"""Real `mmindex worker` processes, one per pool, for the tests, the benchmarks and the README's screenshot.

`running_workers` starts them, returns once each answers a ping, and stops them by PID when the block ends,
whatever happens; `start_workers` leaves the stopping to the caller (a test that stops one on purpose).
`stop_together` stops processes side by side, not one after another: a worker takes seconds to shut down.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

from tests.support.services import BIN

POOLS = ("decode", "embed", "index", "query")
"""Every worker pool, as `mmindex worker POOL` names them."""
TEST_OPTIONS: Mapping[str, Sequence[str]] = {"decode": ("--concurrency", "2")}
"""Options per pool beyond the configured defaults: two decode processes, so that one slow source does not
hold the rest."""
READY_S = 90.0
STOP_S = 20.0


@dataclass
class Workers:
    """One real Celery worker process per pool, each consuming its queue, its output in `logs/POOL.log`."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen[str]]
    logs: Path

    def alive(self) -> dict[str, bool]:
        return {pool: process.poll() is None for pool, process in self.processes.items()}

    def log(self, pool: str) -> str:
        return (self.logs / f"{pool}.log").read_text(errors="replace")

    def check(self) -> None:
        """Raise, with the end of its log, if a worker has exited."""
        for pool, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"worker {pool} exited with {process.returncode}: {self.log(pool)[-2000:]}")

    def stop(self, timeout: float = STOP_S) -> None:
        """Stop every worker by its PID: SIGTERM to all, then SIGKILL to any still running after `timeout` s."""
        stop_together(self.processes.values(), timeout)


def stop_together(processes: Iterable[subprocess.Popen[Any]], timeout: float = STOP_S) -> None:
    """Stop processes we started, by their PIDs: SIGTERM to every one still running, then SIGKILL to any still
    running `timeout` s later. They shut down side by side (a worker takes seconds), not one after another."""
    started = list(processes)
    for process in started:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in started:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_workers(
    env: dict[str, str],
    logs: Path,
    pools: Sequence[str] = POOLS,
    *,
    hostname: str = "{pool}@test",
    options: Mapping[str, Sequence[str]] = TEST_OPTIONS,
    command: Sequence[str] = (str(BIN / "mmindex"),),
    ping_with: Any = None,
    ready_s: float = READY_S,
) -> Workers:
    """Start `COMMAND worker POOL --hostname HOSTNAME` for each pool with `env`; return once every one answers a
    ping (through the Celery app `ping_with`, else one on `env`'s MMINDEX_BROKER_URL).

    The caller stops them (`Workers.stop`, or `running_workers` around it). If one exits or they are not all
    ready in `ready_s` seconds, every one started is stopped and the error raised.
    """
    logs.mkdir(parents=True, exist_ok=True)
    names = {pool: hostname.format(pool=pool) for pool in pools}
    processes: dict[str, subprocess.Popen[str]] = {}
    for pool in pools:
        with (logs / f"{pool}.log").open("w") as out:
            processes[pool] = subprocess.Popen(
                [*command, "worker", pool, "--hostname", names[pool], *options.get(pool, ())],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
    workers = Workers(env=env, processes=processes, logs=logs)
    try:
        wait_until_ready(workers, set(names.values()), ping_with, ready_s)
    except BaseException:
        workers.stop()
        raise
    return workers


def wait_until_ready(workers: Workers, hostnames: set[str], ping_with: Any, ready_s: float) -> None:
    """Return once every worker of `hostnames` answers a ping; raise if one exits or `ready_s` passes first."""
    probe = ping_with or Celery(broker=workers.env["MMINDEX_BROKER_URL"])
    waiting = set(hostnames)
    deadline = time.monotonic() + ready_s
    try:
        while waiting:
            workers.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers not ready after {ready_s:.0f} s: {', '.join(sorted(waiting))}")
            for reply in probe.control.ping(destination=sorted(waiting), timeout=1.0):
                waiting -= set(reply)
    finally:
        if ping_with is None:
            probe.close()


@contextmanager
def running_workers(
    env: dict[str, str], logs: Path, pools: Sequence[str] = POOLS, *, stop_s: float = STOP_S, **options: Any
) -> Iterator[Workers]:
    """`start_workers(env, logs, pools, **options)` for the block; every worker is stopped by its PID when it
    ends, however it ends (SIGKILL for one still running `stop_s` seconds after SIGTERM)."""
    workers = start_workers(env, logs, pools, **options)
    try:
        yield workers
    finally:
        workers.stop(stop_s)
