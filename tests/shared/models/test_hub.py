"""shared/models/__init__.py: the quick check that a model hub answers, and what a load does when none does.

The hub is the one thing replaced here: its network call is patched, or a local socket that never answers
stands in for it. Models come from the packaged all-MiniLM-L6-v2, laid out as the hub cache keeps them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import models
from shared.config import Settings
from shared.documents import Space
from shared.errors import RETRYABLE, HubUnreachable, ModelUnavailable, PermanentError
from shared.models import check_loadable
from shared.models.encoders import encoder_for

UNCACHED = "mmindex-tests/no-such-model"
ROOT = Path(__file__).resolve().parents[3]


class Answer:
    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *_: object) -> None:
        return None


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A process that may ask a hub (the tests run with HF_HUB_OFFLINE=1) and has not asked one yet; yields the
    list of the calls `hub` records."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(models, "_hub_answer", None)
    yield []


def hub(monkeypatch: pytest.MonkeyPatch, calls: list[str], answers: list[bool]) -> None:
    """The hub's network call answers (True) or not (False, as when DNS fails), in turn."""

    def urlopen(url: str, timeout: float) -> Any:
        calls.append(url)
        if not answers.pop(0):
            raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_a_hub_that_did_not_answer_once_is_asked_again_and_the_model_loads(
    online: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub(monkeypatch, online, [False, True])
    monkeypatch.setattr(models, "HUB_RECHECK_S", 0.0)  # the blip is over by the next check

    with pytest.raises(HubUnreachable):
        check_loadable(UNCACHED, "MMINDEX_MODELS__TEXT", retryable=True)
    assert "HF_HUB_OFFLINE" not in os.environ  # the worker is not left offline for the rest of its life

    assert check_loadable(UNCACHED, "MMINDEX_MODELS__TEXT", retryable=True) is False  # from the hub
    assert len(online) == 2


def test_the_hub_s_answer_is_remembered_for_a_while(online: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    hub(monkeypatch, online, [False])
    for _ in range(3):
        with pytest.raises(ModelUnavailable):
            check_loadable(UNCACHED, "MMINDEX_MODELS__TEXT")
    assert len(online) == 1  # one check, not one wait per load


def test_a_worker_retries_a_model_it_cannot_download_for_now(
    online: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub(monkeypatch, online, [False])
    settings = Settings(broker_url="redis://127.0.0.1:1/0", models={"text": UNCACHED, "device": "cpu", "threads": 1})

    with pytest.raises(HubUnreachable) as raised:
        encoder_for(Space.TEXT, settings)

    assert isinstance(raised.value, RETRYABLE) and not isinstance(raised.value, PermanentError)
    message = str(raised.value)
    assert "\n" not in message
    assert "not in the local cache and no model hub answers" in message
    assert "MMINDEX_MODELS__TEXT" in message


def test_a_command_fails_at_once_and_so_does_a_worker_told_to_stay_offline(
    online: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub(monkeypatch, online, [False])
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__VISION"):
        check_loadable(UNCACHED, "MMINDEX_MODELS__VISION", retryable=False)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the operator's choice: retrying cannot help
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE is set"):
        check_loadable(UNCACHED, "MMINDEX_MODELS__VISION", retryable=True)
    assert len(online) == 1  # HF_HUB_OFFLINE: no hub is asked


@pytest.fixture
def silent_hub() -> Iterator[tuple[str, list[socket.socket]]]:
    """A hub that takes connections and never answers (a firewall that drops packets looks the same to a
    client); yields its URL and the connections it took."""
    server = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            taken.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", taken
    server.close()
    for connection in taken:
        connection.close()


def hub_cache(home: Path, repo: str, model: Path) -> None:
    """`model`'s files laid out in HF_HOME as a download from the hub leaves them."""
    commit = "0" * 40
    root = home / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(model, root / "snapshots" / commit)


def test_a_cached_hub_model_loads_without_asking_a_hub_that_does_not_answer(
    minilm: Path, tmp_path: Path, silent_hub: tuple[str, list[socket.socket]]
) -> None:
    endpoint, taken = silent_hub
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    hub_cache(tmp_path / "hf", repo, minilm)
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=endpoint, MMINDEX_HOME=str(tmp_path / "home"))
    script = (
        "from shared.config import Settings\n"
        "from shared.documents import Space\n"
        "from shared.models.encoders import encoder_for\n"
        f"settings = Settings(models={{'text': {repo!r}, 'device': 'cpu', 'threads': 1}})\n"
        "print(encoder_for(Space.TEXT, settings).encode_texts(['a harbour at dusk']).shape)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(1, 384)"
    assert len(taken) == 1  # the quick check only: the loader asked the silent hub nothing
