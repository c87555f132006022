"""`mmindex bench embed` runs end to end and reports its figures against a baseline from the same run."""

from __future__ import annotations

from tests.conftest import Cli


def test_bench_embed_reports_pipeline_and_baseline_from_one_run(cli: Cli) -> None:
    figures = cli.json("bench", "embed", "--images", "8")

    assert figures["images"] == 8
    assert figures["model"] == f"{cli.env['MMINDEX_MODELS__VISION']} (as configured)"
    assert figures["baseline_images_per_s"] > 0 and figures["pipeline_images_per_s"] > 0
    assert figures["ratio"] == round(figures["pipeline_images_per_s"] / figures["baseline_images_per_s"], 3)
    assert figures["met"] == (figures["ratio"] >= figures["target"])
