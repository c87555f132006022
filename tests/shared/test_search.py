"""shared/search.py fuse(): reciprocal rank fusion of the per-space rankings."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.documents import Hit
from shared.errors import PermanentError
from shared.runtime import Runtime
from shared.search import Query, fuse, run_query


def hit(name: str, score: float, space: str = "vision") -> Hit:
    # Document ids differ per space (the space is part of the hash), as the stores return them.
    return Hit(uri=f"/photos/{name}.jpg", modality="image", score=score, id=f"{name}-{space}", space=space)


def ids(hits: list[Hit]) -> list[str]:
    return [h.uri.removeprefix("/photos/").removesuffix(".jpg") for h in hits]


def test_one_ranking_keeps_its_order() -> None:
    ranking = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)]
    assert ids(fuse([ranking], k=10)) == ["a", "b", "c"]


def test_a_hit_found_in_both_spaces_beats_hits_found_in_one() -> None:
    vision = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)]
    text = [hit("x", 0.95, "text"), hit("c", 0.6, "text"), hit("y", 0.5, "text")]
    fused = fuse([vision, text], k=10)
    # c: 1/63 + 1/62 beats any single first place (1/61).
    assert ids(fused)[0] == "c"
    assert sorted(ids(fused)) == ["a", "b", "c", "x", "y"]


def test_reciprocal_rank_order_across_two_rankings() -> None:
    first = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7), hit("d", 0.6)]
    second = [hit("d", 0.5, "text"), hit("c", 0.4, "text"), hit("e", 0.3, "text")]
    # a: 1/61; b: 1/62; c: 1/63 + 1/62; d: 1/64 + 1/61; e: 1/63
    assert ids(fuse([first, second], k=10)) == ["d", "c", "a", "b", "e"]


def test_duplicates_are_merged_keeping_the_best_score() -> None:
    first = [hit("a", 0.3), hit("b", 0.2)]
    second = [hit("a", 0.8, "text")]
    fused = fuse([first, second], k=10)
    assert ids(fused) == ["a", "b"]
    assert fused[0].score == 0.8
    assert fused[0].space == "text"


def test_equal_fused_scores_are_ordered_by_similarity() -> None:
    first = [hit("a", 0.2)]
    second = [hit("b", 0.9, "text")]
    assert ids(fuse([first, second], k=10)) == ["b", "a"]


def test_k_cuts_the_fused_list() -> None:
    first = [hit(str(i), 1 - i / 100) for i in range(20)]
    second = [hit(str(i), 1 - i / 100, "text") for i in range(19, -1, -1)]
    fused = fuse([first, second], k=5)
    assert len(fused) == 5
    assert len(set(ids(fused))) == 5


def test_hits_without_ids_are_told_apart_by_uri_and_time() -> None:
    first = [
        Hit(uri="/v.mp4", modality="video", score=0.9, start_s=0.0),
        Hit(uri="/v.mp4", modality="video", score=0.8, start_s=5.0),
    ]
    second = [Hit(uri="/v.mp4", modality="video", score=0.7, start_s=5.0)]
    fused = fuse([first, second], k=10)
    assert [h.start_s for h in fused] == [5.0, 0.0]


def test_no_rankings_give_no_hits() -> None:
    assert fuse([], k=10) == []
    assert fuse([[], []], k=10) == []


def moment(start: float, end: float, score: float, space: str, uri: str = "/talk.mp4", **fields: str) -> Hit:
    return Hit(uri=uri, modality="video", score=score, start_s=start, end_s=end, id=f"{start}-{space}", space=space,
               **fields)  # fmt: skip


def test_adjacent_frames_and_words_of_one_video_merge_into_one_moment() -> None:
    vision = [
        moment(11.0, 12.0, 0.31, "vision", thumbnail="/t/11000.jpg"),
        moment(10.0, 11.0, 0.305, "vision", thumbnail="/t/10000.jpg"),
        moment(40.0, 41.0, 0.29, "vision", thumbnail="/t/40000.jpg"),
        *(moment(float(t), t + 1.0, 0.2 - t / 1000, "vision") for t in (70, 80, 90)),
    ]
    text = [moment(10.4, 12.6, 0.7, "text", text="the ferry leaves at seven")]
    fused = fuse([vision, text], k=10)
    assert [(h.start_s, h.end_s) for h in fused][:2] == [(10.0, 12.6), (40.0, 41.0)]
    first = fused[0]
    assert first.text == "the ferry leaves at seven"
    assert first.thumbnail == "/t/11000.jpg"  # the best-ranked frame's
    assert first.score == 0.7


def test_moments_of_different_files_or_far_apart_stay_apart() -> None:
    ranking = [
        moment(0.0, 1.0, 0.9, "vision"),
        moment(0.5, 1.5, 0.8, "vision", uri="/other.mp4"),
        moment(3.0, 4.0, 0.7, "vision"),  # 2 s after the first ends: beyond the gap
    ]
    fused = fuse([ranking], k=10)
    assert [(h.uri, h.start_s) for h in fused] == [("/talk.mp4", 0.0), ("/other.mp4", 0.5), ("/talk.mp4", 3.0)]


def test_a_moment_ends_where_the_match_fades() -> None:
    scores = [0.2, 0.21, 0.2, 0.3, 0.31, 0.3, 0.2, 0.19, 0.2, 0.21]  # one frame a second; a match at 3-6 s
    ranking = sorted((moment(float(t), t + 1.0, score, "vision") for t, score in enumerate(scores)),
                     key=lambda hit: -hit.score)  # fmt: skip
    fused = fuse([ranking], k=1)
    assert (fused[0].start_s, fused[0].end_s) == (3.0, 6.0)


def test_a_run_of_similar_frames_counts_once_against_a_moment_two_spaces_agree_on() -> None:
    vision = [moment(float(t), t + 1.0, 0.5, "vision") for t in range(5)]  # 0-5 s, one moment
    vision.append(moment(60.0, 61.0, 0.4, "vision"))
    text = [moment(60.2, 62.0, 0.6, "text", text="weather"), moment(100.0, 102.0, 0.5, "text")]
    fused = fuse([vision, text], k=2)
    assert [(h.start_s, h.end_s) for h in fused] == [(60.0, 62.0), (0.0, 5.0)]


def test_an_unknown_modality_is_refused_naming_the_allowed_ones(tmp_path: Path) -> None:
    runtime = Runtime(Settings(home=tmp_path / "home"))

    with pytest.raises(PermanentError, match=r"unknown modality bogus; choose from image, video, audio, text"):
        run_query(Query(text="boats", modalities=["image", "bogus"]), runtime)


def test_a_space_whose_model_no_hub_serves_for_now_is_skipped_and_the_others_answer(
    tmp_path: Path, minilm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.documents import Document, Item, Space, document_id
    from shared.errors import HubUnreachable
    from shared.models.encoders import encoder_for

    runtime = Runtime(Settings(home=tmp_path / "home", models={"text": str(minilm), "device": "cpu"}))
    text = encoder_for(Space.TEXT, runtime.settings)
    words = ["Prune the roses in early spring.", "The ferry leaves the harbour at seven."]
    docs = []
    for number, (line, vector) in enumerate(zip(words, text.encode_texts(words), strict=True)):
        space = Space.TEXT
        item = Item(id=document_id("local", f"/notes/{number}.md", "v", 0, space), source_id=f"n{number}",
                    source=f"/notes/{number}.md", version="v", uri=f"/notes/{number}.md", modality="text", item=0,
                    space=space, text=line)  # fmt: skip
        docs.append(Document(item, vector.tolist(), text.model_id, "1"))
    photo = Item(id=document_id("local", "/p.jpg", "v", 0, Space.VISION), source_id="p", source="/p.jpg",
                 version="v", uri="/p.jpg", modality="image", item=0, space=Space.VISION)  # fmt: skip
    docs.append(Document(photo, [1.0, 0.0, 0.0, 0.0], "clip", "1"))
    runtime.store.upsert(docs)

    def vision_unreachable(space: Space) -> object:
        if space is Space.VISION:
            raise HubUnreachable("cannot load clip-ViT-B-32 (MMINDEX_MODELS__VISION): no model hub answers")
        return text

    monkeypatch.setattr(runtime, "encoder", vision_unreachable)
    hits = run_query(Query(text="when does the boat sail"), runtime)
    assert hits[0].uri == "/notes/1.md"  # the text space answers; the vision space is skipped, not retried


def test_an_image_query_is_the_file_shrunk_to_the_thumbnail_the_vision_space_is_searched_with(tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    from shared.search import image_query

    path = tmp_path / "harbour.png"
    Image.new("RGB", (900, 600), (20, 90, 160)).save(path)
    settings = Settings(home=tmp_path / "home", image={"thumbnail_px": 128})

    query = image_query(path, k=5, modalities=["image", "video"], settings=settings)

    with Image.open(io.BytesIO(base64.b64decode(query.image_jpeg or ""))) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (192, 128))
    assert (query.text, query.audio_ogg, query.k, query.modalities) == (None, None, 5, ["image", "video"])
    assert Query.from_message(query.to_message()) == query


def tone(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """A stereo 16-bit WAV of a 440 Hz tone."""
    import wave

    import numpy as np

    wave_form = (np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(2)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(np.repeat(wave_form, 2).tobytes())
    return path


def test_an_audio_query_is_the_recording_s_first_30_s_at_16_khz_mono(tmp_path: Path) -> None:
    import base64

    from shared.media import ffmpeg
    from shared.search import QUERY_AUDIO_S, audio_query

    query = audio_query(tone(tmp_path / "long.wav", 40.0), k=3, settings=Settings(home=tmp_path / "home"))

    sent = tmp_path / "sent"
    sent.write_bytes(base64.b64decode(query.audio_ogg or ""))
    assert ffmpeg.probe(sent, timeout_s=30).audio in {"opus", "flac"}  # Opus, or FLAC without libopus
    samples = ffmpeg.pcm(sent, timeout_s=30)  # the whole of what travels: cut, and read back at 16 kHz
    assert abs(samples.size / 16_000 - QUERY_AUDIO_S) < 0.1
    assert (query.text, query.image_jpeg, query.k, query.modalities) == (None, None, 3, [])


def test_a_query_file_that_is_missing_unreadable_or_silent_is_refused_naming_it(tmp_path: Path) -> None:
    import re
    import wave

    from shared.errors import SourceNotFound
    from shared.search import audio_query, image_query

    settings = Settings(home=tmp_path / "home")
    missing, damaged, silent = tmp_path / "missing.jpg", tmp_path / "damaged.jpg", tmp_path / "silent.wav"
    damaged.write_bytes(b"not a photo at all")
    with wave.open(str(silent), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16_000)

    with pytest.raises(SourceNotFound, match=rf"^{re.escape(str(missing))}: no such file$"):
        image_query(missing, settings=settings)
    with pytest.raises(SourceNotFound, match=rf"^{re.escape(str(missing))}: no such file$"):
        audio_query(missing, settings=settings)
    with pytest.raises(PermanentError, match=rf"^{re.escape(str(damaged))}: not a readable image"):
        image_query(damaged, settings=settings)
    with pytest.raises(PermanentError, match=rf"^{re.escape(str(damaged))}: "):
        audio_query(damaged, settings=settings)
    with pytest.raises(PermanentError, match=rf"^{re.escape(str(silent))}: the recording holds no sound$"):
        audio_query(silent, settings=settings)
