"""shared/generators/local.py: the packaged SmolLM2-135M GGUF through llama.cpp answers a question from numbered
sources in streamed pieces; a model file that is missing, not GGUF, or broken is one line naming it."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import ModelUnavailable
from shared.generators import Generator, Prompt, generator_for
from shared.generators.local import LocalGenerator, model_path, packaged_model
from tests.support.standin import one_line


def local_settings(model: str = "") -> Settings:
    return Settings(
        generator={"kind": "local", "model": model, "max_tokens": 32, "context_tokens": 100},
        models={"threads": 2},
    )


@pytest.fixture(scope="module")
def local() -> Generator:
    """The packaged model, loaded once for this module."""
    return generator_for(local_settings())


def test_the_packaged_model_is_found() -> None:
    path = packaged_model()

    assert path is not None
    assert path.suffix == ".gguf"
    with path.open("rb") as file:
        assert file.read(4) == b"GGUF"
    assert model_path(local_settings().generator) == path


def test_a_question_on_numbered_sources_is_answered_in_streamed_pieces(local: Generator, jpeg: bytes) -> None:
    assert isinstance(local, LocalGenerator)
    packaged = packaged_model()
    assert packaged is not None
    assert local.model == packaged.name
    assert local.reads_images is False
    question = Prompt(
        "Answer the question from the numbered sources only, and cite the source's number as [n].",
        (
            "Sources:\n[1] The museum opens at nine on Sundays.\n[2] Tickets cost twelve euros.\n",
            jpeg,  # left out: the model reads only words
            "\nQuestion: When does the museum open on Sundays?",
        ),
    )

    pieces = list(local.stream(question))

    assert len(pieces) > 1
    assert all(isinstance(piece, str) and piece for piece in pieces)
    assert "".join(pieces).strip()


def test_a_missing_model_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"

    with pytest.raises(ModelUnavailable) as failed:
        generator_for(local_settings(str(missing)))

    assert one_line(failed.value) == (
        f"MMINDEX_GENERATOR__MODEL={missing}: no such file (the local generator takes a GGUF file)"
    )


def test_a_file_that_is_not_gguf_is_one_line_naming_it(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x00" + os.urandom(4095))

    with pytest.raises(ModelUnavailable) as failed:
        generator_for(local_settings(str(noise)))

    assert one_line(failed.value) == f"MMINDEX_GENERATOR__MODEL={noise}: not a GGUF model file"


def cut_short() -> bytes:
    """The packaged model's first megabyte: a true header, no weights."""
    path = packaged_model()
    assert path is not None
    with path.open("rb") as file:
        return file.read(1 << 20)


@pytest.mark.parametrize(
    "content",
    [lambda: b"GGUF" + random.Random(0).randbytes(4096), cut_short],
    ids=["garbage-after-the-magic", "cut-short"],
)
def test_a_gguf_file_that_is_broken_is_one_line_naming_it(tmp_path: Path, content: Callable[[], bytes]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(content())

    with pytest.raises(ModelUnavailable) as failed:
        generator_for(local_settings(str(broken)))

    message = one_line(failed.value)
    assert message.startswith(f"MMINDEX_GENERATOR__MODEL={broken}: llama.cpp cannot load it")
