"""`mmindex bench ocr` runs end to end at a tiny size: pictures with text made in the run are read (character error
rate), found by their phrases (recall@1), and ingested with OCR on and off; a scanned two-page PDF and a short
slideshow are read and searched the same way. The figures are checked for sense, never for speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.ocr import ROUNDS
from bench.ocr_media import PAGES, SMALL
from tests.support.cli import Cli

IMAGES = 6
KINDS = ("per_font", "per_size", "per_rotation", "per_background", "per_jpeg_quality")


@pytest.mark.timeout(300)
def test_bench_ocr_reports_error_rate_recall_and_the_cost_of_ocr(cli: Cli) -> None:
    result = cli("bench", "ocr", "--images", str(IMAGES), "--json", timeout=280)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)

    # The configured models, and OCR on for the run (whatever the command's settings say).
    assert figures["vision_model"] == f"{cli.env['MMINDEX_MODELS__VISION']} (as configured)"
    assert figures["text_model"] == f"{cli.env['MMINDEX_MODELS__TEXT']} (as configured)"
    assert figures["ocr"].startswith("rapidocr")
    assert figures["pictures_with_text"] == figures["photos_without_text"] == IMAGES
    assert figures["fonts"][0].startswith("Aileron") and len(set(figures["fonts"])) == len(figures["fonts"])

    # Every picture is read once and counted once in every breakdown; error rates are rates.
    pictures = figures["per_picture"]
    assert len(pictures) == IMAGES and len({p["file"] for p in pictures}) == IMAGES
    accuracy = figures["accuracy"]
    assert 0 <= accuracy["cer"] <= 1
    for kind in KINDS:
        groups = accuracy[kind]
        assert sum(group["images"] for group in groups.values()) == IMAGES, kind
        assert all(0 <= group["cer"] <= 1 for group in groups.values()), kind
    assert set(accuracy["per_font"]) <= set(figures["fonts"])
    assert all(abs(p["rotation"]) <= 10 for p in pictures)
    assert accuracy["exact"] == sum(p["cer"] == 0 for p in pictures)
    assert accuracy["nothing_read"] == sum(not p["read"] for p in pictures)
    assert accuracy["exact"] + accuracy["nothing_read"] <= IMAGES
    assert accuracy["missed_by_the_cheap_pass"] == sum(not p["cheap_pass"] for p in pictures)
    assert 0 <= accuracy["cer_without_the_cheap_pass"] <= accuracy["cer"]

    # Every phrase is searched; the recall agrees with the pictures' own ranks, and what the search missed is listed.
    search = figures["search"]
    assert search["queries"] == IMAGES and search["mode"] == "hybrid"
    assert search["first_hit"] == sum(p["rank"] == 1 for p in pictures)
    assert 0 <= search["recall_at_1"] <= search["recall_at_5"] <= 1
    assert search["recall_at_1"] == pytest.approx(search["first_hit"] / IMAGES, abs=1e-4)
    assert len(search["misses"]) == IMAGES - search["first_hit"]
    assert search["photos_with_words"] <= search["indexed_with_words"] <= 2 * IMAGES

    # Both sets ingested with OCR on and off in each round; the ratio is of the photos without text.
    for side in ("photos_without_text", "pictures_with_text"):
        cost = figures["ingest"][side]
        assert cost["images"] == IMAGES
        assert all(len(times) == ROUNDS and min(times) > 0 for times in cost["seconds_per_round"].values())
        rate = cost["ocr_on_images_per_s"] / cost["ocr_off_images_per_s"]  # of rounded figures
        assert cost["ratio"] == pytest.approx(rate, rel=0.02, abs=0.002)
    assert 0 <= figures["ingest"]["photos_without_text_read_in_full"] <= IMAGES
    assert figures["ratio"] == figures["ingest"]["photos_without_text"]["ratio"]
    assert figures["baseline_images_per_s"] == figures["ingest"]["photos_without_text"]["ocr_off_images_per_s"]
    assert "OCR off" in figures["ratio_of"] and "without text" in figures["ratio_of"]

    # The scanned PDF's pages and the slideshow's slides are each read and searched once; recall agrees with them.
    documents = figures["documents"]
    pdf, video = documents["scanned_pdf"], documents["slideshow"]
    assert pdf["pages"] == len(pdf["per_page"]) == len(PAGES)
    assert [p["page"] for p in pdf["per_page"]] == list(range(1, len(PAGES) + 1))
    assert sum(p["chunks"] for p in pdf["per_page"]) == pdf["chunks"] >= 1  # every chunk names one of its pages
    assert video["slides"] == len(video["per_slide"]) == SMALL.slides
    assert video["length_s"] == SMALL.slides * SMALL.seconds_each
    assert [s["slide"] for s in video["per_slide"]] == list(range(1, SMALL.slides + 1))
    read = [*pdf["per_page"], *video["per_slide"]]
    assert all(0 <= x["cer"] <= 1 for x in read) and all(0 <= x["cer"] <= 1 for x in (pdf, video))
    assert all(x["found"] == (x["first_hit"] == "scanned.pdf") for x in pdf["per_page"])
    on_the_page = [p["found"] and p["first_hit_page"] == p["page"] for p in pdf["per_page"]]
    assert pdf["first_hit_on_the_page"] == sum(on_the_page)
    assert all(not s["found"] or s["first_hit"] == "slideshow.mp4" for s in video["per_slide"])
    assert all(s["found"] or not s["at_the_slide"] for s in video["per_slide"])  # its own span covers the slide
    assert video["first_hit_at_the_slide"] == sum(s["at_the_slide"] for s in video["per_slide"])
    assert documents["queries"] == len(read) and documents["first_hit"] == sum(x["found"] for x in read)
    assert documents["recall_at_1"] == pytest.approx(documents["first_hit"] / len(read), abs=1e-4)
    assert not Path(cli.env["MMINDEX_HOME"]).exists()  # its indexes were its own, and are gone
