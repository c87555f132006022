"""`mmindex bench embed` runs end to end and reports its figures against a baseline from the same run."""

from __future__ import annotations

import pytest

from tests.conftest import Cli


def test_bench_embed_reports_pipeline_and_baseline_from_one_run(cli: Cli) -> None:
    figures = cli.json("bench", "embed", "--images", "8")

    assert figures["images"] == 8
    assert figures["model"] == f"{cli.env['MMINDEX_MODELS__VISION']} (as configured)"
    assert figures["device"] == "cpu"
    assert figures["baseline_images_per_s"] > 0 and figures["pipeline_images_per_s"] > 0
    # The ratio compares the two paths timed in this run (rates are rounded for display).
    ratio = figures["pipeline_images_per_s"] / figures["baseline_images_per_s"]
    assert abs(figures["ratio"] - ratio) < 0.01
    assert figures["pipeline_s"] == pytest.approx(figures["pipeline_decode_s"] + figures["pipeline_embed_s"], abs=0.002)
