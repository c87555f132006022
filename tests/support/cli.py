"""The real `mmindex` command, run as a user runs it."""

from __future__ import annotations

import json
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
