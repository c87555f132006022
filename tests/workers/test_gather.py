"""workers/gather.py: tasks running side by side share the model's calls, and each gets its own rows back."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.config import Settings
from shared.documents import Space
from shared.errors import CorruptMedia
from shared.models import Encoder, Vectors
from shared.models.encoders import encoder_for
from workers.gather import Gatherer

TASKS = [["The ferry leaves at seven."], ["Prune roses in spring.", "Whisk the eggs."], ["Rain tonight."],
         ["The invoice was paid.", "The drummer counts in.", "A cat on the sill."], ["Bring a torch."]]  # fmt: skip


class Counted:
    """The real text model, counting the model calls it gets; the first call waits until every task has queued."""

    def __init__(self, encoder: Encoder, gate: threading.Event) -> None:
        self.encoder = encoder
        self.gate = gate
        self.calls: list[int] = []

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(len(texts))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        if any("corrupt" in text for text in texts):
            raise CorruptMedia("a corrupt input")
        return self.encoder.encode_texts(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)


@pytest.fixture(scope="module")
def text_model(minilm: Path) -> Encoder:
    return encoder_for(Space.TEXT, Settings(models={"text": str(minilm), "device": "cpu", "threads": 1}))


def run_side_by_side(gatherer: Gatherer, model: Counted, tasks: list[list[str]]) -> list[Vectors | Exception]:
    """Every task in its own thread, as the embed pool runs them; the model is held until all have queued."""
    queued = threading.Semaphore(0)

    def task(texts: list[str]) -> Vectors | Exception:
        queued.release()
        try:
            return gatherer.encode_texts(model, texts)  # type: ignore[arg-type]
        except CorruptMedia as error:
            return error

    with ThreadPoolExecutor(len(tasks)) as pool:
        futures = [pool.submit(task, texts) for texts in tasks]
        for _ in tasks:
            queued.acquire()
        threading.Timer(0.2, model.gate.set).start()  # the others queue while the first call runs
        return [future.result() for future in futures]


def test_tasks_side_by_side_share_model_calls_and_each_gets_its_own_vectors(text_model: Encoder) -> None:
    model = Counted(text_model, threading.Event())

    results = run_side_by_side(Gatherer(limit=256), model, TASKS)

    assert len(model.calls) < len(TASKS) and sum(model.calls) == sum(map(len, TASKS))  # merged, nothing twice
    for texts, vectors in zip(TASKS, results, strict=True):
        assert isinstance(vectors, np.ndarray)
        np.testing.assert_allclose(vectors, text_model.encode_texts(texts), atol=1e-5)  # its own rows, in order


def test_a_merged_call_never_exceeds_the_limit_and_every_task_is_served(text_model: Encoder) -> None:
    for _ in range(5):  # the order tasks wake in varies: a task whose turn comes may serve only those before it
        model = Counted(text_model, threading.Event())

        results = run_side_by_side(Gatherer(limit=3), model, TASKS)

        assert max(model.calls) <= 3 and sum(model.calls) == sum(map(len, TASKS))
        assert [len(vectors) for vectors in results] == [len(texts) for texts in TASKS]  # type: ignore[arg-type]


def test_a_failing_input_fails_only_its_own_task(text_model: Encoder) -> None:
    model = Counted(text_model, threading.Event())
    tasks = [*TASKS, ["a corrupt picture"]]

    results = run_side_by_side(Gatherer(limit=256), model, tasks)

    assert isinstance(results[-1], CorruptMedia)
    assert all(isinstance(vectors, np.ndarray) and len(vectors) == len(texts)
               for texts, vectors in zip(TASKS, results, strict=False))  # fmt: skip
