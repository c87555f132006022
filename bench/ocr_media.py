"""`mmindex bench ocr`'s documents: a scanned two-page PDF and a slideshow video with words on its slides, made in
the run, ingested into the benchmark's index (OCR on, the same models) after its pictures, read and searched.

- The scanned PDF: two pages that are pictures only (no text layer), each with four printed lines, one of them a
  distinctive phrase, read by ingestion (`shared.media.scanned`). Each page's words as indexed (the PDF's text chunks
  in the store naming that page, each without its overlap) against its lines.
- The slideshow: slides of a title and a line, each held a few seconds, made by ffmpeg (without a sound track: no
  speech model is needed, nor timed). Each slide's words as indexed: the words-in-frames segment of the store
  (`shared.media.frame_words`) at that slide's time (the one of most time there, if OCR jitter split it), against
  its title and line.
- Search: each page's phrase and each slide's title searched as `mmindex search` does (`run_query`, hybrid);
  recall@1 is the share whose first hit is the PDF, or the video with a span covering the slide's time (within a
  sampled frame). `first_hit_on_the_page` counts the phrases whose PDF hit names their page;
  `first_hit_at_the_slide` the slides whose first hit's span is the slide's own, not a moment gathered over
  neighbouring slides too (shared.fusion).
- Cost: seconds of ingesting the PDF alone per page, and the video alone per second of video.

Also what bench ocr shares with it: the character error rate's parts and ingesting a folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from shared.documents import Item, Space
from shared.media.frame_words import NUMBERS
from shared.runtime import Runtime
from shared.search import Query, run_query
from tests.support.media import scan, scanned_pdf, slide, slideshow

PAGES = (
    (
        "Harbour Committee Minutes",
        "The meeting opened at nine in the boathouse.",
        "Lighthouse keeper Ambrose Quill retires in May",
        "Repairs to the north jetty are costed next week.",
    ),
    (
        "Harbour Committee, continued",
        "Mooring fees rise by four percent in spring.",
        "The seal colony at Gannet Point stays protected",
        "The next meeting is on the first Tuesday.",
    ),
)
PHRASE_LINE = 2
"""The line of each page that is its distinctive phrase."""
SLIDES = (
    ("Tidewater Ferry Timetable", "Boats leave the pier every forty minutes"),
    ("Orchard Pruning Workshop", "Bring gloves and sharp secateurs"),
    ("Glassblowing Studio Tour", "The furnace runs at eleven hundred degrees"),
    ("Volunteer Beekeeping Rota", "Hives are checked on Saturday mornings"),
)
"""Each slide's title is its distinctive phrase."""
K = 5
PDF, VIDEO = "scanned.pdf", "slideshow.mp4"


@dataclass(frozen=True)
class Scale:
    slides: int
    seconds_each: float
    video_size: str
    page_height: int | None  # pixels (points) of a page 800 wide; None: just tall enough for its lines


FULL = Scale(4, 4.0, "1280x720", 1035)  # Letter pages' proportions
SMALL = Scale(3, 2.0, "640x360", None)
"""For a run of few pictures (a smoke test): a shorter, smaller video and short pages."""


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, one each."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other)))
        previous = current
    return previous[-1]


def error_rate(*read: tuple[str, str]) -> float:
    """The character error rate of (reference, read) pairs: edit distances over the references' length, summed, case
    and runs of whitespace aside."""
    expected = [(normalised(reference), normalised(words)) for reference, words in read]
    return round(sum(edit_distance(a, b) for a, b in expected) / sum(len(a) for a, _ in expected), 4)


def ingest(folder: Path, runtime: Runtime) -> float:
    """Seconds to ingest `folder` (every file must be indexed)."""
    from workers.intakes.submission import outcome, submit

    started = time.perf_counter()
    submission = submit([str(folder)], runtime)
    elapsed = time.perf_counter() - started
    indexed, failed, pending = outcome(runtime.ledger.get(submission.ids))
    if failed or pending or not indexed:
        raise RuntimeError(f"ingesting {folder.name} did not index everything: {failed[:3] or pending[:3]}")
    return elapsed


def own_texts(texts: list[str]) -> list[str]:
    """Each chunk's own words, in order: its opening repeat of the one before (the overlap) left out."""
    own: list[str] = []
    previous: list[str] = []
    for text in texts:
        current = text.split()
        most = min(len(previous), len(current))
        repeated = next((n for n in range(most, 0, -1) if previous[-n:] == current[:n]), 0)
        own.append(" ".join(current[repeated:]))
        previous = current
    return own


def first_hit(phrase: str, runtime: Runtime) -> dict[str, Any]:
    """The first hit of searching `phrase` as `mmindex search` does: its file's name, and its time span or page."""
    hits = run_query(Query(text=phrase, k=K, mode="hybrid"), runtime)
    if not hits:
        return {"phrase": phrase, "first_hit": None}
    best = hits[0]
    where = (
        {"first_hit_span": [best.start_s, best.end_s]} if best.start_s is not None else {"first_hit_page": best.page}
    )
    return {"phrase": phrase, "first_hit": Path(best.uri).name, **where}


def measure_pdf(folder: Path, runtime: Runtime, scale: Scale) -> dict[str, Any]:
    drawn = [scan(*lines, height=scale.page_height) for lines in PAGES]
    scanned_pdf(folder / PDF, *drawn)
    ingest_s = ingest(folder, runtime)
    chunks = sorted((item for item in runtime.store.items(Space.TEXT) if Path(item.uri).name == PDF),
                    key=lambda item: item.item)  # fmt: skip
    own = list(zip((item.page for item in chunks), own_texts([item.text or "" for item in chunks]), strict=True))
    pages = []
    for number, lines in enumerate(PAGES, start=1):
        words = " ".join(text for page, text in own if page == number)
        found = first_hit(lines[PHRASE_LINE], runtime)
        pages.append({
            "page": number, "text": "\n".join(lines), "read": words, "cer": error_rate(("\n".join(lines), words)),
            "chunks": sum(page == number for page, _ in own), **found, "found": found["first_hit"] == PDF,
        })  # fmt: skip
    return {
        "pages": len(PAGES), "page_size_pt": "x".join(map(str, drawn[0].size)),
        "cer": error_rate(*((p["text"], p["read"]) for p in pages)), "chunks": len(chunks),
        "first_hit_on_the_page": sum(p["found"] and p.get("first_hit_page") == p["page"] for p in pages),
        "ingest_s": round(ingest_s, 3), "ingest_s_per_page": round(ingest_s / len(PAGES), 3), "per_page": pages,
    }  # fmt: skip


def slide_words(segments: list[Item], start_s: float, end_s: float) -> tuple[Item | None, int]:
    """The segment of most time within [start_s, end_s], and how many segments fall mostly within it."""

    def inside(item: Item) -> float:
        return min(item.end_s or 0.0, end_s) - max(item.start_s or 0.0, start_s)

    there = [item for item in segments if inside(item) > ((item.end_s or 0.0) - (item.start_s or 0.0)) / 2]
    return max(there, key=inside, default=None), len(there)


def measure_slideshow(folder: Path, work: Path, runtime: Runtime, scale: Scale) -> dict[str, Any]:
    shown = SLIDES[: scale.slides]
    pictures = [slide(work / f"slide-{n}.jpg", title, [line]) for n, (title, line) in enumerate(shown)]
    slideshow(pictures, scale.seconds_each, folder / VIDEO, size=scale.video_size, sound=False)  # no speech to hear
    ingest_s = ingest(folder, runtime)
    segments = [item for item in runtime.store.items(Space.TEXT) if Path(item.uri).name == VIDEO
                and item.item >= NUMBERS]  # fmt: skip
    frame_s = 1 / runtime.settings.video.fps
    slides = []
    for number, (title, line) in enumerate(shown):
        start_s, end_s = number * scale.seconds_each, (number + 1) * scale.seconds_each
        segment, count = slide_words(segments, start_s, end_s)
        words = (segment.text or "") if segment else ""
        found = first_hit(title, runtime)
        span = found.get("first_hit_span") or [None, None]
        video = found["first_hit"] == VIDEO and span[0] is not None
        covers = video and span[0] <= start_s + frame_s and span[1] >= end_s - frame_s
        own = video and abs(span[0] - start_s) <= frame_s and abs(span[1] - end_s) <= frame_s
        slides.append({
            "slide": number + 1, "start_s": start_s, "end_s": end_s, "text": f"{title}\n{line}", "read": words,
            "cer": error_rate((f"{title} {line}", words)), "segments": count,
            "segment_span": None if segment is None else [segment.start_s, segment.end_s],
            **found, "found": covers, "at_the_slide": own,
        })  # fmt: skip
    length_s = scale.seconds_each * len(shown)
    return {
        "slides": len(shown), "seconds_each": scale.seconds_each, "size": scale.video_size, "length_s": length_s,
        "cer": error_rate(*((s["text"], s["read"]) for s in slides)),
        "segments": len(segments), "first_hit_at_the_slide": sum(s["at_the_slide"] for s in slides),
        "ingest_s": round(ingest_s, 3), "ingest_s_per_video_s": round(ingest_s / length_s, 3), "per_slide": slides,
    }  # fmt: skip


def measure_documents(root: Path, runtime: Runtime, scale: Scale, log: Console) -> dict[str, Any]:
    """The scanned PDF and the slideshow made under `root`, ingested into `runtime`'s index, read and searched."""
    log.print(f"bench: a scanned PDF of {len(PAGES)} pages and a slideshow of {scale.slides} slides", highlight=False)
    pdf = measure_pdf(root / "scanned", runtime, scale)
    video = measure_slideshow(root / "slideshow", root / "slides", runtime, scale)
    found = [item["found"] for item in (*pdf["per_page"], *video["per_slide"])]
    return {
        "read_from": "the index: the PDF's text chunks by page (their overlaps left out), the video's words-in-frames"
        " segments",
        "cer_of": "edit distance over the text's length, case and runs of whitespace aside",
        "scanned_pdf": pdf, "slideshow": video,
        "queries": len(found), "first_hit": sum(found), "recall_at_1": round(sum(found) / len(found), 4),
        "found_by": f"hybrid search, k {K}: the first hit is the PDF, or the video with a span covering the slide's"
        " time (within a sampled frame); at_the_slide: the span is the slide's own (its ends within a sampled frame)",
    }  # fmt: skip
