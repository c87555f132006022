"""shared/answers/context.py: the hits of a search as numbered sources within the token budget, and the prompt."""

from __future__ import annotations

from typing import Any

from shared.answers.context import CHARS_PER_TOKEN, LABEL_TOKENS, PICTURE_TOKENS, prompt, sources


def hit(uri: str, modality: str = "text", text: str | None = "words", **more: Any) -> dict[str, Any]:
    return {"uri": uri, "modality": modality, "text": text, "start_s": None, "end_s": None, "thumbnail": None, **more}


def test_sources_are_numbered_best_first_and_the_weakest_are_dropped_to_fit_the_budget() -> None:
    hits = [hit(f"/d/{n}.txt", text="x" * 400) for n in range(1, 6)]  # 100 tokens of words each
    budget = 3 * (LABEL_TOKENS + 400 // CHARS_PER_TOKEN)

    chosen = sources(hits, budget)

    assert [source.n for source in chosen] == [1, 2, 3]
    assert [source.hit["uri"] for source in chosen] == ["/d/1.txt", "/d/2.txt", "/d/3.txt"]


def test_the_best_hit_alone_over_the_budget_is_shortened_not_dropped() -> None:
    chosen = sources([hit("/d/long.txt", text="word " * 2000)], budget=200)

    assert len(chosen) == 1
    assert chosen[0].tokens() <= 200 + 1
    assert chosen[0].text.endswith("…")


def test_a_picture_without_words_is_a_source_only_for_a_generator_that_reads_pictures() -> None:
    photo = hit("/p/sea.jpg", modality="image", text=None, thumbnail="/t/sea.jpg")
    recording = hit("/r/radio.ogg", modality="audio", text="The ferry leaves at seven.", start_s=13.6, end_s=18.8)

    words_only = sources([photo, recording], budget=3000)
    with_pictures = sources([photo, recording], budget=3000, picture=lambda uri: b"jpeg of " + uri.encode())

    assert [source.hit["uri"] for source in words_only] == ["/r/radio.ogg"]
    assert words_only[0].n == 1
    assert [source.hit["uri"] for source in with_pictures] == ["/p/sea.jpg", "/r/radio.ogg"]
    assert with_pictures[0].picture == b"jpeg of /t/sea.jpg"
    assert with_pictures[0].tokens() >= PICTURE_TOKENS


def test_a_thumbnail_that_cannot_be_read_leaves_the_source_its_words() -> None:
    frame = hit(
        "/v/talk.mp4", modality="video", text="welcome to the talk", thumbnail="/t/gone.jpg", start_s=0.0, end_s=2.0
    )

    def missing(uri: str) -> bytes:
        raise FileNotFoundError(uri)

    chosen = sources([frame], budget=3000, picture=missing)

    assert chosen[0].picture is None and chosen[0].text == "welcome to the talk"


def test_the_prompt_numbers_each_source_gives_its_time_and_words_and_ends_with_the_question() -> None:
    recording = hit("/r/radio.ogg", modality="audio", text="The ferry leaves at seven.", start_s=13.6, end_s=18.8)
    photo = hit("/p/sea.jpg", modality="image", text=None, thumbnail="/t/sea.jpg")
    chosen = sources([recording, photo], budget=3000, picture=lambda uri: b"JPEG")

    asked = prompt("When does the ferry leave?", chosen)

    assert "[1] recording radio.ogg, 13.6-18.8 s: “The ferry leaves at seven.”" in asked.text
    assert "[2] picture sea.jpg (its picture follows)" in asked.text
    assert b"JPEG" in asked.parts
    assert asked.text.endswith("Question: When does the ferry leave?")
    assert "[1]" in asked.system and "do not" in asked.system
