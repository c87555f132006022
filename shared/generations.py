"""Generations: which model's vectors a space holds, and which of them searches read.

Each space's vectors belong to a generation: the model that made them (its name or path, and a fingerprint of its
weights), their dimension, and a state. A space serves one generation at a time; searches read only that one.
`mmindex reindex` builds another beside it (`building`), from what the index already holds, while ingestion writes to
both; `mmindex models swap` makes the new one serve and retires the old one, `rollback` serves the previous one
again, `drop` removes a retired one.

A `Lineage` is one space's generations, as a store keeps them in one record, so that a swap changes them in one
write (a file replaced in one rename on the embedded store, one document on OpenSearch). The transitions here are
pure: they check what may change and return the new lineage; a store persists it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.documents import Space
from shared.errors import PermanentError


class GenerationState(StrEnum):
    """Where a generation is in its life."""

    BUILDING = "building"  # being filled by a rebuild; written to by ingestion, never searched
    SERVING = "serving"  # what searches read; one per space
    RETIRED = "retired"  # served once; kept for a rollback until dropped


@dataclass(frozen=True)
class Generation:
    """One model's vectors of one space, in the store's table or index `location`."""

    space: Space
    number: int
    model: str | None  # the model's name or path as configured; None: written before generations were recorded
    dimension: int
    state: GenerationState
    location: str
    fingerprint: str | None = None  # of the model's weights (`fingerprint`); None: not measured
    created: str = ""  # ISO 8601, UTC

    @property
    def name(self) -> str:
        return f"g{self.number}"

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "space": self.space.value, "state": self.state.value}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Generation:
        return cls(**{**data, "space": Space(data["space"]), "state": GenerationState(data["state"])})

    def takes(self, model: str | None) -> bool:
        """Whether vectors of `model` belong here (a generation that recorded no model takes any)."""
        return self.model is None or model is None or self.model == model


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Lineage:
    """One space's generations, and the one served before the serving one (what `rollback` returns to)."""

    space: Space
    generations: tuple[Generation, ...] = ()
    previous: int | None = None
    last: int = 0  # the highest number ever given, so that a dropped generation's number is not given again

    @property
    def serving(self) -> Generation | None:
        return next((g for g in self.generations if g.state is GenerationState.SERVING), None)

    @property
    def live(self) -> list[Generation]:
        """The generations that ingestion writes to: the serving one first, then any being built."""
        serving = [g for g in self.generations if g.state is GenerationState.SERVING]
        return serving + [g for g in self.generations if g.state is GenerationState.BUILDING]

    def get(self, number: int) -> Generation:
        for generation in self.generations:
            if generation.number == number:
                return generation
        known = ", ".join(g.name for g in self.generations) or "none"
        raise PermanentError(f"the {self.space.value} space has no generation g{number} (it has: {known})")

    def next_number(self) -> int:
        return max([self.last, *(g.number for g in self.generations)]) + 1

    def record(self) -> dict[str, Any]:
        return {
            "space": self.space.value,
            "previous": self.previous,
            "last": self.last,
            "generations": [g.record() for g in self.generations],
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Lineage:
        generations = tuple(Generation.from_record(g) for g in data.get("generations", []))
        return cls(Space(data["space"]), generations, data.get("previous"), int(data.get("last") or 0))

    def _with(self, changed: Iterable[Generation], previous: int | None) -> Lineage:
        by_number = {g.number: g for g in self.generations}
        by_number.update({g.number: g for g in changed})
        last = max([self.last, *by_number])
        return Lineage(self.space, tuple(by_number[n] for n in sorted(by_number)), previous, last)

    # ------------------------------------------------------------ transitions

    def add(self, generation: Generation) -> Lineage:
        """A new generation: the first serves at once, any later one starts `building`."""
        if any(g.number == generation.number for g in self.generations):
            raise PermanentError(f"the {self.space.value} space already has generation {generation.name}")
        state = GenerationState.SERVING if self.serving is None else GenerationState.BUILDING
        return self._with([replace(generation, state=state)], self.previous)

    def swap(self, number: int) -> Lineage:
        """Serve generation `number` (building or retired); the serving one retires."""
        target = self.get(number)
        current = self.serving
        if target.state is GenerationState.SERVING:
            raise PermanentError(f"generation {target.name} already serves the {self.space.value} space")
        changed = [replace(target, state=GenerationState.SERVING)]
        if current is not None:
            changed.append(replace(current, state=GenerationState.RETIRED))
        return self._with(changed, current.number if current is not None else self.previous)

    def rebuild(self, number: int) -> Lineage:
        """Build a retired generation again (a rebuild resumed with its model): ingestion writes to it again."""
        target = self.get(number)
        if target.state is not GenerationState.RETIRED:
            return self
        return self._with([replace(target, state=GenerationState.BUILDING)], self.previous)

    def rollback(self) -> Lineage:
        """Serve again the generation that served before this one."""
        if self.previous is None or all(g.number != self.previous for g in self.generations):
            raise PermanentError(f"the {self.space.value} space has no earlier generation to go back to")
        return self.swap(self.previous)

    def drop(self, number: int) -> Lineage:
        """Forget a generation that does not serve (retired, or a rebuild given up)."""
        target = self.get(number)
        if target.state is GenerationState.SERVING:
            raise PermanentError(
                f"generation {target.name} serves the {self.space.value} space; swap another in before dropping it"
            )
        kept = tuple(g for g in self.generations if g.number != number)
        last = max([self.last, *(g.number for g in self.generations)])
        return Lineage(self.space, kept, None if self.previous == number else self.previous, last)


@dataclass
class GenerationReport:
    """A generation as `mmindex models` shows it: its record and how many documents it holds."""

    generation: Generation
    documents: int
    previous: bool = False  # the one `rollback` would serve
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        record = self.generation.record()
        record.pop("location", None)
        return {**record, "name": self.generation.name, "documents": self.documents, **self.extra}


def parse_number(value: str) -> int:
    """A generation as the command line names it: `3` or `g3`."""
    text = value.strip().lower().removeprefix("g")
    if not text.isdigit() or int(text) < 1:
        raise PermanentError(f"{value!r} is not a generation: give its number, such as 2 or g2")
    return int(text)


def fingerprint(model: Any) -> str | None:
    """A digest of a loaded model's weights (a torch module's state), so that two generations of the same name but
    different weights (a model fine-tuned again into the same folder) are told apart; None when there are none."""
    state = getattr(model, "state_dict", None)
    if state is None:
        return None
    digest = hashlib.sha256()
    for name, tensor in sorted(state().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1)[:16384].float().numpy().tobytes())
        digest.update(str(tuple(tensor.shape)).encode())
    return digest.hexdigest()[:16]
