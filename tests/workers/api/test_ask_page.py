"""The search page's answer panel (workers/api/static) in a real headless Chromium, driven by Playwright, against
the real `mmindex serve` on an index of a spoken recording and a note: a question asked with "Ask" is answered as
it is written, its sources listed under it, and each [n] opens its source's moment as a hit opens.

The local model (SmolLM2-135M) answers first, for real: it is tiny and may cite nothing, so the page is checked to
show whatever it wrote. An answer that cites on purpose is written by a stand-in for an OpenAI-compatible endpoint
(tests/support/chat.py), which also fails on cue; the same server shows a question about nothing held and a request
refused for its size. Chromium is Debian's (/usr/bin/chromium), as for test_page.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.api import Server, events, running_api
from tests.support.chat import Reply, chat_standin
from tests.workers.api.test_page import CHROMIUM_ARGS, SEEKED, WAIT_MS, span

RADIO = Path(__file__).resolve().parents[3] / "examples" / "eval" / "recordings" / "rec-01-harbour-radio.ogg"
"""Harbour radio: "The cargo ship Blue Falcon will dock at Pier 9 at half past 10." is said at about 7-14 s."""
NOTE = "Harbour notice: the ferry leaves the harbour at seven every morning from May.\n"
DOCK = "When will the cargo ship Blue Falcon dock?"
WRITTEN = "The Blue Falcon docks at <b>half past ten</b> [1]."
"""The stand-in's answer: its markup must reach the page as text."""
MARK = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")

COPIED = """(() => {
  window.asked = [];
  const original = window.fetch;
  window.fetch = async (...args) => {
    const response = await original(...args);
    if (new URL(String(args[0]), window.location.href).pathname === "/v1/ask") {
      const copy = response.clone();
      window.asked.push(copy.text().then((body) => ({ status: copy.status, body })));
    }
    return response;
  };
})();"""
"""A copy of each answer to POST /v1/ask, read beside the page (Chromium keeps no body of a stream it read)."""

GROWING = """() => {
  const text = document.getElementById("answer-text");
  window.seenWhileWriting = [];
  new MutationObserver(() => {
    if (text.getAttribute("aria-busy") === "true" && text.textContent) window.seenWhileWriting.push(text.textContent);
  }).observe(text, { childList: true, subtree: true, characterData: true });
}"""
"""Records the answer's text each time it changes while the answer is still being written."""


def ask(page: Page, question: str) -> tuple[int, str]:
    """Types `question` and presses Ask; waits until the page has the whole answer, and returns the status and
    body the server answered the page with."""
    before = page.evaluate("window.asked.length")
    page.locator("#q").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_function(f"window.asked.length > {before}", timeout=WAIT_MS)
    expect(page.locator("#answer-text")).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)
    seen: dict[str, Any] = page.evaluate(f"window.asked[{before}]")
    return seen["status"], seen["body"]


def answered(page: Page, question: str) -> dict[str, Any]:
    """`ask`, for an answer streamed to its end: the answer object of its last event."""
    status, body = ask(page, question)
    found = events(body)
    assert status == 200 and found[0][0] == "sources" and found[-1][0] == "answer", body
    final: dict[str, Any] = found[-1][1]
    return final


@contextmanager
def servers(*configs: tuple[dict[str, str], Path]) -> Iterator[list[Server]]:
    """`mmindex serve` with each (environment, log), all started at once (each loads its models for seconds), all
    stopped when the block ends."""
    managers = [running_api(env, log) for env, log in configs]
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(managers)) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
            wait(futures)
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                stack.push(manager.__exit__)
        yield [future.result() for future in futures]


def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(COPIED)
    page.goto(url + "/")
    expect(page.locator("#modality-audio")).to_be_attached(timeout=WAIT_MS)
    expect(page.locator("#answer-panel")).to_be_hidden()
    return page


@pytest.mark.timeout(600)
def test_the_answer_panel_in_a_browser(
    chromium: Path, mmindex_env: dict[str, str], ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "harbour.txt").write_text(NOTE)
    ingested(RADIO, notes)
    env = {**mmindex_env, "MMINDEX_SEARCH__MIN_RELEVANCE": "0.3"}
    sources = "#answer-sources > li.source"

    with chat_standin(WRITTEN, Reply(status=500)) as standin:
        scripted = {
            **env,
            "MMINDEX_GENERATOR__KIND": "openai",
            "MMINDEX_GENERATOR__URL": standin.url,
            "MMINDEX_GENERATOR__MODEL": "stand-in",
            "MMINDEX_GENERATOR__MAX_RETRIES": "0",
            "MMINDEX_API__MAX_BODY_BYTES": "400",
        }
        with (
            servers((env, tmp_path / "logs" / "local.log"), (scripted, tmp_path / "logs" / "scripted.log")) as (
                local_api,
                scripted_api,
            ),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
            errors: list[str] = []
            try:
                # 1. The local model: what it writes shows as it is written, then the whole answer, its sources, the
                # model and whether it is grounded; whatever [n] it wrote is a button.
                page = open_page(browser, local_api.url, errors)
                page.evaluate(GROWING)
                final = answered(page, DOCK)
                expect(page.locator("#answer-question")).to_have_text(f"\u201c{DOCK}\u201d")
                expect(page.locator("#answer-text")).to_have_text(final["answer"])
                assert final["answer"].strip() and final["model"].endswith(".gguf"), final
                assert page.evaluate("window.seenWhileWriting.length") > 0, "no words shown before the answer ended"
                expect(page.locator("#answer-meta .answer-model")).to_have_text(f"model {Path(final['model']).name}")
                expect(page.locator("#answer-meta .answer-grounded")).to_have_text(
                    "grounded" if final["grounded"] else "not grounded"
                )
                expect(page.locator("#answer-text button.cite")).to_have_count(
                    sum(len(re.findall(r"\d+", mark)) for mark in MARK.findall(final["answer"]))
                )
                citations = final["citations"]
                expect(page.locator(sources)).to_have_count(len(citations))
                radio = next(c for c in citations if c["uri"] == str(RADIO) and "Blue Falcon" in (c["text"] or ""))
                item = page.locator(f'{sources}[data-n="{radio["n"]}"]')
                expect(item).to_have_attribute("data-uri", str(RADIO))
                expect(item.locator(".source-open")).to_have_text(RADIO.name)
                expect(item.locator(".source-span")).to_have_text(span(radio["start_s"], radio["end_s"]))
                expect(item.locator(".source-words")).to_contain_text("Blue Falcon")
                expect(page.locator("#answer-error")).to_be_hidden()
                page.close()

                # 2. An answer that cites on purpose: [1] opens the recording at the moment cited.
                page = open_page(browser, scripted_api.url, errors)
                final = answered(page, DOCK)
                first = final["citations"][0]
                assert first["uri"] == str(RADIO) and "Blue Falcon" in first["text"], final
                assert final["answer"] == WRITTEN and final["grounded"], final

                text = page.locator("#answer-text")
                expect(text).to_have_text(WRITTEN)  # the markup as text, never as HTML
                expect(text.locator("b")).to_have_count(0)
                cite = text.locator("button.cite")
                expect(cite).to_have_count(1)
                expect(cite).to_have_text("[1]")
                expect(page.locator("#answer-meta .answer-model")).to_have_text("model stand-in")
                expect(page.locator("#answer-meta .answer-grounded")).to_have_text("grounded")

                expect(page.locator(sources)).to_have_count(len(final["citations"]))
                item = page.locator(f'{sources}[data-n="1"]')
                expect(item).to_have_attribute("data-uri", str(RADIO))
                expect(item).to_have_class(re.compile(r"\bcited\b"))
                expect(item.locator(".source-n")).to_have_text("[1]")
                expect(item.locator(".source-span")).to_have_text(span(first["start_s"], first["end_s"]))
                expect(item.locator(".source-cited")).to_have_text("cited")
                expect(page.locator(f"{sources}.cited")).to_have_count(1)

                cite.click()
                dialog = page.locator("#player-dialog")
                expect(dialog).to_have_attribute("open", "")
                expect(page.locator("#player-title")).to_have_text(RADIO.name)
                expect(page.locator("#player-meta")).to_contain_text(span(first["start_s"], first["end_s"]))
                expect(page.locator("audio#player")).to_have_count(1)
                player = page.wait_for_function(SEEKED, timeout=WAIT_MS).json_value()
                assert "error" not in player, f"the recording could not be played: {player}"
                assert abs(player["currentTime"] - first["start_s"]) < 0.5, (player, first)
                page.locator("#player-close").click()
                expect(dialog).not_to_have_attribute("open", "")
                expect(cite).to_be_focused()

                # 3. A question about nothing the index holds: said plainly, and no generator asked.
                final = answered(page, "how to repair a bicycle chain")
                assert final["citations"] == [] and final["model"] is None, final
                expect(page.locator("#answer-text")).to_have_text(final["answer"])
                expect(page.locator("#answer-meta")).to_have_text(
                    "Nothing found: no source was relevant enough, so no model was asked."
                )
                expect(page.locator(sources)).to_have_count(0)
                expect(page.locator("#answer-no-sources")).to_be_visible()
                assert len(standin.requests) == 1

                # 4. The generator fails on the way: the sources came, the failure is one line in the panel.
                status, body = ask(page, DOCK)
                assert status == 200 and [kind for kind, _ in events(body)] == ["sources", "error"], body
                failure = events(body)[-1][1]["error"]
                error = page.locator("#answer-error")
                expect(error).to_be_visible()
                expect(error).to_have_text(failure)
                assert failure.startswith("openai failed (500)") and "\n" not in error.inner_text()
                expect(page.locator(sources).first).to_have_attribute("data-uri", str(RADIO))

                # 5. A question refused before it is asked (413, its body over the limit): its error, in one line.
                status, body = ask(page, "Where does the ferry go? " * 20)
                assert status == 413, body
                expect(error).to_have_text(json.loads(body)["error"])
                expect(page.locator("#answer-sources-box")).to_be_hidden()  # no search was made
                expect(page.locator("#answer-text")).to_be_empty()
                assert len(standin.requests) == 2

                # The panel closes, and the focus goes back to Ask.
                page.get_by_role("button", name="Close the answer").click()
                expect(page.locator("#answer-panel")).to_be_hidden()
                expect(page.get_by_role("button", name="Ask", exact=True)).to_be_focused()
                assert errors == [], errors
            finally:
                browser.close()
