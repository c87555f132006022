"""The real `mmindex` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.services import BIN


@dataclass
class Cli:
    """Runs the real `mmindex` command with `env`, in `cwd`; remembers the arguments of every call."""

    env: dict[str, str]
    cwd: Path
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        return subprocess.run(
            [str(BIN / "mmindex"), *args],
            check=False,
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str, expect: int | None = 0) -> Any:
        """The command's `--json` output; it must exit with `expect` (any code when None)."""
        result = self(*args, "--json")
        if expect is not None:
            assert result.returncode == expect, f"mmindex {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return json.loads(result.stdout)


def mmindex_environment(home: Path, tiny_clip: Path, minilm: Path, whisper: Path, s3_endpoint: str) -> dict[str, str]:
    """Environment for an embedded-mode mmindex whose index is at `home`: local models, the S3 server.

    Searches show every hit however weak (minimum relevance 0): the tests' CLIP has random weights, its
    similarities all alike, so each of its rankings is flat and even a near copy's match would fall below the
    default minimum. Tests about the minimum relevance set it themselves. Words in pictures are off (each process
    would load the OCR models, and each picture pay for the check): the tests about them turn them on."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(
        MMINDEX_HOME=str(home),
        MMINDEX_MODELS__VISION=str(tiny_clip),
        MMINDEX_MODELS__TEXT=str(minilm),
        MMINDEX_MODELS__ASR=str(whisper),
        MMINDEX_MODELS__DEVICE="cpu",
        MMINDEX_MODELS__THREADS="1",
        MMINDEX_S3__ENDPOINT_URL=s3_endpoint,
        MMINDEX_SEARCH__MIN_RELEVANCE="0",
        MMINDEX_MODELS__OCR="none",
        MMINDEX_MODELS__EXPORT_DIR=str(home.parent / "exports"),  # exported models: never the user's cache
    )
    return env
