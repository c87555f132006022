"""The OpenSearch store's generations: each space's lineage in the metadata index, and the alias that follows them.

A generation lives in an index of its own, `{alias}-{space}-g{n}`. The lineages live in `{alias}-generations`, one
document per space (its id: the space), written with optimistic concurrency so that a swap is one write that fails
when another command changed the space's generations meanwhile. The alias `{alias}` points at the serving
generations' indices, for whatever reads the alias; the store's own searches name the indices from the lineage.

An index made before generations (`{alias}-000001` behind the alias, every space's vector field in it, no record)
reads as generation 1 of each space it has a vector field for, located in that index, its model unknown.

OpenSearch Serverless has no `if_seq_no` and takes no `_id` of ours in a vector collection, and its searches see a
write only after its refresh interval: there a commit adds a record with the next serial number and deletes the older
ones, a read takes the highest serial (and the last one this process wrote, if the search does not see it yet), and
the check against what was read is not atomic: two commits at the same moment can both pass, the later serial wins.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError

from shared.documents import Space
from shared.errors import PermanentError, StoreError
from shared.generations import Generation, GenerationState, Lineage, now
from shared.stores.opensearch_client import VECTOR_PREFIX, call
from shared.stores.opensearch_indices import Indices

_RECORD_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "space": {"type": "keyword"},
        "serial": {"type": "long"},
        "lineage": {"type": "object", "enabled": False},  # kept as written, never searched
    },
}


class GenerationsChanged(PermanentError):
    """A commit over a lineage that another command changed since it was read."""


def space_of(space: str) -> Space | None:
    """The space named `space`, or None when there is no such space."""
    try:
        return Space(space)
    except ValueError:
        return None


@dataclass(frozen=True)
class Read:
    """A space's lineage as read, with what a commit needs to write over exactly this read."""

    lineage: Lineage
    serial: int = 0  # how many commits made it; 0: none (legacy or nothing)
    version: tuple[int, int] | None = None  # the record's (seq_no, primary_term); None: no record


class Lineages:
    """Reads and commits the lineages of one alias's spaces, and keeps the alias on their serving indices."""

    def __init__(self, client: OpenSearch, indices: Indices, alias: str, *, serverless: bool, where: str) -> None:
        self._client = client
        self._indices = indices
        self._alias = alias
        self._serverless = serverless
        self._where = where
        self.index = f"{alias}-generations"
        self._generation_index = re.compile(rf"{re.escape(alias)}-[a-z]+-g\d+")
        self._written: dict[Space, Read] = {}  # Serverless: the last commit of this process, until searches see it

    def location(self, space: Space, number: int) -> str:
        return f"{self._alias}-{space.value}-g{number}"

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        return call(self._where, what, function, *args, **kwargs)

    # ------------------------------------------------------------ reading

    def read(self, spaces: list[Space]) -> dict[Space, Read]:
        """The lineages of `spaces` as they are now: from their records, else the legacy index, else empty."""
        found = self._search(spaces) if self._serverless else self._get(spaces)
        missing = [space for space in spaces if space not in found]
        if missing:
            found.update(self._legacy(missing))
        return {space: found.get(space) or Read(Lineage(space)) for space in spaces}

    def all(self) -> dict[Space, Read]:
        return self.read(list(Space))

    def _get(self, spaces: list[Space]) -> dict[Space, Read]:
        try:
            answer = self._call(
                "reading the generations",
                self._client.mget,
                index=self.index,
                body={"ids": [space.value for space in spaces]},
                params={"realtime": "true"},
            )
        except NotFoundError:
            return {}
        found: dict[Space, Read] = {}
        for doc in answer.get("docs", []):
            if doc.get("found"):
                source = doc["_source"]
                lineage = Lineage.from_record(source["lineage"])
                version = (int(doc["_seq_no"]), int(doc["_primary_term"]))
                found[lineage.space] = Read(lineage, int(source["serial"]), version)
        return found

    def _search(self, spaces: list[Space]) -> dict[Space, Read]:
        body = {"size": 100, "query": {"terms": {"space": [space.value for space in spaces]}}}
        try:
            answer = self._call("reading the generations", self._client.search, index=self.index, body=body)
        except NotFoundError:
            answer = {"hits": {"hits": []}}
        found: dict[Space, Read] = {}
        for hit in answer["hits"]["hits"]:
            source = hit["_source"]
            read = Read(Lineage.from_record(source["lineage"]), int(source["serial"]))
            if read.serial > found.get(read.lineage.space, Read(read.lineage)).serial:
                found[read.lineage.space] = read
        for space, written in self._written.items():
            if space in spaces and written.serial > found.get(space, Read(written.lineage)).serial:
                found[space] = written
        return found

    def _legacy(self, spaces: list[Space]) -> dict[Space, Read]:
        """Generation 1 of each of `spaces` that an index made before generations holds."""
        try:
            mappings = self._call("reading the mapping", self._client.indices.get_mapping, index=self._alias)
        except NotFoundError:
            return {}
        found: dict[Space, Read] = {}
        for name in sorted(mappings):
            if self._generation_index.fullmatch(name) or name == self.index:
                continue
            for field, options in mappings[name]["mappings"].get("properties", {}).items():
                space = space_of(field.removeprefix(VECTOR_PREFIX)) if field.startswith(VECTOR_PREFIX) else None
                if space in spaces and space not in found and options.get("type") == "knn_vector":
                    state = GenerationState.SERVING
                    first = Generation(space, 1, None, int(options["dimension"]), state, name)
                    found[space] = Read(Lineage(space, (first,)))
        return found

    # ------------------------------------------------------------ new generations

    def first(self, space: Space, model: str | None, dimension: int, fingerprint: str | None = None) -> Generation:
        """The serving generation of `space`, made as generation 1 if it has none yet.

        Writers in several processes may all find none at once: each creates the index (or finds it made) and
        records generation 1 only if nothing is recorded yet; those that lose read again what the winner recorded.
        """
        for _ in range(5):
            lineage = self.read([space])[space].lineage
            if lineage.serving is not None:
                return lineage.serving
            if lineage.generations:
                raise PermanentError(f"the {space.value} space has generations but none serves: swap one in")
            location = self.location(space, 1)
            if not self._indices.create_space(location, space.value, dimension):
                dimension = self._indices.dimension(location, space.value)  # another writer's: its dimension holds
            first = Generation(space, 1, model, dimension, GenerationState.SERVING, location, fingerprint, now())
            with contextlib.suppress(GenerationsChanged):  # another writer recorded it first: read it again
                self.commit(lineage, lineage.add(first))
        serving = self.read([space])[space].lineage.serving
        if serving is None:
            raise StoreError(f"generation 1 of the {space.value} space could not be recorded; try again")
        return serving

    def begin(self, space: Space, model: str | None, dimension: int, fingerprint: str | None) -> Generation:
        """A new generation of `space` in an index of its own (`building`, or `serving` if it is the first)."""
        lineage = self.read([space])[space].lineage
        number = lineage.next_number()
        location = self.location(space, number)
        if not self._indices.create_space(location, space.value, dimension):
            # An index no generation names: left by a begin that stopped before recording it, or by a drop that
            # stopped after forgetting it; nothing reads it, so it is made again, empty.
            if any(g.number == number for g in self.read([space])[space].lineage.generations):
                raise self._changed(space)
            self._indices.delete(location)
            if not self._indices.create_space(location, space.value, dimension):
                raise self._changed(space)
        generation = Generation(space, number, model, dimension, GenerationState.BUILDING, location, fingerprint, now())
        after = lineage.add(generation)
        self.commit(lineage, after)  # should it fail, the index stays behind for the next begin to make again
        return after.get(number)

    # ------------------------------------------------------------ writing

    def commit(self, before: Lineage, after: Lineage) -> None:
        """Record `after` over `before` in one write, then point the alias at the serving indices.

        The record comes first: the store's searches name their index from it, so once it is written they read the
        new serving generation, and a crash before the alias follows leaves only the alias behind (every later commit
        sets it from the records again). The other order would let a crash leave the record naming an index that
        the alias, and with it whatever reads the alias, has already dropped.
        """
        space = before.space
        if after.space is not space:
            raise PermanentError(f"a lineage of the {space.value} space cannot become one of {after.space.value}")
        current = self.read([space])[space]
        if current.lineage.record() != before.record():
            raise self._changed(space)
        record = {"space": space.value, "serial": current.serial + 1, "lineage": after.record()}
        if current.version is None and current.serial == 0:
            self._create_index()
        if self._serverless:
            self._call("recording the generations", self._client.index, index=self.index, body=record)
            self._written[space] = Read(after, current.serial + 1)
            query = {
                "bool": {"filter": [{"term": {"space": space.value}}, {"range": {"serial": {"lt": record["serial"]}}}]}
            }
            self._call(
                "forgetting older generation records",
                self._client.delete_by_query,
                index=self.index,
                body={"query": query},
                params={"conflicts": "proceed"},
            )
        else:
            if current.version is None:
                params = {"op_type": "create"}
            else:
                params = {"if_seq_no": str(current.version[0]), "if_primary_term": str(current.version[1])}
            try:
                self._call(
                    "recording the generations",
                    self._client.index,
                    index=self.index,
                    id=space.value,
                    body=record,
                    params=params,
                )
            except PermanentError as error:
                if isinstance(error.__cause__, ConflictError):
                    raise self._changed(space) from error
                raise
        self.follow({generation.location for generation in (*before.generations, *after.generations)})

    def _changed(self, space: Space) -> GenerationsChanged:
        return GenerationsChanged(
            f"the generations of the {space.value} space changed meanwhile (another command changed them);"
            " read them again (mmindex models) and retry"
        )

    def _create_index(self) -> None:
        body: dict[str, Any] = {"mappings": _RECORD_MAPPINGS}
        if not self._serverless:
            body["settings"] = {"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}}
        try:
            self._call(f"creating index {self.index}", self._client.indices.create, index=self.index, body=body)
        except PermanentError as error:
            if "resource_already_exists_exception" not in str(error):
                raise

    def follow(self, among: set[str] | None = None) -> None:
        """Point the alias at the serving generations' indices, and only at them, in one request; with `among`, move
        it only on or off those indices (a commit's own), so that commits of two spaces at once do not undo each
        other's move."""
        serving = {read.lineage.serving for read in self.all().values()}
        wanted = {generation.location for generation in serving if generation is not None}
        try:
            now = set(self._call("reading the alias", self._client.indices.get_alias, name=self._alias))
        except NotFoundError:
            now = set()
        ours = {i for i in wanted | now if i.startswith(f"{self._alias}-") and (among is None or i in among)}
        actions: list[dict[str, Any]] = [
            {"add": {"index": index, "alias": self._alias}} for index in sorted((wanted - now) & ours)
        ] + [{"remove": {"index": index, "alias": self._alias}} for index in sorted((now - wanted) & ours)]
        if actions:
            self._call("moving the alias", self._client.indices.update_aliases, body={"actions": actions})
