"""docker-compose.yml as `docker compose` reads it, and what a user of it would notice.

The file is loaded by compose-go (tests/deploy/compose, a small Go program around the library that
`docker compose config` uses): the Compose spec's schema, variable interpolation with `.env.example`, profiles.
What it loads is then checked: a service consumes every pool, the long-running services are watched and
restarted, the secrets come from the env file, MinIO's events reach the intake, the api serves with the keys from
the env file, every mmindex command parses and every MMINDEX_ variable is a setting. No Docker engine is needed,
and none runs anything here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.contract import check_command, check_settings
from workers.api.access import check_bind
from workers.api.health import router as health_routes
from workers.queues import POOLS as _POOLS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
LOADER = Path(__file__).resolve().parent / "compose"
PROFILES: dict[str, tuple[str, ...]] = {"default": (), "gpu": ("gpu",), "dashboards": ("dashboards",)}
INFRASTRUCTURE = {"redis", "opensearch", "minio", "minio-setup"}
ONE_SHOT = {"minio-setup"}
SECRETS = {
    "REDIS_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "MMINDEX_EVENTS__TOKEN",
    "FLOWER_BASIC_AUTH",
    "MMINDEX_API__ADMIN_KEYS",
    "MMINDEX_API__SEARCH_KEYS",
}

Service = dict[str, Any]


def go_command() -> str | None:
    """The Go toolchain: `go` on PATH, else the one in $GOROOT."""
    found = shutil.which("go")
    if found:
        return found
    goroot = os.environ.get("GOROOT")
    if goroot and (Path(goroot) / "bin" / "go").is_file():
        return str(Path(goroot) / "bin" / "go")
    return None


@pytest.fixture(scope="session")
def loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compose loader, built once per session (the first build fetches compose-go's modules)."""
    go = go_command()
    if go is None:
        pytest.skip("no Go toolchain (`go` is not on PATH): the compose file is checked with compose-go, a Go library")
    binary = tmp_path_factory.mktemp("compose-loader") / "compose"
    result = subprocess.run(
        [go, "build", "-mod=readonly", "-o", str(binary), "."],
        cwd=LOADER,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"building the compose loader failed:\n{result.stderr}"
    return binary


def load(
    loader: Path, *, file: Path = COMPOSE, env_file: Path = ENV_EXAMPLE, profiles: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the loader: the normalized project as JSON on stdout, or the loader's error on stderr and exit 1."""
    return subprocess.run(
        [str(loader), "-file", str(file), "-env-file", str(env_file), "-profile", ",".join(profiles)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")},
    )


_projects: dict[tuple[str, ...], dict[str, Any]] = {}


def project(loader: Path, profiles: Sequence[str] = ()) -> dict[str, Any]:
    key = tuple(profiles)
    if key not in _projects:
        result = load(loader, profiles=key)
        assert result.returncode == 0, f"compose-go refuses docker-compose.yml (profiles {key}):\n{result.stderr}"
        _projects[key] = json.loads(result.stdout)
    return _projects[key]


@pytest.fixture(params=sorted(PROFILES), ids=sorted(PROFILES))
def services(request: pytest.FixtureRequest, loader: Path) -> dict[str, Service]:
    """The services one `docker compose [--profile P] up` starts, as compose normalized them."""
    services: dict[str, Service] = project(loader, PROFILES[request.param])["services"]
    return services


@pytest.fixture
def default(loader: Path) -> dict[str, Service]:
    services: dict[str, Service] = project(loader)["services"]
    return services


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def is_mmindex(service: Service) -> bool:
    """Built from the project's Dockerfiles, so its entrypoint is `mmindex`."""
    return str(service.get("build", {}).get("dockerfile", "")).startswith("deploy/docker/")


def mmindex_services(services: dict[str, Service]) -> Iterator[tuple[str, Service]]:
    yield from ((name, service) for name, service in services.items() if is_mmindex(service))


def option(command: Sequence[str], name: str) -> str:
    """The value of `--name value` or `--name=value` in a command line."""
    for index, word in enumerate(command):
        if word == name and index + 1 < len(command):
            return command[index + 1]
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    raise AssertionError(f"{list(command)} has no {name}")


def seconds(duration: str) -> float:
    """A Go duration as compose-go writes it (`6m10s`, `1m0s`, `500ms`) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, f"not a duration: {duration}"
    return sum(float(number) * units[unit] for number, unit in parts)


def pool_of(service: Service) -> str | None:
    command = service.get("command") or []
    return command[1] if len(command) >= 2 and command[0] == "worker" else None


# ---------------------------------------------------------------- what runs


def test_every_pool_has_a_service_consuming_it(services: dict[str, Service]) -> None:
    consumed = {pool_of(service) for _, service in mmindex_services(services)}
    missing = set(_POOLS) - consumed
    assert not missing, f"no service runs `mmindex worker` for the pool(s) {sorted(missing)}"


def test_the_whole_system_is_there(services: dict[str, Service]) -> None:
    commands = {name: (service.get("command") or [None])[0] for name, service in mmindex_services(services)}
    assert set(services) >= INFRASTRUCTURE, f"missing {sorted(INFRASTRUCTURE - set(services))}"
    for name, command in {"intake": "events", "api": "serve", "flower": "flower", "metrics": "metrics"}.items():
        assert commands.get(name) == command, f"service {name} should run `mmindex {command}`"


def test_every_mmindex_command_and_health_check_parses(services: dict[str, Service]) -> None:
    checked = 0
    for name, service in mmindex_services(services):
        assert service.get("entrypoint") is None, f"{name}: the image's entrypoint (mmindex) must not be replaced"
        assert service.get("command"), f"{name}: no command (the image's default is not a service)"
        check_command(["mmindex", *service["command"]])
        checked += 1
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test") or []
        if test[:2] == ["CMD", "mmindex"]:
            check_command(test[1:])
            checked += 1
        else:
            assert not any("mmindex " in word for word in test), f"{name}: run mmindex health checks in CMD form"
    assert checked >= 2 * len(_POOLS) + 4, (
        "fewer mmindex commands than pools, their pings, intake, api, flower, metrics"
    )


def test_every_mmindex_variable_is_a_setting(services: dict[str, Service]) -> None:
    for name, service in mmindex_services(services):
        environment = {key: value or "" for key, value in (service.get("environment") or {}).items()}
        settings = check_settings(environment)
        assert settings.distributed, f"{name}: no broker, so it would run in embedded mode"
        assert settings.store.value == "opensearch", f"{name}: the store must be the OpenSearch service"
        assert settings.opensearch.replicas == 0, f"{name}: one node cannot hold replicas (the index stays yellow)"
        assert environment.get("HF_HOME"), f"{name}: HF_HOME is unset, so models download outside the volume"


def test_long_running_services_are_watched_and_restarted(services: dict[str, Service]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} runs once: it must not be restarted"
            continue
        assert service.get("restart") in {"always", "unless-stopped"}, f"{name}: no restart policy"
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name}: no health check"
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: health check {healthcheck['test']}"


def test_each_worker_pings_its_own_pool_and_finishes_its_task_on_stop(services: dict[str, Service]) -> None:
    for name, service in mmindex_services(services):
        pool = pool_of(service)
        if pool is None:
            continue
        healthcheck = service["healthcheck"]
        assert healthcheck["test"][1:4] == ["mmindex", "ping", pool], f"{name}: the health check pings another pool"
        ping_timeout = float(option(healthcheck["test"], "--timeout")) if "--timeout" in healthcheck["test"] else 5.0
        assert seconds(healthcheck["timeout"]) > ping_timeout, f"{name}: the check is killed before ping gives up"
        settings = check_settings(service["environment"])
        grace = seconds(service.get("stop_grace_period", "10s"))
        assert grace > settings.tasks.time_limit_s, f"{name}: stopping kills a task before its time limit"


def test_workers_wait_for_what_they_use(services: dict[str, Service]) -> None:
    for name, service in mmindex_services(services):
        if service["command"][0] in {"worker", "serve"}:  # the api presigns links to the bucket's objects
            needs = {"redis", "opensearch", "minio"}
        elif service["command"][0] == "events":
            needs = {"redis", "opensearch"}  # MinIO waits for it instead (below)
        else:
            needs = {"redis"}
        depends = service.get("depends_on") or {}
        for dependency in needs:
            assert dependency in depends, f"{name} does not wait for {dependency}"
            assert depends[dependency]["condition"] == "service_healthy", f"{name} starts before {dependency} is up"


def test_minio_starts_with_its_webhook_target_online(services: dict[str, Service]) -> None:
    """MinIO registers its webhook target when it starts, and minio-setup subscribes the bucket to it after."""
    assert services["minio"]["depends_on"]["intake"]["condition"] == "service_healthy"
    assert services["minio-setup"]["depends_on"]["minio"]["condition"] == "service_healthy"


# ---------------------------------------------------------------- secrets and services


def test_redis_is_durable_and_needs_the_password(default: dict[str, Service]) -> None:
    redis = default["redis"]
    command = redis["command"]
    password = env_example()["REDIS_PASSWORD"]
    assert option(command, "--appendonly") == "yes", "Redis without AOF loses queued tasks and the ledger on restart"
    assert option(command, "--requirepass") == password
    assert any(volume["target"] == "/data" and volume["type"] == "volume" for volume in redis["volumes"])
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    assert redis["environment"].get("REDISCLI_AUTH") == password, "the health check's redis-cli cannot log in"
    for name, service in mmindex_services(default):
        url = urlsplit(service["environment"]["MMINDEX_BROKER_URL"])
        assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379), f"{name}: broker {url.geturl()}"
        assert url.password == password, f"{name}: the broker URL does not carry REDIS_PASSWORD"


def test_flower_logs_in_with_the_env_file_secret(default: dict[str, Service]) -> None:
    flower = default["flower"]
    assert flower["environment"].get("FLOWER_BASIC_AUTH") == env_example()["FLOWER_BASIC_AUTH"]
    assert ":" in flower["environment"]["FLOWER_BASIC_AUTH"], "FLOWER_BASIC_AUTH is user:password"
    assert "${FLOWER_BASIC_AUTH:?" in COMPOSE.read_text(), "Flower must refuse to start without a login"
    port = int(option(flower["command"], "--port"))
    assert any(published["target"] == port for published in flower.get("ports", [])), "Flower's port is unpublished"


def test_the_api_serves_the_page_on_8000_with_the_keys_from_the_env_file(default: dict[str, Service]) -> None:
    api, listed = default["api"], env_example()
    command = api["command"]
    assert command[0] == "serve"
    assert option(command, "--host") == "0.0.0.0", "the api must listen beyond its own container"
    port = int(option(command, "--port"))
    assert port == 8000
    published = [(p["target"], int(p["published"]), p.get("host_ip")) for p in api.get("ports", [])]
    assert published == [(port, 8000, listed["BIND_ADDRESS"])], f"the api is published as {published}"
    # the health check: /healthz (it answers while the broker is down; /readyz says what is) on the api's port
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], f"api: health check {test}"
    compile(test[3], "healthcheck", "exec")
    assert f"'http://127.0.0.1:{port}/healthz'" in test[3]
    assert "/healthz" in {getattr(route, "path", None) for route in health_routes.routes}
    # the keys come from .env, and compose refuses to start without them
    text = COMPOSE.read_text()
    for name in ("MMINDEX_API__ADMIN_KEYS", "MMINDEX_API__SEARCH_KEYS"):
        assert f"${{{name}:?" in text, f"the api must refuse to start without {name}"
        assert api["environment"][name] == listed[name], f"the api does not get {name} from .env"
    settings = check_settings(api["environment"])
    admin = {key.get_secret_value() for key in settings.api.admin_keys}
    search = {key.get_secret_value() for key in settings.api.search_keys}
    assert admin == {listed["MMINDEX_API__ADMIN_KEYS"]} and search == {listed["MMINDEX_API__SEARCH_KEYS"]}
    assert not admin & search, "a search key that is also an admin key may do everything"
    check_bind(option(command, "--host"), settings.api)  # without keys, `serve --host 0.0.0.0` exits 2
    # POST /v1/events takes MinIO's notifications with the intake's token (404 without one)
    token = settings.events.token
    assert token is not None and token.get_secret_value() == default["intake"]["environment"]["MMINDEX_EVENTS__TOKEN"]
    # stopping lets a search waiting for the query pool finish
    assert seconds(api["stop_grace_period"]) > settings.tasks.query_timeout_s


def test_minio_events_reach_the_intake_with_its_token(default: dict[str, Service]) -> None:
    minio, intake = default["minio"]["environment"], default["intake"]
    targets = [name.removeprefix("MINIO_NOTIFY_WEBHOOK_ENDPOINT_") for name in minio if "WEBHOOK_ENDPOINT_" in name]
    assert len(targets) == 1, f"MinIO should have one webhook target, not {targets}"
    target = targets[0]
    assert minio[f"MINIO_NOTIFY_WEBHOOK_ENABLE_{target}"] == "on"
    endpoint = urlsplit(minio[f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{target}"])
    command = intake["command"]
    assert command[:2] == ["events", "webhook"]
    assert option(command, "--host") == "0.0.0.0", "the intake must listen beyond its own container"
    assert endpoint.hostname == "intake", f"MinIO posts to {endpoint.hostname}, not to the intake service"
    assert endpoint.port == int(option(command, "--port")), "MinIO posts to another port than the intake's"
    token = minio[f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{target}"]
    assert token == intake["environment"]["MMINDEX_EVENTS__TOKEN"], "MinIO's token is not the one the intake wants"
    assert token and not re.search(r"\s", token), "a token with a space is sent as is, without `Bearer `"
    assert f"127.0.0.1:{endpoint.port}/" in " ".join(intake["healthcheck"]["test"])
    # events wait on the volume while the intake is down, outside the folder MinIO serves buckets from
    queue = minio[f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{target}"]
    drive = default["minio"]["command"][1]
    mounts = [volume["target"] for volume in default["minio"]["volumes"] if volume["type"] == "volume"]
    assert any(queue.startswith(f"{mount}/") for mount in mounts), f"the event queue {queue} is not on a volume"
    assert not queue.startswith(f"{drive}/"), f"the event queue {queue} would show up as a bucket of {drive}"
    # minio-setup subscribes the bucket to that target, for uploads and deletions, idempotently
    setup = default["minio-setup"]
    script = " ".join(setup["command"])
    bucket = setup["environment"]["BUCKET"]
    assert bucket == env_example()["MINIO_BUCKET"]
    assert setup["depends_on"]["minio"]["condition"] == "service_healthy"
    assert re.search(r"mc mb --ignore-existing \S*\$BUCKET", script), "the bucket is not created (idempotently)"
    add = re.search(r"mc event add (.*)", script)
    assert add, "the bucket's notifications are not set up"
    assert f"arn:minio:sqs::{target}:webhook" in add[1], f"the bucket notifies another target than {target}"
    assert "--event put,delete" in add[1]
    assert "--ignore-existing" in add[1], "a second `up` would fail on the existing notification"


def test_the_workers_use_minio_with_its_credentials(default: dict[str, Service]) -> None:
    minio = default["minio"]["environment"]
    for name, service in mmindex_services(default):
        environment = service["environment"]
        assert urlsplit(environment["MMINDEX_S3__ENDPOINT_URL"]).hostname == "minio", name
        assert environment["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert environment["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name


def test_opensearch_is_one_node_and_only_on_localhost(default: dict[str, Service]) -> None:
    opensearch = default["opensearch"]
    environment = opensearch["environment"]
    assert environment["discovery.type"] == "single-node"
    assert environment["DISABLE_SECURITY_PLUGIN"] == "true"
    assert environment["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    heap = re.findall(r"-Xm[sx](\S+)", environment["OPENSEARCH_JAVA_OPTS"])
    assert len(heap) == 2 and heap[0] == heap[1], "set the heap's -Xms and -Xmx, equal"
    assert opensearch["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    assert opensearch["ulimits"]["nofile"]["soft"] >= 65536
    assert opensearch["ports"], "publish OpenSearch on 127.0.0.1 for `curl` and the tests"
    for port in opensearch["ports"]:
        assert port.get("host_ip") == "127.0.0.1", f"OpenSearch without security is published on {port}"
    assert "_cluster/health" in " ".join(opensearch["healthcheck"]["test"])
    for name, service in mmindex_services(default):
        url = urlsplit(service["environment"]["MMINDEX_OPENSEARCH__URL"])
        assert (url.hostname, url.port) == ("opensearch", 9200), name


def test_dashboards_only_with_their_profile(loader: Path) -> None:
    assert "dashboards" not in project(loader)["services"]
    dashboards = project(loader, ["dashboards"])["services"]["dashboards"]
    assert dashboards["environment"]["DISABLE_SECURITY_DASHBOARDS_PLUGIN"] == "true"
    assert "http://opensearch:9200" in dashboards["environment"]["OPENSEARCH_HOSTS"]
    assert all(port.get("host_ip") == "127.0.0.1" for port in dashboards.get("ports", []))


def test_the_gpu_profile_embeds_on_an_nvidia_device(loader: Path) -> None:
    assert "embed-gpu" not in project(loader)["services"], "a host without a GPU would fail to start embed-gpu"
    services = project(loader, ["gpu"])["services"]
    gpu, cpu = services["embed-gpu"], services["embed"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        device["driver"] == "nvidia" and "gpu" in device["capabilities"] and device.get("count", 0) >= 1
        for device in devices
    ), f"embed-gpu reserves no NVIDIA GPU: {devices}"
    assert gpu["command"] == cpu["command"] and pool_of(gpu) == "embed"
    assert check_settings(gpu["environment"]).models.device.startswith("cuda")
    assert gpu["build"]["dockerfile"].endswith("Dockerfile.cuda")
    assert gpu["image"] != cpu["image"]
    same = {key: value for key, value in gpu["environment"].items() if key != "MMINDEX_MODELS__DEVICE"}
    assert same == cpu["environment"], "embed-gpu is configured unlike embed"


def test_a_cpu_torch_index_stays_out_of_the_cuda_image(loader: Path, tmp_path: Path) -> None:
    """TORCH_INDEX_URL makes the CPU image small; the CUDA image given CPU-only torch would not use the GPU."""
    env_file = tmp_path / ".env"
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith("TORCH_INDEX_URL=")]
    env_file.write_text("\n".join([*lines, "TORCH_INDEX_URL=cpu-wheels", ""]))
    result = load(loader, env_file=env_file, profiles=["gpu"])
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["decode"]["build"].get("args", {}).get("TORCH_INDEX_URL") == "cpu-wheels"
    assert "cpu-wheels" not in json.dumps(services["embed-gpu"]["build"]), "the CUDA image would get CPU-only torch"


def test_state_lives_on_named_volumes(default: dict[str, Service], loader: Path) -> None:
    declared = set(project(loader).get("volumes") or {})
    expected = {"redis": "/data", "opensearch": "/usr/share/opensearch/data", "minio": "/"}
    for name, prefix in expected.items():
        named = [v for v in default[name].get("volumes", []) if v["type"] == "volume" and v["source"] in declared]
        assert any(v["target"].startswith(prefix) for v in named), f"{name} keeps its data on no named volume"
    minio_drive = default["minio"]["command"][1]
    assert any(minio_drive.startswith(v["target"]) for v in default["minio"]["volumes"] if v["type"] == "volume"), (
        f"MinIO serves {minio_drive}, which is on no volume"
    )
    for name, service in mmindex_services(default):
        mounts = {v["target"]: v["source"] for v in service.get("volumes", []) if v["type"] == "volume"}
        models = service["environment"]["HF_HOME"]
        assert mounts.get(models) == "models", f"{name}: models download into the container, not the volume"
        assert mounts.get(service["environment"]["MMINDEX_HOME"]) in declared, f"{name}: MMINDEX_HOME on no volume"


# ---------------------------------------------------------------- the env file


def test_the_env_file_example_names_every_variable_the_compose_file_uses() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    required = set(re.findall(r"(?<!\$)\$\{(\w+):\?", text))
    listed = env_example()
    assert used - set(listed) == set(), f".env.example misses {sorted(used - set(listed))}"
    assert set(listed) - used == set(), f".env.example lists variables no service uses: {sorted(set(listed) - used)}"
    assert required >= SECRETS, f"secrets with a default instead of a required value: {sorted(SECRETS - required)}"
    for name in required:
        assert listed[name], f".env.example gives {name} no placeholder"


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_a_missing_secret_is_refused(loader: Path, tmp_path: Path, secret: str) -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    kept = [line for line in lines if not line.startswith(f"{secret}=")]
    assert len(kept) == len(lines) - 1, f".env.example does not set {secret}"
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(kept) + "\n")
    result = load(loader, env_file=env_file)
    assert result.returncode != 0, f"the compose file starts without {secret}"
    assert f"required variable {secret} is missing" in result.stderr, result.stderr


def test_the_loader_refuses_a_misspelt_key(loader: Path, tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    misspelt = text.replace("\n    restart: unless-stopped\n", "\n    restrat: unless-stopped\n", 1)
    assert misspelt != text, "the compose file has no service-level `restart: unless-stopped` to misspell"
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(misspelt)
    result = load(loader, file=copy)
    assert result.returncode != 0, "compose-go accepted a misspelt key"
    assert "restrat" in result.stderr, result.stderr
    assert load(loader).returncode == 0, "the unaltered compose file should load"
