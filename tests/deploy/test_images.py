"""The container images, read from their Dockerfiles: what a build and a container would do with them.

No image is built here (that needs a Docker engine); the Dockerfiles are parsed, and what they name is
checked against the repository (files they copy, the `.dockerignore` that filters the build context), the
command line (the default command) and the settings (the variables they set).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.deploy.contract import check_command, check_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "cpu": ROOT / "deploy" / "docker" / "Dockerfile",
    "cuda": ROOT / "deploy" / "docker" / "Dockerfile.cuda",
}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT or VOLUME; a shell form is a failure."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            raise AssertionError(f"line {self.line}: {self.keyword} {self.args} is not in JSON (exec) form") from None
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not a list"
        return [str(item) for item in value]

    def pairs(self) -> dict[str, str]:
        """KEY=value pairs of ENV, LABEL or ARG (also the old `ENV KEY value` form)."""
        words = shlex.split(self.args)
        if self.keyword == "ENV" and words and "=" not in words[0]:
            return {words[0]: " ".join(words[1:])}
        return dict(word.split("=", 1) if "=" in word else (word, "") for word in words)


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(instruction.pairs())
        return values


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined; comments and blank lines dropped."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(part for part in pending if part)))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued line"
    return lines


def parse(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [word for word in args.split() if not word.startswith("--")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda match: global_args.get(match[1], match[0]), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name, number))
        elif not stages:
            assert keyword == "ARG", f"{path.name} line {number}: only ARG may come before the first FROM"
            global_args.update(Instruction(keyword, args, number).pairs())
        else:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    assert stages, f"{path.name} has no FROM"
    return Dockerfile(path, global_args, stages)


@pytest.fixture(scope="module", params=sorted(DOCKERFILES), ids=sorted(DOCKERFILES))
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    path = DOCKERFILES[request.param]
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return parse(path)


def test_every_base_image_is_pinned_to_an_exact_version(dockerfile: Dockerfile) -> None:
    names: set[str] = set()
    for stage in dockerfile.stages:
        where = f"line {stage.line}: FROM {stage.base}"
        if stage.base not in names and "@sha256:" not in stage.base:  # not an earlier stage, not a digest
            last = stage.base.rsplit("/", 1)[-1]
            assert ":" in last, f"{where} has no tag (it would mean `latest`)"
            tag = last.split(":", 1)[1]
            assert tag != "latest", f"{where} floats with `latest`"
            assert re.search(r"\d+\.\d+\.\d+", tag), f"{where}: the tag is not an exact version"
        if stage.name:
            names.add(stage.name)


def test_the_final_stage_runs_mmindex_as_a_user_who_is_not_root(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    entrypoints = final.all("ENTRYPOINT")
    assert entrypoints, "the final stage has no ENTRYPOINT"
    assert entrypoints[-1].exec_form() == ["mmindex"]
    users = [instruction for instruction in final.all("USER") if instruction.line < entrypoints[-1].line]
    assert users, "the final stage sets no USER before its ENTRYPOINT: the container would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}, f"USER {users[-1].args} is root"
    assert final.all("WORKDIR"), "the final stage sets no WORKDIR"


def test_the_default_command_is_a_real_mmindex_command(dockerfile: Dockerfile) -> None:
    commands = dockerfile.final.all("CMD")
    assert commands, "the final stage has no default CMD"
    check_command(["mmindex", *commands[-1].exec_form()])


def test_models_and_data_live_on_volumes_the_user_owns(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    env = final.env()
    assert env.get("HF_HOME") == "/models", "models must download into the /models volume"
    assert env.get("MMINDEX_HOME") == "/data"
    settings = check_settings(env)
    assert str(settings.home) == "/data"
    volumes = [path for instruction in final.all("VOLUME") for path in instruction.exec_form()]
    assert {"/models", "/data"} <= set(volumes), f"VOLUME {volumes} misses /models or /data"
    uid = final.all("USER")[-1].args.split(":")[0]
    setup = " ".join(instruction.args for instruction in final.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {uid}\b", setup), f"no RUN creates the user {uid}"
    assert re.search(r"chown\b[^&;]*\s/models\b", setup), "/models is not given to the user"
    assert re.search(r"chown\b[^&;]*\s/data\b", setup), "/data is not given to the user"


def test_the_runtime_stage_gets_the_venv_the_build_stage_made(dockerfile: Dockerfile) -> None:
    build = dockerfile.stages[0]
    runs = " ".join(instruction.args for instruction in build.all("RUN"))
    match = re.search(r"-m venv (\S+)", runs)
    assert match, "the build stage makes no venv"
    venv = match[1]
    assert re.search(r"pip install\b.*'\.\[asr[,\]]", runs), "the build stage does not install mmindex with [asr]"
    copies = [copy.args.split() for copy in dockerfile.final.all("COPY") if copy.args.startswith("--from=")]
    assert any(words[-2:] == [venv, venv] for words in copies), f"the final stage does not copy {venv}"
    assert f"{venv}/bin" in dockerfile.final.env().get("PATH", "").split(":"), f"{venv}/bin is not on PATH"


def test_the_extras_installed_exist() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for path in DOCKERFILES.values():
        for match in re.finditer(r"\.\[([\w,-]+)\]", path.read_text()):
            for extra in match[1].split(","):
                assert extra in extras, f"{path.name} installs the extra [{extra}], which pyproject.toml lacks"


def test_the_images_carry_oci_labels(dockerfile: Dockerfile) -> None:
    labels: dict[str, str] = {}
    for instruction in dockerfile.final.all("LABEL"):
        labels.update(instruction.pairs())
    for name in ("title", "description", "version", "licenses"):
        assert labels.get(f"org.opencontainers.image.{name}"), f"no label org.opencontainers.image.{name}"


def test_both_images_run_as_the_same_user() -> None:
    """The pools share the `models` and `home` volumes: a file one image writes, the other must read."""
    users = {kind: parse(path).final.all("USER")[-1].args for kind, path in DOCKERFILES.items()}
    assert len(set(users.values())) == 1, users


def test_the_cpu_image_python_satisfies_the_project() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(part) for part in re.findall(r"\d+", requires)[:2])
    for stage in parse(DOCKERFILES["cpu"]).stages:
        match = re.match(r"python:(\d+)\.(\d+)", stage.base)
        assert match, f"FROM {stage.base} is not a python image"
        assert (int(match[1]), int(match[2])) >= minimum, f"FROM {stage.base}: the project needs Python {requires}"


# ---------------------------------------------------------------- the build context


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) per line of .dockerignore, in order: the last match decides, as in Docker."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part.startswith("**"):
                regex += "(?:.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        rules.append((excludes, re.compile(regex)))
    return rules


def ignored(path: str) -> bool:
    """Whether the build context leaves `path` (relative to the root) out: it, or a folder above it, matches."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    decision = False
    for excludes, pattern in dockerignore():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            decision = excludes
    return decision


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    for path in (".venv/bin/python", ".git/HEAD", ".env", ".mmindex/ledger.db", ".opensearch/home/lib/x.jar"):
        assert ignored(path), f".dockerignore lets {path} into the build context"
    for path in ("shared/__pycache__/config.cpython-312.pyc", "tests/fixtures/speech/a.wav"):
        assert ignored(path), f".dockerignore lets {path} into the build context"


def test_every_copied_file_exists_and_reaches_the_build(dockerfile: Dockerfile) -> None:
    copies = [*dockerfile.final.all("COPY"), *dockerfile.final.all("ADD")]
    copies += [copy for stage in dockerfile.stages[:-1] for copy in (*stage.all("COPY"), *stage.all("ADD"))]
    checked = 0
    for copy in copies:
        words = copy.exec_form() if copy.args.startswith("[") else shlex.split(copy.args)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        sources = [word for word in words if not word.startswith("--")][:-1]
        assert sources, f"line {copy.line}: {copy.keyword} {copy.args} copies nothing"
        for source in sources:
            matches = sorted(ROOT.glob(source))
            assert matches, f"line {copy.line}: {copy.keyword} source {source} does not exist in the repository"
            for match in matches:
                relative = match.relative_to(ROOT).as_posix()
                assert not ignored(relative), f"line {copy.line}: {source} is excluded by .dockerignore"
                checked += 1
    assert checked >= 3, "the images copy fewer files than pyproject.toml, README.md and the packages"


# ---------------------------------------------------------------- what the compose file builds


def test_the_compose_file_builds_the_images_from_these_dockerfiles() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    builds: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        assert isinstance(build, dict), f"{name}: build must name its Dockerfile"
        context = ROOT / build.get("context", ".")
        assert context.resolve() == ROOT, f"{name}: the build context must be the repository root"
        dockerfile = (context / build["dockerfile"]).resolve()
        assert dockerfile.is_file(), f"{name}: {build['dockerfile']} does not exist"
        builds.setdefault(str(dockerfile), set()).add(service["image"])
    assert set(builds) == {str(path.resolve()) for path in DOCKERFILES.values()}, builds
    assert all(len(images) == 1 for images in builds.values()), f"one Dockerfile, several image names: {builds}"
    cpu, cuda = (next(iter(builds[str(DOCKERFILES[kind].resolve())])) for kind in ("cpu", "cuda"))
    assert cpu != cuda, "the CPU and CUDA images must not share a name"
