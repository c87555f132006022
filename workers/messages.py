"""What the stages send each other: one message type per pipeline stage, and their wire format.

A task takes one JSON dict; this module is the only one that knows its keys. Every pipeline message names the
source versions it works for under `sources` ([id, version] pairs), so that a task that gives up can mark them
failed whatever stage it is:

| stage | message | keys |
|---|---|---|
| decode | `DecodeMessage` | `sources`; for one window of a long video or recording also `window`, `kind` |
| embed | `EmbedMessage` | `sources`, `items`; for a rebuild also `generation` |
| index | `IndexMessage` | `sources`, `items`, `model`, `vectors` (float32, base64), `generation`, `rebuild` |

A rebuild's messages (`mmindex reindex`) name the generation they fill and no sources: the sources are done, and a
rebuild that gives up on a batch must not fail them (the rebuild finds what is missing when it runs again).

The keys are a contract with the messages already queued: a change must still read what was sent before it.
The query stage's message is `shared.search.Query`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.documents import Item
from shared.lifecycle import Source
from shared.media import MediaKind
from shared.models import Vectors, pack, unpack
from workers.queues import Queue

Payload = dict[str, Any]
"""A task's one argument, as it travels: a JSON dict."""


def sources_of(payload: Payload) -> list[Source]:
    """The source versions a pipeline message names, read without decoding the rest of it (what a task that gives
    up marks failed, and what the sweeper looks for in the queues)."""
    return [(str(id), str(version)) for id, version in payload.get("sources", [])]


def sources_in(items: Iterable[Item]) -> list[Source]:
    """The source versions of `items`, sorted, each once."""
    return sorted({(item.source_id, item.version) for item in items})


@dataclass(frozen=True)
class Window:
    """One part of a long video or recording: [start_s, end_s), part `part` of `parts`."""

    part: int
    parts: int
    start_s: float
    end_s: float | None  # None: to the end of the file

    def to_message(self) -> list[float | int | None]:
        return [self.part, self.parts, self.start_s, self.end_s]

    @classmethod
    def from_message(cls, data: list[float | int | None]) -> Window:
        part, parts, start_s, end_s = data
        assert part is not None and parts is not None and start_s is not None
        return cls(int(part), int(parts), float(start_s), None if end_s is None else float(end_s))


class StageMessage(Protocol):
    """What every pipeline message has: the source versions it works for, and its size in its stage's unit."""

    @property
    def sources(self) -> list[Source]: ...

    @property
    def units(self) -> int: ...

    def to_message(self) -> Payload: ...


@dataclass
class DecodeMessage:
    """Sources to decode whole; or, with `window` and `kind`, one window of a long one planned as that kind."""

    sources: list[Source]
    window: Window | None = None
    kind: MediaKind | None = None

    @property
    def units(self) -> int:
        return len(self.sources)

    def to_message(self) -> Payload:
        message: Payload = {"sources": list(self.sources)}
        if self.window is not None:
            message.update(window=self.window.to_message(), kind=self.kind)
        return message

    @classmethod
    def from_message(cls, data: Payload) -> DecodeMessage:
        window = Window.from_message(data["window"]) if data.get("window") else None
        kind = MediaKind(data["kind"]) if data.get("kind") else None
        return cls(sources_of(data), window, kind)


@dataclass
class EmbedMessage:
    """A batch of one space's items to embed: for every generation ingestion writes to (`generation` None), or for
    one generation a rebuild fills."""

    sources: list[Source]
    items: list[Item]
    generation: int | None = None

    @classmethod
    def of(cls, items: list[Item]) -> EmbedMessage:
        return cls(sources_in(items), items)

    @classmethod
    def rebuild(cls, items: list[Item], generation: int) -> EmbedMessage:
        return cls([], items, generation)

    @property
    def units(self) -> int:
        return len(self.items)

    def to_message(self) -> Payload:
        message: Payload = {"sources": self.sources, "items": [item.to_message() for item in self.items]}
        if self.generation is not None:
            message["generation"] = self.generation
        return message

    @classmethod
    def from_message(cls, data: Payload) -> EmbedMessage:
        return cls(sources_of(data), [Item.from_message(item) for item in data["items"]], data.get("generation"))


@dataclass
class IndexMessage:
    """A batch of items with their vectors (one row per item) from the model `model`, to write to generation
    `generation` of their space (None: the serving one); a `rebuild`'s names no sources."""

    sources: list[Source]
    items: list[Item]
    model: str
    vectors: Vectors
    generation: int | None = None
    rebuild: bool = False

    @classmethod
    def of(
        cls, items: list[Item], model: str, vectors: Vectors, generation: int | None = None, rebuild: bool = False
    ) -> IndexMessage:
        return cls([] if rebuild else sources_in(items), items, model, vectors, generation, rebuild)

    @property
    def units(self) -> int:
        return len(self.items)

    def to_message(self) -> Payload:
        return {
            "sources": self.sources,
            "items": [item.to_message() for item in self.items],
            "model": self.model,
            "vectors": pack(self.vectors),
            "generation": self.generation,
            "rebuild": self.rebuild,
        }

    @classmethod
    def from_message(cls, data: Payload) -> IndexMessage:
        items = [Item.from_message(item) for item in data["items"]]
        vectors = unpack(data["vectors"], len(items))
        return cls(sources_of(data), items, data["model"], vectors, data.get("generation"), bool(data.get("rebuild")))


MESSAGES: dict[Queue, type[DecodeMessage] | type[EmbedMessage] | type[IndexMessage]] = {
    Queue.DECODE: DecodeMessage,
    Queue.EMBED: EmbedMessage,
    Queue.INDEX: IndexMessage,
}
"""The message each pipeline stage's tasks take (the query stage's is `shared.search.Query`)."""
