"""What the intake tests share: waiting on what `mmindex status` reports, S3 event records as AWS sends them,
and an intake's own environment (no workers, no models) with the `mmindex` command whose `apply` has a bug.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.cli import Cli
from tests.support.services import free_port

WAIT_S = 120.0
TOKEN = "s3cret"


def status(cli: Cli) -> dict[str, Any]:
    result: dict[str, Any] = cli.json("status")
    return result


def until(
    condition: Callable[[], bool], what: str, timeout: float = WAIT_S, detail: Callable[[], str] = lambda: ""
) -> None:
    """Wait for `condition`; fail after `timeout` s saying what was awaited (and `detail()`, such as a log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}\n{detail()}".rstrip()
        time.sleep(0.5)


def record(bucket: str, key: str, name: str, etag: str | None, sequencer: str) -> dict[str, Any]:
    """One S3 notification record as AWS sends it (key URL-encoded)."""
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if etag is not None:
        obj.update(eTag=etag, size=1000)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }


BUGGY = """
import runpy
import sys

import workers.intakes.sqs
import workers.intakes.webhook


def apply(*args, **kwargs):
    raise TypeError("a bug in apply")


workers.intakes.sqs.apply = workers.intakes.webhook.apply = apply
script, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""
"""The real `mmindex` command, with the `apply` the intakes call replaced by one with a bug."""


def intake_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """An intake's environment, without workers or models: applying is all it does."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(MMINDEX_HOME=str(tmp_path / "home"), MMINDEX_EVENTS__TOKEN=TOKEN, MMINDEX_EVENTS__LINGER_S="0.3")
    env.update({f"MMINDEX_{name.upper()}": value for name, value in settings.items()})
    return env


def dead_broker() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
