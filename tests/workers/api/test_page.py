"""The search page (workers/api/static) in a real headless Chromium, driven by Playwright, against the real
`mmindex serve` on the test library: a typed query, an image chosen, dropped and found again by "more like this",
a video opened at the moment it was found, and the operator panel's failures and retry.

Chromium is Debian's (/usr/bin/chromium), which .ci/run installs. With MMINDEX_SCREENSHOT set, the page with the
results of an image search is saved as deploy/search-page.png (the README's picture of it).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.api import Server
from tests.support.media import near_copy, photo
from tests.workers.api.conftest import Library

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[3] / "deploy" / "search-page.png"
WAIT_MS = 60_000
"""How long a step may take to show on the page (a search embeds its query on a busy machine first)."""

DROP = """([data, name]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
  return transfer;
}"""
"""A DataTransfer holding one JPEG file, built in the page, as a file dragged from the desktop carries it."""

SEEKED = """() => {
  const player = document.getElementById("player");
  if (!player || player.error) return { error: player ? player.error.code : "no #player" };
  if (player.readyState < 1 || player.seeking || player.currentTime === 0) return null;
  return { currentTime: player.currentTime };
}"""
"""The player's time once its metadata is in and it has moved from 0 (sought, or playing from the start); or its
error, so that a file the browser cannot play fails at once with why."""


def card_uris(page: Page) -> list[str]:
    return [card.get_attribute("data-uri") or "" for card in page.locator("#results > li.hit").all()]


def failure_uris(page: Page) -> list[str]:
    return [item.get_attribute("data-uri") or "" for item in page.locator("#failures > li.failure").all()]


def search(page: Page, action: Callable[[], None]) -> list[dict[str, Any]]:
    """Do `action`, which starts a search, and wait until the page has shown its answer; return the hits the
    server answered the page with."""
    with page.expect_response(lambda response: urlsplit(response.url).path == "/v1/search", timeout=WAIT_MS) as info:
        action()
    answer = info.value
    assert answer.ok, f"{answer.status} {answer.text()}"
    hits: list[dict[str, Any]] = answer.json()["hits"]
    expect(page.locator("#results")).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)
    assert card_uris(page) == [hit["uri"] for hit in hits], "the cards are not the hits, in their order"
    return hits


def span(start: float, end: float | None) -> str:
    """A hit's time span as the page writes it (m:ss, "1:05–1:12")."""

    def clock(seconds: float) -> str:
        whole = max(0, int(seconds))
        return f"{whole // 60}:{whole % 60:02d}"

    start_text = clock(start)
    end_text = clock(end) if end is not None else ""
    return f"{start_text}\u2013{end_text}" if end_text and end_text != start_text else start_text


@pytest.mark.timeout(600)
def test_the_search_page_in_a_browser(chromium: Path, api: Server, library: Library, tmp_path: Path) -> None:
    note, broken, video = str(library.note), str(library.broken), library.video
    photos = [str(path) for path in library.photos]
    by_image = near_copy(library.photos[1], tmp_path / "like-photo-2.jpg")
    dropped = near_copy(library.photos[2], tmp_path / "like-photo-3.jpg")
    # The slideshow shows frame seed 8 from 4 s to 8 s: its moment starts after 0, so the player has to seek.
    moment = near_copy(photo(tmp_path / "frame-8.jpg", seed=8), tmp_path / "like-frame-8.jpg")
    with api.client() as client:
        expected = client.post(
            "/v1/search", data={"modality": "video"}, files={"image": ("moment.jpg", moment.read_bytes(), "image/jpeg")}
        )
        assert expected.status_code == 200, expected.text
        moment_hit = expected.json()["hits"][0]
        status = client.get("/v1/status")
        assert status.status_code == 200, status.text
        reasons = {failure["uri"]: failure["error"] for failure in status.json()["failed"]}
    assert moment_hit["uri"] == str(video) and 4.0 <= moment_hit["start_s"] < 8.0, moment_hit
    assert reasons.get(broken), reasons

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(api.url + "/")
            expect(page.locator("#modality-video")).to_be_attached(timeout=WAIT_MS)
            expect(page.locator("#key-form")).to_be_hidden()  # the server has no keys

            cards = page.locator("#results > li.hit")

            # 1. A typed query: the note about the ferry comes first, with its words.
            page.locator("#q").fill("ferry timetable of the harbour committee")
            hits = search(page, lambda: page.locator("#q").press("Enter"))
            assert hits[0]["uri"] == note, hits
            expect(cards.first).to_have_attribute("data-uri", note)
            expect(cards.first).to_have_attribute("data-modality", "text")
            expect(cards.first.locator(".hit-words")).to_contain_text("ferry")
            assert "q=ferry" in page.url

            # 2. An image chosen with the file input, then one dropped on the drop zone: the photo it copies first.
            hits = search(page, lambda: page.locator("#image-input").set_input_files(by_image))
            assert hits[0]["uri"] == photos[1], hits
            expect(cards.first).to_have_attribute("data-uri", photos[1])
            expect(page.locator("#query-preview")).to_be_visible()

            # "More like this" on photo 2's card: its thumbnail searched with finds photo 2 first again.
            more = page.locator(f'#results > li.hit[data-uri="{photos[1]}"] button.more-like-this')
            hits = search(page, more.click)
            assert hits[0]["uri"] == photos[1], hits
            expect(cards.first).to_have_attribute("data-uri", photos[1])

            transfer = page.evaluate_handle(DROP, [base64.b64encode(dropped.read_bytes()).decode(), dropped.name])
            zone = page.locator("#drop-zone")
            zone.dispatch_event("dragenter", {"dataTransfer": transfer})
            expect(zone).to_have_class(re.compile(r"\bdragover\b"))
            zone.dispatch_event("dragover", {"dataTransfer": transfer})
            hits = search(page, lambda: zone.dispatch_event("drop", {"dataTransfer": transfer}))
            assert hits[0]["uri"] == photos[2], hits
            expect(cards.first).to_have_attribute("data-uri", photos[2])
            expect(zone).not_to_have_class(re.compile(r"\bdragover\b"))
            expect(page.locator("#status")).not_to_have_class(re.compile(r"\berror\b"))

            if os.environ.get("MMINDEX_SCREENSHOT"):
                page.wait_for_function(
                    """() => Array.from(document.querySelectorAll("#results img.thumb"))
                      .filter((img) => img.getBoundingClientRect().top < window.innerHeight)
                      .every((img) => img.complete && img.naturalWidth > 0)""",
                    timeout=WAIT_MS,
                )
                page.screenshot(path=str(SCREENSHOT))

            # 3. A moment of the video: only videos, a frame of its second slide; the player opens at its start.
            search(page, lambda: page.locator("#modality-video").check())  # the last query again, videos only
            expect(page.locator("#modality-video")).to_be_checked()
            hits = search(page, lambda: page.locator("#image-input").set_input_files(moment))
            assert {hit["modality"] for hit in hits} == {"video"}, hits
            first = hits[0]
            assert (first["uri"], first["start_s"]) == (moment_hit["uri"], moment_hit["start_s"]), (first, moment_hit)
            expect(cards.first).to_have_attribute("data-modality", "video")
            expect(cards.first.locator(".hit-span")).to_have_text(span(first["start_s"], first.get("end_s")))

            cards.first.locator("button.hit-open").click()
            dialog = page.locator("#player-dialog")
            expect(dialog).to_have_attribute("open", "")
            expect(page.locator("#player-title")).to_have_text(video.name)
            player = page.wait_for_function(SEEKED, timeout=WAIT_MS).json_value()
            assert "error" not in player, f"the video could not be played: {player}"
            assert abs(player["currentTime"] - first["start_s"]) < 0.5, (player, first)
            page.locator("#player-close").click()
            expect(dialog).not_to_have_attribute("open", "")
            expect(page.locator("#player")).to_have_count(0)

            # 4. The operator panel: the broken JPEG among the failed sources, with its reason on one line.
            page.locator("#operator-details > summary").click()
            expect(page.locator("#operator-details")).to_have_attribute("open", "")
            failure = page.locator(f'#failures > li.failure[data-uri="{broken}"]')
            expect(failure).to_be_visible(timeout=WAIT_MS)
            expect(failure.locator(".failure-uri")).to_have_text(broken)
            reason = failure.locator(".failure-error")
            expect(reason).to_have_text(" ".join(reasons[broken].split()))
            assert reason.inner_text().strip() and "\n" not in reason.inner_text()
            expect(page.locator("#failures > li.failure")).to_have_count(len(reasons))
            assert sorted(failure_uris(page)) == sorted(reasons), reasons
            expect(page.locator("#failures-empty")).to_be_hidden()
            expect(page.locator('#counts .count[data-state="failed"]')).to_have_class(re.compile(r"\balert\b"))

            # Retry failed: the failed sources are queued again, and the panel says what became of them; a link out of
            # its folder fails again at once, never followed.
            page.locator("#retry").click()
            retried = f"retried: 0 indexed, 1 failed again, 0 skipped, {len(reasons) - 1} queued"
            expect(page.locator("#operator-message")).to_have_text(retried, timeout=WAIT_MS)
            expect(page.locator("#retry")).to_be_enabled()
            expect(reason).to_have_text(" ".join(reasons[broken].split()), timeout=WAIT_MS)  # failed again

            assert errors == [], errors
        finally:
            browser.close()
