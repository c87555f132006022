"""Fixtures the tests of the pipeline's stages share: this process as an embedded mmindex, and the tasks it ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import task_prerun

from shared.config import get_settings
from shared.runtime import reset_runtime
from workers.app import configure


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
def delivered() -> Iterator[list[tuple[str, Any]]]:
    """Every task message run in this process, in order: (task name, payload)."""
    seen: list[tuple[str, Any]] = []

    def record(sender: Any = None, args: Any = None, **_: Any) -> None:
        seen.append((sender.name, args[0]))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)
