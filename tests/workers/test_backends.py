"""The pipeline on exported backends: `models export`, then ingestion and search on ONNX Runtime, and `bench embed
--backend` comparing backends in one run."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Cli


def test_exported_models_index_and_search_as_torch_does(cli: Cli, tmp_path: Path) -> None:
    cli.env.update(MMINDEX_MODELS__BACKEND="onnx", MMINDEX_MODELS__PRECISION="fp32")  # int8: test_exported.py
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ferry.md").write_text("The ferry leaves the harbour at seven every morning.")
    (notes / "roses.md").write_text("Prune the roses in early spring, before the buds open.")

    exported = cli.json("models", "export")

    assert [(e["space"], e["backend"], e["format"]) for e in exported] == [
        ("vision", "onnx", "onnx-fp32"),
        ("text", "onnx", "onnx-fp32"),
    ]
    assert all(Path(e["folder"], "manifest.json").is_file() for e in exported)
    assert exported[1]["parity"]["text"]["mean"] >= 0.99
    ingested = cli.json("ingest", str(notes))
    assert len(ingested["indexed"]) == 2 and ingested["failed"] == []
    hits = cli.json("search", "when does the boat sail")
    assert hits[0]["uri"].endswith("ferry.md")  # found through the exported text model

    figures = cli.json("bench", "embed", "--images", "8", "--backend", "onnx:fp32")  # the exports above, reused

    assert figures["baseline"]["backend"] == "torch" and figures["images"] == 8
    onnx = next(b for b in figures["backends"] if b["backend"] == "onnx")
    assert onnx["precision"] == "fp32" and onnx["images_per_s"] > 0 and onnx["texts_per_s"] > 0
    assert onnx["parity"]["text"]["mean"] >= 0.999 and onnx["parity_met"] is True
    assert set(onnx["ratio"]) == {"image", "text"} and onnx["targets"] is None  # targets are int8's
