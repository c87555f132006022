"""Model calls gathered across tasks: the embed pool's tasks, running side by side, share the model's batches.

An event-driven system often gets one object at a time: each upload becomes a decode task, then an embed task of
one item. A model called once per item wastes most of a GPU (and much of a CPU core's vector units). The embed pool
runs several tasks at once in threads (workers/queues.py); while the model encodes one call's inputs, the other
tasks load theirs (fetching and decoding the stored thumbnails, in parallel), then queue them here. When the model
is free, the first waiting task takes everything queued for it, up to `MMINDEX_MODELS__GATHER_ITEMS` items, runs
one call, and hands each task its own rows. No timer waits for a batch to fill: a lone task runs at once, and
batches grow only when tasks arrive faster than the model serves them.

Each task still acknowledges its own message, so delivery (at least once) and idempotence are as before. A merged
call that fails is run again task by task, so that a failure is each task's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from threading import Condition
from typing import Any

import numpy as np

from shared.models import Encoder, Vectors


@dataclass
class _Request:
    inputs: Sequence[Any]
    vectors: Vectors | None = None
    error: BaseException | None = None
    done: bool = False


class Gatherer:
    """Merges concurrent calls to the same encoder and tower into one model call, up to `limit` items."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ready = Condition()
        self._waiting: dict[tuple[int, str], list[_Request]] = defaultdict(list)
        self._busy: set[tuple[int, str]] = set()
        self.calls = 0  # model calls made for gathered requests, and the items they took: how well batches fill
        self.items = 0

    def encode_images(self, encoder: Encoder, images: Sequence[Any]) -> Vectors:
        return self._encode(encoder, "image", images, encoder.encode_images)

    def encode_texts(self, encoder: Encoder, texts: Sequence[str]) -> Vectors:
        return self._encode(encoder, "text", texts, encoder.encode_texts)

    def _encode(self, encoder: Encoder, tower: str, inputs: Sequence[Any], call: Callable[[Any], Vectors]) -> Vectors:
        if not inputs or self.limit <= 1:
            return call(list(inputs))
        key = (id(encoder), tower)
        request = _Request(inputs)
        with self._ready:
            self._waiting[key].append(request)
        while True:  # until a call has served this request: this task's own, or another's that took it along
            with self._ready:
                while not request.done and key in self._busy:
                    self._ready.wait()
                if request.done:
                    return self._result(request)
                self._busy.add(key)  # this task runs the next call, for the first waiting (itself or before it)
                taken = self._take(key)
            try:
                self._run(taken, call)
            finally:
                with self._ready:
                    self._busy.discard(key)
                    self.calls += 1
                    self.items += sum(len(taken_request.inputs) for taken_request in taken)
                    self._ready.notify_all()

    def _take(self, key: tuple[int, str]) -> list[_Request]:
        """Waiting requests in arrival order, up to the limit (always at least the first)."""
        waiting = self._waiting[key]
        taken: list[_Request] = []
        items = 0
        while waiting and (not taken or items + len(waiting[0].inputs) <= self.limit):
            request = waiting.pop(0)
            taken.append(request)
            items += len(request.inputs)
        return taken

    @staticmethod
    def _run(taken: list[_Request], call: Callable[[Any], Vectors]) -> None:
        merged = [item for request in taken for item in request.inputs]
        try:
            vectors = call(merged)
        except BaseException as error:
            if len(taken) == 1:
                taken[0].error, taken[0].done = error, True
                return
            for request in taken:  # each task's own inputs again, so that a failure is its own
                try:
                    request.vectors = call(list(request.inputs))
                except BaseException as own:
                    request.error = own
                request.done = True
            return
        start = 0
        for request in taken:
            request.vectors = np.asarray(vectors[start : start + len(request.inputs)])
            start += len(request.inputs)
            request.done = True

    @staticmethod
    def _result(request: _Request) -> Vectors:
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors
