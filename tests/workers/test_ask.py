"""`mmindex ask`: a question answered from ingested speech and text, citing only the hits its search retrieved;
a question about what the index lacks asks no generator; a number that names no source is taken out.

The local model (SmolLM2-135M through llama.cpp) answers the first test for real. The others need an answer that
cites on purpose, so a stand-in for an OpenAI-compatible endpoint writes it (tests/support/chat.py)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.answers.ask import NOTHING_READABLE, answer, final
from shared.runtime import get_runtime, reset_runtime
from shared.search import Query
from tests.support.chat import chat_standin
from tests.support.cli import Cli
from tests.support.media import photo
from tests.support.services import free_port
from workers.query import search

RADIO = Path(__file__).parents[2] / "examples" / "eval" / "recordings" / "rec-01-harbour-radio.ogg"
"""Harbour radio: "The cargo ship Blue Falcon will dock at Pier 9 at half past 10." is said at about 7-14 s."""
DOCK = "When will the cargo ship Blue Falcon dock?"


def notes(folder: Path) -> Path:
    folder.mkdir()
    (folder / "garden.txt").write_text("Prune the roses in early spring, before the buds open.")
    (folder / "bakery.txt").write_text("The bakery on Mill Street sells rye bread on Saturdays only.")
    return folder


def test_ask_answers_from_speech_and_text_with_the_local_model_citing_only_retrieved_moments(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    ingested(RADIO, notes(tmp_path / "notes"))
    asker = Cli({**cli.env, "MMINDEX_GENERATOR__MAX_TOKENS": "64"}, cli.cwd)  # short answers: a quicker test

    result = asker.json("ask", DOCK, "--k", "4")
    streamed = asker("ask", DOCK, "--k", "4", "--stream")

    retrieved = search.apply(args=(Query(text=DOCK, k=4).to_message(),)).get()
    moments = {(hit["uri"], hit["start_s"], hit["end_s"]) for hit in retrieved}
    assert result["answer"].strip()
    assert result["model"].endswith(".gguf")
    assert result["citations"], result
    assert all((c["uri"], c["start_s"], c["end_s"]) in moments for c in result["citations"])
    assert [c["n"] for c in result["citations"]] == list(range(1, len(result["citations"]) + 1))
    docking = [c for c in result["citations"] if "Blue Falcon" in (c["text"] or "")]
    assert docking and docking[0]["modality"] == "audio" and docking[0]["uri"] == str(RADIO)
    assert 0 <= docking[0]["start_s"] < docking[0]["end_s"] <= 30
    assert result["timings"]["first_token_s"] is not None
    assert streamed.returncode == 0, streamed.stderr
    answer, _, rest = streamed.stdout.partition("sources (* cited):")
    assert answer.strip() and rest, streamed.stdout
    assert re.search(r"\[\d\] .*rec-01-harbour-radio\.ogg  \d+\.\d-\d+\.\d s", rest), rest
    assert "a small model on this machine" in rest


def test_a_question_about_nothing_held_asks_no_generator_and_a_number_naming_no_source_is_removed(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    ingested(RADIO, notes(tmp_path / "notes"))
    with chat_standin("The Blue Falcon docks at half past ten [1]. Ferries leave at seven [9].") as standin:
        asker = Cli(
            {
                **cli.env,
                "MMINDEX_GENERATOR__KIND": "openai",
                "MMINDEX_GENERATOR__URL": standin.url,
                "MMINDEX_GENERATOR__MODEL": "stand-in",
                "MMINDEX_SEARCH__MIN_RELEVANCE": "0.3",
            },
            cli.cwd,
        )
        nothing = asker.json("ask", "how to repair a bicycle chain")
        asked_for_nothing = len(standin.requests)
        cleaned = asker.json("ask", DOCK, "--k", "3")

    assert "holds nothing" in nothing["answer"]
    assert nothing["citations"] == [] and nothing["model"] is None and not nothing["grounded"]
    assert asked_for_nothing == 0
    assert len(standin.requests) == 1
    assert cleaned["answer"] == "The Blue Falcon docks at half past ten [1]. Ferries leave at seven."
    assert cleaned["grounded"] is False
    assert len(cleaned["citations"]) == 3
    assert [c["cited"] for c in cleaned["citations"]] == [True, False, False]
    assert "Blue Falcon" in cleaned["citations"][0]["text"]
    assert cleaned["model"] == "stand-in"
    user = standin.requests[0].body["messages"][1]["content"]
    assert re.search(r"\[1\] recording rec-01-harbour-radio\.ogg, \d+\.\d-\d+\.\d s: “.*Blue Falcon", user), user
    assert user.endswith(f"Question: {DOCK}")


def test_a_generator_that_cannot_be_reached_ends_ask_in_one_line(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    ingested(notes(tmp_path / "notes"))
    url = f"http://127.0.0.1:{free_port()}/v1"
    unreachable = Cli(
        {
            **cli.env,
            "MMINDEX_GENERATOR__KIND": "openai",
            "MMINDEX_GENERATOR__URL": url,
            "MMINDEX_GENERATOR__MAX_RETRIES": "0",
        },
        cli.cwd,
    )("ask", "when is rye bread sold?")

    assert unreachable.returncode == 2
    assert unreachable.stderr == f"error: openai is unreachable at {url}: check MMINDEX_GENERATOR__URL\n"


def test_a_generator_that_reads_pictures_is_sent_the_thumbnails_of_the_photos_it_cites(
    ingested: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingested(photo(tmp_path / "photos" / "sea.jpg", seed=1))
    with chat_standin("A calm sea under a clear sky [1].") as standin:
        monkeypatch.setenv("MMINDEX_GENERATOR__KIND", "openai")
        monkeypatch.setenv("MMINDEX_GENERATOR__URL", standin.url)
        reset_runtime()
        runtime = get_runtime()
        hits = search.apply(args=(Query(text="the sea", k=1).to_message(),)).get()
        seen = final(
            answer(
                "What is in the photo?", hits, runtime.generator, runtime.settings.generator, picture=runtime.picture
            )
        )
        monkeypatch.setenv("MMINDEX_GENERATOR__IMAGES", "false")
        reset_runtime()
        runtime = get_runtime()
        unseen = final(
            answer(
                "What is in the photo?", hits, runtime.generator, runtime.settings.generator, picture=runtime.picture
            )
        )

    content = standin.requests[0].body["messages"][1]["content"]
    pictures = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    assert pictures == ["data:image/jpeg;base64," + base64.b64encode(runtime.picture(hits[0]["thumbnail"])).decode()]
    assert seen.grounded and seen.citations[0]["thumbnail"] == hits[0]["thumbnail"]
    assert unseen.answer == NOTHING_READABLE and unseen.citations == []
    assert len(standin.requests) == 1  # a model that reads only words is not asked about a photo alone
