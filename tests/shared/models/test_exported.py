"""shared/models/exported.py and export.py: models exported to ONNX Runtime and OpenVINO encode as torch does, are
exported once per machine, and fail in one line naming the setting when they cannot run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.config import Settings
from shared.documents import Document, Item, Modality, Space, document_id
from shared.errors import ModelUnavailable
from shared.models import Backend, Encoder
from shared.models import encoders as registry
from shared.models.encoders import encoder_for
from shared.models.exported import ExportedEncoder
from shared.models.probe import probe_images
from shared.runtime import Runtime

NOTES = [
    "Prune the roses in early spring, before the buds open.",
    "The ferry leaves the harbour at seven every morning.",
    "Whisk the eggs with the sugar until the mixture is pale.",
    "The invoice for the new roof was paid in March.",
    "Rain over the hills tonight, clearing by the morning.",
    "The drummer counts the band in before each song.",
    "Our cat sleeps on the warm windowsill all afternoon.",
    "The quarterly report shows revenue up twelve percent.",
    "Bring a torch: the cave path is dark and wet.",
    "The library closes early on public holidays.",
]
QUESTIONS = ["when does the boat sail", "gardening tips for flowers", "how to bake a cake", "weather forecast",
             "company earnings", "pet asleep in the sun"]  # fmt: skip


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export folder for the module's tests: each format is exported once, as on a machine."""
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(autouse=True)
def fresh_encoders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test loads its encoders as a new process would."""
    monkeypatch.setattr(registry, "_encoders", {})


def settings(model: Path, exports: Path, space: Space = Space.TEXT, **models: object) -> Settings:
    named = {"text": str(model)} if space is Space.TEXT else {"vision": str(model)}
    return Settings(models={**named, "device": "cpu", "threads": 1, "export_dir": str(exports), **models})


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def ranked(encoder: Encoder, home: Path) -> list[list[str]]:
    """The notes indexed by `encoder` in an embedded store, and each question's three best, best first."""
    runtime = Runtime(Settings(home=home))
    runtime.store.ensure({Space.TEXT: encoder.dimension})
    docs = []
    for number, (line, vector) in enumerate(zip(NOTES, encoder.encode_texts(NOTES), strict=True)):
        uri = f"/notes/{number}.md"
        item = Item(id=document_id("local", uri, "v", 0, Space.TEXT), source_id=f"n{number}", source=uri, version="v",
                    uri=uri, modality=Modality.TEXT, item=0, space=Space.TEXT, text=line)  # fmt: skip
        docs.append(Document(item, vector.tolist(), encoder.model_id, "1"))
    runtime.store.upsert(docs)
    queries = encoder.encode_texts(QUESTIONS)
    return [[hit.uri for hit in runtime.store.search(Space.TEXT, list(map(float, q)), 3)] for q in queries]


@pytest.mark.parametrize(
    ("backend", "precision", "format"), [("onnx", "auto", "onnx-int8"), ("openvino", "fp32", "openvino-fp32")]
)
def test_the_text_model_exported_keeps_the_vectors_and_the_search_results(
    minilm: Path, exports: Path, tmp_path: Path, backend: str, precision: str, format: str
) -> None:
    torch = encoder_for(Space.TEXT, settings(minilm, exports))
    exported = encoder_for(Space.TEXT, settings(minilm, exports, backend=backend, precision=precision))

    assert exported.backend is Backend(backend) and isinstance(exported, ExportedEncoder)
    assert exported.export.format == format  # auto on a CPU: int8 on ONNX Runtime
    close = cosines(exported.encode_texts(NOTES + QUESTIONS), torch.encode_texts(NOTES + QUESTIONS))
    assert close.mean() >= 0.99 and close.min() >= 0.97, close
    assert exported.parity()["text"]["mean"] >= 0.99  # the probe's figures, recorded at export
    found, fp32 = ranked(exported, tmp_path / "exported"), ranked(torch, tmp_path / "torch")
    assert [hits[0] for hits in found] == [hits[0] for hits in fp32]  # every question's best note is the same
    assert [hits[0] for hits in fp32][:2] == ["/notes/1.md", "/notes/0.md"]  # and it is the right one


@pytest.mark.parametrize(
    ("backend", "precision", "format"),
    [("onnx", "int8", "onnx-int8"), ("openvino", "bf16", "openvino-bf16"), ("openvino", "int8", "openvino-int8")],
)
def test_clip_exported_encodes_pictures_and_texts_as_torch_does(
    tiny_clip: Path, exports: Path, backend: str, precision: str, format: str
) -> None:
    torch = encoder_for(Space.VISION, settings(tiny_clip, exports, Space.VISION))
    exported = encoder_for(
        Space.VISION, settings(tiny_clip, exports, Space.VISION, backend=backend, precision=precision)
    )
    pictures, texts = probe_images(6), ["a red bicycle", "snow on the mountains", "x" * 500]

    assert isinstance(exported, ExportedEncoder) and exported.export.format == format
    assert exported.modalities == {Modality.IMAGE, Modality.TEXT} and exported.dimension == torch.dimension
    assert cosines(exported.encode_images(pictures), torch.encode_images(pictures)).min() >= 0.97
    assert cosines(exported.encode_texts(texts), torch.encode_texts(texts)).min() >= 0.97  # long texts cut at 77
    assert exported.encode_images([]).shape == (0, torch.dimension)


def test_an_export_is_made_once_and_reused_by_the_next_start(
    tiny_clip: Path, exports: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    chosen = settings(tiny_clip, exports, Space.VISION, backend="onnx", precision="fp32")
    first = encoder_for(Space.VISION, chosen)
    made = (first.export.folder / "manifest.json").stat().st_mtime_ns  # type: ignore[attr-defined]
    capfd.readouterr()
    registry._encoders.clear()  # as a new process

    again = encoder_for(Space.VISION, chosen)

    assert "exporting" not in capfd.readouterr().err
    assert (again.export.folder / "manifest.json").stat().st_mtime_ns == made  # type: ignore[attr-defined]


def test_a_corrupt_exported_file_is_one_line_that_says_how_to_export_again(tiny_clip: Path, tmp_path: Path) -> None:
    chosen = settings(tiny_clip, tmp_path / "exports", Space.VISION, backend="onnx", precision="fp32")
    encoder = encoder_for(Space.VISION, chosen)
    encoder.export.graph("image").write_bytes(b"not a graph")  # type: ignore[attr-defined]
    registry._encoders.clear()

    with pytest.raises(ModelUnavailable, match="cannot be loaded") as raised:
        encoder_for(Space.VISION, chosen)
    assert "\n" not in str(raised.value) and "export it again" in str(raised.value)


def test_an_export_that_misses_parity_is_refused_and_not_kept(
    tiny_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.models import export

    monkeypatch.setattr(export, "PARITY_WORST", 1.001)  # no export can meet it
    chosen = settings(tiny_clip, tmp_path / "exports", Space.VISION, backend="onnx", precision="int8")

    with pytest.raises(ModelUnavailable, match=r"misses parity with torch .*MMINDEX_MODELS__PRECISION=fp32"):
        encoder_for(Space.VISION, chosen)
    assert not list((tmp_path / "exports").glob("*/onnx-int8"))


def test_a_missing_backend_package_is_one_line_or_falls_back_to_torch_when_asked(
    minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # as if not installed

    with pytest.raises(ModelUnavailable, match=r"^MMINDEX_MODELS__BACKEND=openvino needs the openvino package"):
        encoder_for(Space.TEXT, settings(minilm, tmp_path, backend="openvino"))
    fallen = encoder_for(Space.TEXT, settings(minilm, tmp_path, backend="openvino", backend_fallback=True))
    assert fallen.backend is Backend.TORCH
    assert "falls back to torch" in caplog.text


def test_a_precision_the_backend_cannot_run_is_refused_naming_what_it_runs(minilm: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ModelUnavailable, match=r"PRECISION=bf16 does not run on onnx on the CPU \(it runs fp32, int8\)"
    ):
        encoder_for(Space.TEXT, settings(minilm, tmp_path, backend="onnx", precision="bf16"))


def test_each_space_may_run_on_its_own_backend_and_int8_needs_an_exported_one() -> None:
    from pydantic import ValidationError

    models = Settings(models={"backend": "onnx", "text_backend": "torch"}).models

    assert (models.backend_for("vision"), models.backend_for("text")) == (Backend.ONNX, Backend.TORCH)
    with pytest.raises(ValidationError, match="PRECISION=int8 needs MMINDEX_MODELS__BACKEND=onnx or openvino"):
        Settings(models={"precision": "int8"})
