"""An embedded index of its own for a test (a fresh MMINDEX_HOME, the text space made), and sources recorded in its
ledger with one document each: for tests of what keeps the index in step with the ledger."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.documents import Document, Item, Modality, Space, document_id
from shared.runtime import Runtime, get_runtime, reset_runtime
from shared.storage import ObjectInfo

DIM = 3


@contextmanager
def embedded_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runtime]:
    """The process's runtime on a fresh MMINDEX_HOME under `tmp_path`, no other MMINDEX_ setting, the text space
    made with DIM dimensions; forgotten when the block ends."""
    for name in [name for name in os.environ if name.startswith("MMINDEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MMINDEX_HOME", str(tmp_path / "home"))
    reset_runtime()
    runtime = get_runtime()
    runtime.store.ensure({Space.TEXT: DIM})
    try:
        yield runtime
    finally:
        reset_runtime()


def version_of(runtime: Runtime, path: Path, version: str, done: bool = True) -> str:
    """Record `version` of the source at `path` in the ledger and write its one document; the source's id."""
    info = ObjectInfo(uri=str(path), root="local", key=str(path), size=1, version=version)
    id, _ = runtime.ledger.submit(info, runtime.settings.pipeline_version)
    item = Item(
        id=document_id("local", str(path), version, 0, Space.TEXT),
        source_id=id,
        source=str(path),
        version=version,
        uri=str(path),
        modality=Modality.TEXT,
        item=0,
        space=Space.TEXT,
        text=f"words of {version}",
    )
    runtime.store.upsert([Document(item, [1.0, 0.0, 0.0], "model", runtime.settings.pipeline_version)])
    if done:
        runtime.ledger.decoded(id, version, 1)
        runtime.ledger.indexed(id, version, [item.id])
    return id


def versions_held(runtime: Runtime) -> list[str]:
    return sorted(hit.text or "" for hit in runtime.store.search(Space.TEXT, [1.0, 0.0, 0.0], 10))
