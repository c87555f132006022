"""shared/models/encoders.py: the registry that says which implementation encodes a space on a backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.config import Settings
from shared.documents import Modality, Space
from shared.errors import ModelUnavailable
from shared.models import Backend, Vectors
from shared.models.encoders import ENCODERS, encoder_for, loader_for


def test_every_space_has_an_encoder_on_every_backend() -> None:
    assert {(space, backend) for space, backend in ENCODERS} == {(s, b) for s in Space for b in Backend}


def test_a_space_with_no_encoder_on_a_backend_is_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ENCODERS, (Space.VISION, Backend.TORCH))
    with pytest.raises(ModelUnavailable, match="no encoder runs the vision space on the torch backend"):
        encoder_for(Space.VISION, Settings(models={"device": "cpu", "threads": 1}))


class FakeEncoder:
    """An encoder another backend could give: what the pipeline and the benchmark read of one."""

    backend = Backend.TORCH
    modalities = frozenset({Modality.TEXT})

    def __init__(self, name: str, device: str) -> None:
        self.model_id = name
        self.device = device
        self.dimension = 2
        self.model = object()

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        raise ModelUnavailable("no images")

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


def test_a_backend_is_one_entry_loaded_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[tuple[str, str, str]] = []

    def load(name: str, *, setting: str, device: str, threads: int, batch_size: int, **_: object) -> FakeEncoder:
        loads.append((name, setting, device))
        return FakeEncoder(name, device)

    monkeypatch.setitem(ENCODERS, (Space.TEXT, Backend.TORCH), load)
    assert loader_for(Space.TEXT, Backend.TORCH) is load
    model = tmp_path / "model"  # a local directory: no hub is asked
    model.mkdir()
    settings = Settings(models={"text": str(model), "device": "cpu", "threads": 1})

    first = encoder_for(Space.TEXT, settings)
    again = encoder_for(Space.TEXT, settings)

    assert first is again
    assert loads == [(str(model), "MMINDEX_MODELS__TEXT", "cpu")]
    assert first.encode_texts(["a harbour"]).shape == (1, 2)


def test_the_loaded_torch_encoder_offers_its_backend_device_and_model(minilm: Path) -> None:
    encoder = encoder_for(Space.TEXT, Settings(models={"text": str(minilm), "device": "cpu", "threads": 1}))

    assert encoder.backend is Backend.TORCH
    assert encoder.device == "cpu"
    assert encoder.modalities == {Modality.TEXT}
    vector = encoder.model.encode(["a harbour at dusk"], normalize_embeddings=True, show_progress_bar=False)
    np.testing.assert_allclose(vector, encoder.encode_texts(["a harbour at dusk"]), atol=1e-5)
