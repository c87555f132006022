"""shared/config.py: the MMINDEX_* names in the README are a contract; bad values fail at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import Settings, StoreKind, get_settings
from shared.home_settings import save_home_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the MMINDEX_* variables it sets."""
    for name in list(os.environ):
        if name.upper().startswith("MMINDEX_"):
            monkeypatch.delenv(name)


def test_defaults_are_embedded_mode_with_the_documented_models() -> None:
    settings = Settings()
    assert settings.home == Path(".mmindex")
    assert settings.broker_url is None
    assert not settings.distributed
    assert settings.store is StoreKind.EMBEDDED
    assert settings.models.vision == "clip-ViT-B-32"
    assert settings.models.text == "all-MiniLM-L6-v2"
    assert settings.models.asr == "tiny.en"
    assert settings.models.device == "auto"
    assert settings.video.sampling == "fps"
    assert settings.video.fps == 1.0
    assert settings.s3.endpoint_url is None


def test_every_contract_name_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "MMINDEX_HOME": str(tmp_path / "home"),
        "MMINDEX_BROKER_URL": "redis://127.0.0.1:6379/2",
        "MMINDEX_STORE": "opensearch",
        "MMINDEX_OPENSEARCH__URL": "https://search.example:9200",
        "MMINDEX_OPENSEARCH__AUTH": "sigv4",
        "MMINDEX_OPENSEARCH__SERVICE": "aoss",
        "MMINDEX_OPENSEARCH__REGION": "eu-west-1",
        "MMINDEX_OPENSEARCH__INDEX": "media",
        "MMINDEX_S3__ENDPOINT_URL": "http://127.0.0.1:9000",
        "MMINDEX_MODELS__VISION": "/models/clip",
        "MMINDEX_MODELS__TEXT": "/models/minilm",
        "MMINDEX_MODELS__ASR": "none",
        "MMINDEX_MODELS__DEVICE": "cuda:1",
        "MMINDEX_VIDEO__SAMPLING": "scene",
        "MMINDEX_VIDEO__FPS": "2.5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.home == tmp_path / "home"
    assert settings.artifacts_dir == tmp_path / "home" / "artifacts"
    assert settings.broker_url == "redis://127.0.0.1:6379/2"
    assert settings.distributed
    assert settings.store is StoreKind.OPENSEARCH
    assert settings.opensearch.url == "https://search.example:9200"
    assert settings.opensearch.auth == "sigv4"
    assert settings.opensearch.service == "aoss"
    assert settings.opensearch.region == "eu-west-1"
    assert settings.opensearch.index == "media"
    assert settings.s3.endpoint_url == "http://127.0.0.1:9000"
    assert settings.models.vision == "/models/clip"
    assert settings.models.text == "/models/minilm"
    assert settings.models.asr == "none"
    assert settings.models.device == "cuda:1"
    assert settings.video.sampling == "scene"
    assert settings.video.fps == 2.5


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("mmindex_models__device", "cpu")
    assert Settings().models.device == "cpu"


@pytest.mark.parametrize(
    "name",
    ["MMINDEX_OPENSEARCH__URLS", "MMINDEX_S3__ENDPOINT", "MMINDEX_MODELS__VISON", "MMINDEX_VIDEO__RATE"],
)
def test_an_unknown_nested_name_is_rejected(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "x")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Settings()


def test_a_misspelt_top_level_name_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_BROKER", "redis://127.0.0.1:6379/0")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MMINDEX_STORE", "elasticsearch"),
        ("MMINDEX_OPENSEARCH__AUTH", "kerberos"),
        ("MMINDEX_OPENSEARCH__SERVICE", "es2"),
        ("MMINDEX_MODELS__DEVICE", "gpu"),
        ("MMINDEX_MODELS__DEVICE", "cuda:x"),
        ("MMINDEX_VIDEO__SAMPLING", "every-frame"),
        ("MMINDEX_VIDEO__FPS", "0"),
        ("MMINDEX_VIDEO__FPS", "-1"),
        ("MMINDEX_VIDEO__FPS", "fast"),
        ("MMINDEX_S3__MAX_OBJECT_BYTES", "0"),
        ("MMINDEX_IMAGE__THUMBNAIL_PX", "16"),
        ("MMINDEX_MODELS__THREADS", "-1"),
    ],
)
def test_an_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_opensearch_store_without_a_url_is_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_STORE", "opensearch")
    with pytest.raises(ValidationError, match="MMINDEX_OPENSEARCH__URL"):
        Settings()


def test_a_tls_broker_url_must_say_how_to_check_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery's result backend refuses a rediss:// URL without ssl_cert_reqs when a worker starts; say so up front."""
    from celery import Celery

    monkeypatch.setenv("MMINDEX_BROKER_URL", "rediss://:token@cache.example.internal:6379/0")
    with pytest.raises(ValidationError, match=r"MMINDEX_BROKER_URL.*\?ssl_cert_reqs=required"):
        Settings()
    url = "rediss://:token@cache.example.internal:6379/0?ssl_cert_reqs=required"
    monkeypatch.setenv("MMINDEX_BROKER_URL", url)
    assert Settings().broker_url == url
    assert Celery(broker=url, backend=url).backend.as_uri()  # what the worker banner reads at start


def test_basic_auth_without_credentials_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_OPENSEARCH__AUTH", "basic")
    with pytest.raises(ValidationError, match="__USERNAME and __PASSWORD"):
        Settings()
    monkeypatch.setenv("MMINDEX_OPENSEARCH__USERNAME", "admin")
    monkeypatch.setenv("MMINDEX_OPENSEARCH__PASSWORD", "s3cret")
    settings = Settings()
    assert settings.opensearch.password is not None
    assert settings.opensearch.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(("soft", "hard"), [("360", "360"), ("400", "360")])
def test_soft_time_limit_must_be_below_the_hard_limit(monkeypatch: pytest.MonkeyPatch, soft: str, hard: str) -> None:
    monkeypatch.setenv("MMINDEX_TASKS__SOFT_TIME_LIMIT_S", soft)
    monkeypatch.setenv("MMINDEX_TASKS__TIME_LIMIT_S", hard)
    with pytest.raises(ValidationError, match="soft_time_limit_s must be below"):
        Settings()


def test_visibility_timeout_must_exceed_the_hard_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_TASKS__TIME_LIMIT_S", "4000")
    monkeypatch.setenv("MMINDEX_TASKS__SOFT_TIME_LIMIT_S", "3900")
    with pytest.raises(ValidationError, match="visibility_timeout_s must exceed"):
        Settings()
    monkeypatch.setenv("MMINDEX_TASKS__VISIBILITY_TIMEOUT_S", "4001")
    assert Settings().tasks.visibility_timeout_s == 4001


def test_limits_in_order_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_INGEST__SOURCE_TIMEOUT_S", "5")
    monkeypatch.setenv("MMINDEX_TASKS__SOFT_TIME_LIMIT_S", "10")
    monkeypatch.setenv("MMINDEX_TASKS__TIME_LIMIT_S", "20")
    settings = Settings()
    assert (settings.ingest.source_timeout_s, settings.tasks.soft_time_limit_s, settings.tasks.time_limit_s) == (
        5,
        10,
        20,
    )


@pytest.mark.parametrize("source", ["300", "400"])
def test_a_documents_time_limit_must_fit_in_a_tasks_soft_limit(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    monkeypatch.setenv("MMINDEX_INGEST__SOURCE_TIMEOUT_S", source)
    with pytest.raises(ValidationError, match=r"ingest.source_timeout_s must be below tasks.soft_time_limit_s"):
        Settings()


def test_torch_threads_setting_wins_else_cores_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMINDEX_MODELS__THREADS", "3")
    monkeypatch.setenv("MMINDEX_WORKER_PROCESSES", "8")
    assert Settings().torch_threads() == 3
    monkeypatch.delenv("MMINDEX_MODELS__THREADS")
    cores = os.cpu_count() or 1
    monkeypatch.setenv("MMINDEX_WORKER_PROCESSES", "1")
    assert Settings().torch_threads() == cores
    monkeypatch.setenv("MMINDEX_WORKER_PROCESSES", str(cores * 4))
    assert Settings().torch_threads() == 1


def test_the_readme_documents_every_setting_and_nothing_else() -> None:
    """The configuration table names each variable once, shortening `MMINDEX_GROUP__A` / `__B` in one row."""
    import re

    from pydantic import BaseModel

    names = set()
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names |= {f"MMINDEX_{name.upper()}__{sub.upper()}" for sub in group.model_fields}
        else:
            names.add(f"MMINDEX_{name.upper()}")
    documented = set()
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for row in readme.splitlines():
        if row.startswith("| `MMINDEX_"):
            base = ""
            for part in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1]):
                if part.startswith("MMINDEX_"):
                    documented.add(part)
                    base = part.rsplit("__", 1)[0]
                else:
                    documented.add(base + part)
    assert sorted(names - documented) == []  # settings the README does not mention
    assert sorted(documented - names) == []  # names in the README that are not settings


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:6379", "is not a redis:// or rediss:// URL"),
        ("http://:hunter2@localhost:6379/0", "is not a redis:// or rediss:// URL"),
        ("redis://:hunter2@localhost:63x9/0", "has an invalid port"),
        ("redis:///0", "names no host"),
    ],
)
def test_a_malformed_broker_url_is_one_reason_without_its_password(
    monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.setenv("MMINDEX_BROKER_URL", url)
    with pytest.raises(ValidationError) as error:
        Settings()
    (reason,) = [found["msg"] for found in error.value.errors()]  # what `mmindex` prints
    assert problem in reason and "MMINDEX_BROKER_URL" in reason
    assert "hunter2" not in reason


def test_the_home_settings_file_is_read_below_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMINDEX_HOME", str(tmp_path / "home"))
    save_home_settings({"MMINDEX_MODELS__VISION": "/models/clip", "MMINDEX_MODELS__TEXT": "/models/minilm"})
    save_home_settings({"MMINDEX_MODELS__TEXT": "/models/other"})  # kept over the earlier value, others stay
    monkeypatch.setenv("MMINDEX_MODELS__VISION", "/elsewhere/clip")
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()

    assert settings.models.vision == "/elsewhere/clip"  # the environment wins
    assert settings.models.text == "/models/other"
    assert settings.models.asr == "tiny.en"
