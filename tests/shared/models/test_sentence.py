"""shared/models/sentence.py: sentence-transformers encoders loaded from local paths, on the CPU.

`tiny_clip` is a random-weight CLIP (shapes and determinism, not meaning); `minilm` is the real
all-MiniLM-L6-v2, so meaning can be checked on text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.config import Settings
from shared.documents import Space
from shared.errors import ModelUnavailable
from shared.models import model_setting
from shared.models.encoders import encoder_for
from shared.models.sentence import SentenceTransformerEncoder, resolve_device


def load(path: Path | str, setting: str) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder.load(str(path), setting=setting, device="cpu", threads=1, batch_size=4)


@pytest.fixture(scope="module")
def clip(tiny_clip: Path) -> SentenceTransformerEncoder:
    return load(tiny_clip, "MMINDEX_MODELS__VISION")


@pytest.fixture(scope="module")
def text_model(minilm: Path) -> SentenceTransformerEncoder:
    return load(minilm, "MMINDEX_MODELS__TEXT")


def images() -> list[Image.Image]:
    red = Image.new("RGB", (64, 48), (255, 0, 0))
    gradient = Image.linear_gradient("L").resize((80, 60)).convert("RGB")
    small = Image.new("RGB", (20, 30), (0, 0, 255))
    return [red, gradient, small]


def assert_unit_rows(vectors: np.ndarray, rows: int, dimension: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_clip_encodes_images_and_texts_into_one_space(clip: SentenceTransformerEncoder) -> None:
    assert clip.modalities == {"image", "text"}
    assert clip.device == "cpu"
    image_vectors = clip.encode_images(images())
    text_vectors = clip.encode_texts(["a red square", "a gradient", "blue"])
    assert_unit_rows(image_vectors, 3, clip.dimension)
    assert_unit_rows(text_vectors, 3, clip.dimension)


def test_clip_vectors_are_deterministic_and_tell_images_apart(clip: SentenceTransformerEncoder) -> None:
    first = clip.encode_images(images())
    second = clip.encode_images(images())
    np.testing.assert_allclose(first, second, atol=1e-5)
    alone = clip.encode_images([images()[1]])
    np.testing.assert_allclose(alone[0], first[1], atol=1e-5)  # a batch neighbour does not change a vector
    similarity = first @ first.T
    assert similarity[0, 1] < 0.999  # different pictures, different vectors


def test_clip_finds_a_near_copy(clip: SentenceTransformerEncoder) -> None:
    original = Image.linear_gradient("L").resize((128, 96)).convert("RGB")
    copy = original.resize((64, 48))
    other = Image.new("RGB", (128, 96), (0, 200, 0))
    query, same, different = clip.encode_images([copy, original, other])
    assert float(query @ same) > float(query @ different)


def test_clip_texts_are_deterministic(clip: SentenceTransformerEncoder) -> None:
    np.testing.assert_allclose(clip.encode_texts(["a dog"]), clip.encode_texts(["a dog"]), atol=1e-5)


def test_minilm_encodes_texts(text_model: SentenceTransformerEncoder) -> None:
    assert text_model.dimension == 384
    assert text_model.modalities == {"text"}
    vectors = text_model.encode_texts(["first sentence", "second sentence"])
    assert_unit_rows(vectors, 2, 384)
    np.testing.assert_allclose(vectors, text_model.encode_texts(["first sentence", "second sentence"]), atol=1e-5)


def test_minilm_ranks_a_paraphrase_above_an_unrelated_sentence(text_model: SentenceTransformerEncoder) -> None:
    query, paraphrase, unrelated = text_model.encode_texts(
        ["A man is playing a guitar.", "Someone strums a guitar.", "The stock market fell sharply today."]
    )
    assert float(query @ paraphrase) > 0.5
    assert float(query @ paraphrase) > float(query @ unrelated) + 0.3


def test_no_inputs_give_no_vectors(clip: SentenceTransformerEncoder, text_model: SentenceTransformerEncoder) -> None:
    assert clip.encode_images([]).shape == (0, clip.dimension)
    assert text_model.encode_texts([]).shape == (0, 384)


def test_a_text_model_refuses_images(text_model: SentenceTransformerEncoder) -> None:
    with pytest.raises(ModelUnavailable, match="cannot encode images"):
        text_model.encode_images(images())


def test_a_missing_local_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__VISION") as raised:
        load(tmp_path / "no-such-model", "MMINDEX_MODELS__VISION")
    assert "no-such-model" in str(raised.value)


def test_a_directory_that_is_not_a_model_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__TEXT"):
        load(tmp_path / "junk", "MMINDEX_MODELS__TEXT")


def test_model_setting_names_the_variable_of_each_space() -> None:
    assert model_setting(Space.VISION) == "MMINDEX_MODELS__VISION"
    assert model_setting(Space.TEXT) == "MMINDEX_MODELS__TEXT"


def test_encoder_for_a_missing_model_names_the_space_setting(tmp_path: Path) -> None:
    settings = Settings(models={"vision": str(tmp_path / "nowhere"), "device": "cpu", "threads": 1})
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__VISION"):
        encoder_for(Space.VISION, settings)


@pytest.mark.parametrize("cuda", [False, True], ids=["no-cuda", "cuda"])
def test_cpu_is_always_available_and_auto_is_cuda_only_where_torch_sees_it(
    cuda: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)  # a GPU is what cannot be had here

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if cuda else "cpu")
    if cuda:
        assert resolve_device("cuda:1") == "cuda:1"
    else:
        with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__DEVICE=cuda:1 but torch sees no CUDA device"):
            resolve_device("cuda:1")


def test_a_text_longer_than_the_text_tower_takes_is_truncated(clip: SentenceTransformerEncoder) -> None:
    # The tiny CLIP's tokenizer declares no length limit; its text tower takes 77 positions.
    long_query = "a harbour at dusk with fishing boats, gulls over the water and lights along the quay " * 4

    vectors = clip.encode_texts([long_query, "a harbour at dusk"])

    assert_unit_rows(vectors, 2, clip.dimension)
