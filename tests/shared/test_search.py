"""shared/search.py: queries by words, image or recording, the rankings a search asks for, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import PermanentError
from shared.runtime import Runtime
from shared.search import Query, run_query


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

    def vision_unreachable(space: Space, model: str | None = None) -> object:
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


NOTES = [
    "Prune the roses in early spring, just above an outward-facing bud.",
    "The ferry leaves the harbour at seven every morning from May to September.",
    "Whisk the eggs with sugar until the mixture turns pale, then fold in the flour.",
    "Invoice INV-48213 for the boiler service was paid twice; the second payment is refunded.",
    "Invoice INV-48211 covers the new kitchen taps fitted in March.",
    "Heavy rain is expected across the northern hills tonight, easing by the morning.",
    "The museum closes at five on Sundays; the last tour starts at half past three.",
]


def notes_runtime(home: Path, minilm: Path, **models: str) -> Runtime:
    """An embedded index of NOTES (one text document each, /notes/N.md), searched with the real MiniLM."""
    from shared.documents import Document, Item, Space, document_id
    from shared.models.encoders import encoder_for

    runtime = Runtime(Settings(home=home, models={"text": str(minilm), "device": "cpu", "rerank": "none", **models}))
    text = encoder_for(Space.TEXT, runtime.settings)
    docs = []
    for number, (line, vector) in enumerate(zip(NOTES, text.encode_texts(NOTES), strict=True)):
        uri = f"/notes/{number}.md"
        item = Item(id=document_id("local", uri, "v", 0, Space.TEXT), source_id=f"n{number}", source=uri, version="v",
                    uri=uri, modality="text", item=0, space=Space.TEXT, text=line)  # fmt: skip
        docs.append(Document(item, vector.tolist(), text.model_id, "1"))
    runtime.store.upsert(docs)
    return runtime


def test_modes_an_exact_code_by_its_words_and_a_question_about_nothing_held_finds_nothing(
    tmp_path: Path, minilm: Path
) -> None:
    runtime = notes_runtime(tmp_path / "home", minilm)

    for mode in ("lexical", "hybrid"):
        hits = run_query(Query(text="INV-48213", mode=mode), runtime)
        assert hits[0].uri == "/notes/3.md", mode  # the exact code, not its neighbour INV-48211
    lexical = run_query(Query(text="INV-48213", mode="lexical", min_relevance=0.0), runtime)
    assert all(hit.score is None for hit in lexical)  # found by words: no similarity, never a BM25 score
    dense = run_query(Query(text="when does the boat sail", mode="dense"), runtime)
    assert dense[0].uri == "/notes/1.md" and dense[0].score is not None
    assert run_query(Query(text="when does the boat sail", mode="lexical"), runtime) == []  # no word in common

    nothing = "how do I replace a bicycle chain"
    assert run_query(Query(text=nothing), runtime) == []  # the default minimum relevance
    assert run_query(Query(text=nothing, min_relevance=0.0), runtime) != []  # there are hits, all weak
    relevance = [hit.relevance or 0 for hit in run_query(Query(text="pruning rose bushes", k=7), runtime)]
    assert relevance == sorted(relevance, reverse=True) and relevance[0] > 0.5


def test_an_unknown_mode_or_a_lexical_image_search_is_refused(tmp_path: Path) -> None:
    runtime = Runtime(Settings(home=tmp_path / "home"))
    with pytest.raises(PermanentError, match=r"unknown search mode 'fuzzy'; choose from dense, lexical, hybrid"):
        run_query(Query(text="boats", mode="fuzzy"), runtime)
    with pytest.raises(PermanentError, match="mode lexical needs words"):
        run_query(Query(image_jpeg="AAAA", mode="lexical"), runtime)


def test_a_reranker_rescores_the_best_text_bearing_hits_and_their_order_follows(
    tmp_path: Path, minilm: Path, tiny_cross_encoder: Path
) -> None:
    runtime = notes_runtime(tmp_path / "home", minilm, rerank=str(tiny_cross_encoder))
    reranker = runtime.reranker()
    assert reranker is not None
    query = "when does the ferry leave the harbour"

    hits = run_query(Query(text=query, k=7, min_relevance=0.0), runtime)

    expected = reranker.score(query, [hit.text or "" for hit in hits])
    assert [hit.relevance for hit in hits] == pytest.approx(expected, abs=1e-4)  # the cross-encoder's scores...
    assert expected == sorted(expected, reverse=True)  # ...in its order (random weights: any order is its own)
    plain = run_query(Query(text=query, k=7, min_relevance=0.0, rerank=False), runtime)
    assert plain[0].uri == "/notes/1.md" and plain[0].relevance != pytest.approx(expected[0], abs=1e-4)


def test_a_similarity_scale_set_for_one_space_keeps_the_others_defaults() -> None:
    from shared.config import SIMILARITY

    settings = Settings(search={"similarity": {"text": (0.3, 0.6)}})
    assert settings.search.similarity == {**SIMILARITY, "text": (0.3, 0.6)}
    with pytest.raises(ValueError, match="unknown scale 'audio'"):
        Settings(search={"similarity": {"audio": (0.1, 0.2)}})
