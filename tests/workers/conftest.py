"""Fixtures the tests of the pipeline's stages share: this process as an embedded mmindex, sources ingested by it,
and the tasks it ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_prerun

from shared.config import get_settings
from shared.runtime import get_runtime, reset_runtime
from workers.app import configure
from workers.intakes.submission import outcome, submit


@pytest.fixture
def embedded(mmindex_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as an embedded-mode mmindex: tasks run in-process."""
    for name, value in mmindex_env.items():
        if name.startswith("MMINDEX_"):
            monkeypatch.setenv(name, value)
    reset_runtime()
    configure(get_settings())
    yield
    reset_runtime()


@pytest.fixture
def ingested(embedded: None) -> Callable[..., list[str]]:
    """`ingested(PATH...)` does in this process what `mmindex ingest PATH...` does, on the same index as the `cli`
    fixture's command, and returns the uris indexed; it checks that every source ended done, or that `failed=N`
    of them failed. For the setup of a test whose subject is what it runs next (each `mmindex` process spends
    seconds loading its libraries and models)."""

    def ingest(*paths: Path, failed: int = 0) -> list[str]:
        runtime = get_runtime()
        submission = submit([str(path) for path in paths], runtime)
        assert submission.queued and not submission.unlisted, submission
        indexed, failures, pending = outcome(runtime.ledger.get(submission.ids))
        assert not pending and len(failures) == failed, failures
        return indexed

    return ingest


@pytest.fixture
def delivered() -> Iterator[list[tuple[str, Any]]]:
    """Every task message run in this process, in order: (task name, payload)."""
    seen: list[tuple[str, Any]] = []

    def record(sender: Any = None, args: Any = None, **_: Any) -> None:
        seen.append((sender.name, args[0]))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)
