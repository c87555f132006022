"""The Kubernetes manifests (deploy/kubernetes/): Kubernetes' and KEDA's schemas, and what a user would notice.

The kustomization is rendered with `kubectl kustomize` where kubectl is installed, else loaded from the files it
lists (with its namespace and image rewrites applied the same way); either way every resource is checked.
Built-in kinds are validated with kubernetes-validate (strict: unknown fields are errors) against a fixed
Kubernetes version; KEDA's ScaledObject and TriggerAuthentication against the CRD schemas of pinned KEDA
releases, fetched as the Go module github.com/kedacore/keda/v2 with `go mod download` (Go module cache), with
unknown fields made errors as the API server makes them. Commands and MMINDEX_ variables are checked against the
command line and the settings object (tests/deploy/contract.py). Nothing here talks to a cluster.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from tornado.options import options as flower_options

from shared.config import Settings
from tests.deploy.contract import check_command, check_settings
from workers.api.access import check_bind
from workers.api.health import router as health_routes
from workers.queues import Queue

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
SECRET_EXAMPLE = BASE / "secret.example.yaml"

KUBERNETES_VERSION = "1.31.0"
"""The Kubernetes release whose API schemas the built-in resources must satisfy (kubernetes-validate ships it)."""
KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_VERSIONS = ("v2.16.1", "v2.21.0")
"""KEDA releases whose CRD schemas the KEDA resources must satisfy: an older one still met in clusters, and a
recent one."""

POOLS = [queue.value for queue in Queue]
WORKER_ACCOUNT = "mmindex-worker"
AWS_PODS = {*POOLS, "intake", "api"}
"""Pods that reach AWS (S3, SQS, the OpenSearch domain) and so run as the IRSA service account: the api reads the
domain (/readyz) and presigns links to the objects of hits."""
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
BUILTIN_KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment", "Service"}
CLUSTER_SCOPED = {"Namespace"}

Resource = dict[str, Any]


# --- rendering ---------------------------------------------------------------------------------------------------


def kustomize_build() -> list[Resource]:
    """The base as `kubectl kustomize` renders it."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    result = subprocess.run([kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"kubectl kustomize {BASE.relative_to(ROOT)} failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def retag(image: str, images: list[Mapping[str, str]]) -> str:
    """Kustomize's `images:` rewrite of one container image."""
    name = re.split(r"[@]|:(?=[^/]*$)", image, maxsplit=1)[0]
    for entry in images:
        if entry["name"] == name:
            target = entry.get("newName", name)
            if "digest" in entry:
                return f"{target}@{entry['digest']}"
            return f"{target}:{entry['newTag']}" if "newTag" in entry else target + image[len(name) :]
    return image


def load_listed() -> list[Resource]:
    """The files the kustomization lists, with its namespace and images applied as kustomize applies them."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    applied = {"apiVersion", "kind", "namespace", "resources", "images"}
    assert set(kustomization) <= applied, f"this loader does not apply {sorted(set(kustomization) - applied)}"
    resources: list[Resource] = []
    for listed in kustomization["resources"]:
        path = BASE / listed
        assert path.is_file(), f"the kustomization lists {listed}, which is not a file here"
        resources += [document for document in yaml.safe_load_all(path.read_text()) if document]
    for resource in resources:
        if "namespace" in kustomization and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = kustomization["namespace"]
        for container in containers(resource):
            container["image"] = retag(container["image"], kustomization.get("images", []))
    return resources


@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    """Every resource `kubectl apply -k deploy/kubernetes` would send."""
    return kustomize_build() if shutil.which("kubectl") else load_listed()


@pytest.fixture(scope="module")
def secret() -> Resource:
    """The example Secret, which users create themselves (it is not in the kustomization)."""
    documents = [document for document in yaml.safe_load_all(SECRET_EXAMPLE.read_text()) if document]
    assert len(documents) == 1, f"{SECRET_EXAMPLE.name} holds one Secret"
    return documents[0]


def key(resource: Mapping[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def named(resources: list[Resource], kind: str) -> dict[str, Resource]:
    found = {resource["metadata"]["name"]: resource for resource in resources if resource["kind"] == kind}
    assert len(found) == sum(resource["kind"] == kind for resource in resources), f"two {kind}s share a name"
    return found


def pod_spec(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    return resource["spec"]["template"]["spec"] if resource["kind"] == "Deployment" else None


def containers(resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def only_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    spec = pod_spec(deployment)
    assert spec is not None
    assert len(spec["containers"]) == 1, f"{key(deployment)} runs one container"
    return spec["containers"][0]


def data_of(resource: Mapping[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's values as the pods see them."""
    values = dict(resource.get("data") or {})
    if resource["kind"] == "Secret":
        values = {name: base64.b64decode(value).decode() for name, value in values.items()}
        values.update(resource.get("stringData") or {})
    return values


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values, command and args ($$ is a literal $)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([^)]*)\)", substitute, text)


def container_env(container: Mapping[str, Any], sources: Mapping[tuple[str, str], Resource]) -> dict[str, str]:
    """The variables a container starts with: envFrom first, then env (which may refer to earlier ones)."""

    def values(kind: str, name: str) -> dict[str, str]:
        assert (kind, name) in sources, f"container {container['name']} reads the {kind} {name!r}, which is not here"
        return data_of(sources[kind, name])

    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            found = values("ConfigMap", source["configMapRef"]["name"])
        else:
            found = values("Secret", source["secretRef"]["name"])
        env.update({prefix + name: value for name, value in found.items()})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = expand(variable["value"], env)
            continue
        [(field, ref)] = variable["valueFrom"].items()
        kind = {"configMapKeyRef": "ConfigMap", "secretKeyRef": "Secret"}.get(field, "")
        assert kind, f"{variable['name']}: only ConfigMap and Secret keys are resolved here, not {field}"
        found = values(kind, ref["name"])
        assert ref["key"] in found, f"{variable['name']} reads key {ref['key']!r} of the {kind} {ref['name']!r}"
        env[variable["name"]] = found[ref["key"]]
    return env


@pytest.fixture(scope="module")
def sources(resources: list[Resource], secret: Resource) -> dict[tuple[str, str], Resource]:
    """The ConfigMaps and Secrets pods read: the rendered ones and the example Secret."""
    return {key(resource): resource for resource in [*resources, secret] if resource["kind"] in {"ConfigMap", "Secret"}}


def pool_of(deployment: Mapping[str, Any]) -> str | None:
    args = only_container(deployment).get("args", [])
    return args[1] if args[:1] == ["worker"] and len(args) > 1 else None


# --- Kubernetes' schemas ---------------------------------------------------------------------------------------


def kubernetes_errors(resource: Resource) -> list[str]:
    try:
        version = kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path) or "(top)"
        return [f"{key(resource)} at {where}: {error.message}"]
    assert version == "1.31", f"validated against Kubernetes {version}, not {KUBERNETES_VERSION}"
    return []


def test_the_rendered_base_is_the_listed_files(resources: list[Resource]) -> None:
    """What kustomize renders is what the fallback loader reads, so the checks see the same resources either way."""
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed: the checks read the files the kustomization lists instead")
    by_key = {key(resource): resource for resource in resources}
    listed = {key(resource): resource for resource in load_listed()}
    assert sorted(by_key) == sorted(listed)
    for name, resource in by_key.items():
        assert resource == listed[name], f"{name}: kustomize renders it differently from the file"


def test_every_resource_is_checked(resources: list[Resource], secret: Resource) -> None:
    kinds = {resource["kind"] for resource in [*resources, secret]}
    assert kinds == BUILTIN_KINDS | KEDA_KINDS, (
        f"a kind no test validates: {sorted(kinds - BUILTIN_KINDS - KEDA_KINDS)}"
    )
    assert all(
        resource["metadata"].get("namespace") == "mmindex" for resource in resources if resource["kind"] != "Namespace"
    )
    assert {resource["apiVersion"] for resource in resources if resource["kind"] in KEDA_KINDS} == {"keda.sh/v1alpha1"}


def test_builtin_resources_validate_against_kubernetes_schemas(resources: list[Resource], secret: Resource) -> None:
    builtin = [resource for resource in [*resources, secret] if resource["kind"] in BUILTIN_KINDS]
    assert {resource["kind"] for resource in builtin} == BUILTIN_KINDS
    errors = [error for resource in builtin for error in kubernetes_errors(resource)]
    assert not errors, "\n".join(errors)


def test_a_misspelt_field_fails_kubernetes_validation(resources: list[Resource]) -> None:
    deployment = copy.deepcopy(named(resources, "Deployment")["decode"])
    assert not kubernetes_errors(deployment)
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriodSecond"] = spec.pop("terminationGracePeriodSeconds")
    assert kubernetes_errors(deployment)

    deployment = copy.deepcopy(named(resources, "Deployment")["decode"])
    deployment["spec"]["template"]["spec"]["containers"][0]["arg"] = ["worker", "decode"]
    assert kubernetes_errors(deployment)

    deployment = copy.deepcopy(named(resources, "Deployment")["decode"])
    deployment["spec"]["replicas"] = "2"
    assert kubernetes_errors(deployment)


# --- KEDA's CRD schemas ----------------------------------------------------------------------------------------


@cache
def keda_module(version: str) -> Path:
    """The unpacked KEDA module at `version`, downloaded once into the Go module cache."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"Go is not installed: KEDA's CRD schemas are read from the Go module {KEDA_MODULE}@{version}")
    with tempfile.TemporaryDirectory() as outside_any_module:
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{KEDA_MODULE}@{version}"],
            cwd=outside_any_module,
            env={**os.environ, "GO111MODULE": "on"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError:
        answer = {}
    assert result.returncode == 0 and "Error" not in answer and "Dir" in answer, (
        f"go mod download {KEDA_MODULE}@{version} failed: {answer.get('Error') or result.stderr or result.stdout}"
    )
    return Path(answer["Dir"])


def no_unknown_fields(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 structural schema as JSON Schema in which, as in the API server, an object's fields are the
    ones it declares, unless it preserves unknown fields or declares additionalProperties."""
    strict = dict(schema)
    if "properties" in strict:
        strict["properties"] = {name: no_unknown_fields(sub) for name, sub in strict["properties"].items()}
        if "additionalProperties" not in strict and not strict.get("x-kubernetes-preserve-unknown-fields"):
            strict["additionalProperties"] = False
    for word in ("items", "additionalProperties", "not"):
        if isinstance(strict.get(word), Mapping):
            strict[word] = no_unknown_fields(strict[word])
    for word in ("allOf", "anyOf", "oneOf"):
        if word in strict:
            strict[word] = [no_unknown_fields(sub) for sub in strict[word]]
    return strict


CEL_RULES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)": (
        lambda spec: spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)
    ),
}
"""The CEL validation rules of the pinned CRDs, evaluated here (the API server evaluates them on apply)."""


def cel_rules(schema: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(path of fields, rule, message) for every x-kubernetes-validations rule; '*' stands for a list's items."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, " ".join(rule["rule"].split()), rule.get("message", rule["rule"])
    for name, sub in schema.get("properties", {}).items():
        yield from cel_rules(sub, (*path, name))
    if isinstance(schema.get("items"), Mapping):
        yield from cel_rules(schema["items"], (*path, "*"))


def at(document: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if not path:
        yield document
    elif path[0] == "*":
        for item in document if isinstance(document, list) else []:
            yield from at(item, path[1:])
    elif isinstance(document, Mapping) and path[0] in document:
        yield from at(document[path[0]], path[1:])


@cache
def crd_schema(version: str, kind: str) -> tuple[dict[str, Any], tuple[tuple[tuple[str, ...], str, str], ...]]:
    """The JSON Schema of a KEDA kind's served storage version, and its CEL rules."""
    plural = {"ScaledObject": "scaledobjects", "TriggerAuthentication": "triggerauthentications"}[kind]
    crd = yaml.safe_load((keda_module(version) / "config" / "crd" / "bases" / f"keda.sh_{plural}.yaml").read_text())
    assert crd["spec"]["names"]["kind"] == kind
    [served] = [entry for entry in crd["spec"]["versions"] if entry["name"] == "v1alpha1" and entry["served"]]
    openapi = served["schema"]["openAPIV3Schema"]
    schema = no_unknown_fields(openapi)
    jsonschema.Draft7Validator.check_schema(schema)
    return schema, tuple(cel_rules(openapi))


GO_TAG = re.compile(r'keda:"name=([^,"]+),\s*order=([^,"]+)')


@cache
def redis_parameters(version: str) -> dict[str, frozenset[str]]:
    """The names KEDA's redis scaler reads, per place (triggerMetadata, authParams, resolvedEnv), from the
    `keda:"name=…, order=…"` tags of its typed configuration in pkg/scalers/redis_scaler.go."""
    source = (keda_module(version) / "pkg" / "scalers" / "redis_scaler.go").read_text()
    places: dict[str, set[str]] = {}
    for names, orders in GO_TAG.findall(source):
        for order in orders.split(";"):
            places.setdefault(order.strip(), set()).update(name.strip() for name in names.split(";"))
    assert {"listName", "listLength", "databaseIndex"} <= places.get("triggerMetadata", set()), "tags not understood"
    assert {"address", "password"} <= places.get("authParams", set()), "tags not understood"
    return {place: frozenset(names) for place, names in places.items()}


def keda_errors(resource: Mapping[str, Any], version: str) -> list[str]:
    """Why KEDA `version` would refuse `resource` (its CRD schema and rules, and the redis scaler's parameters)."""
    schema, rules = crd_schema(version, resource["kind"])
    errors = [
        f"{key(resource)} at {'.'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(resource)
    ]
    for path, rule, message in rules:
        assert rule in CEL_RULES, f"KEDA {version} {resource['kind']} has a CEL rule this test cannot evaluate: {rule}"
        errors += [f"{key(resource)}: {message}" for value in at(resource, path) if not CEL_RULES[rule](value)]
    redis = redis_parameters(version)
    metadata_names = redis["triggerMetadata"] | {f"{name}FromEnv" for name in redis.get("resolvedEnv", ())}
    for trigger in resource.get("spec", {}).get("triggers", []) if resource["kind"] == "ScaledObject" else []:
        if trigger.get("type") != "redis":
            errors.append(f"{key(resource)}: a {trigger.get('type')!r} trigger (this test knows the redis scaler)")
            continue
        unknown = set(trigger.get("metadata", {})) - metadata_names
        errors += [f"{key(resource)}: the redis scaler reads no metadata {name!r}" for name in sorted(unknown)]
        if "listName" not in trigger.get("metadata", {}):
            errors.append(f"{key(resource)}: a redis trigger needs listName")
    if resource["kind"] == "TriggerAuthentication":
        parameters = {ref.get("parameter") for ref in resource.get("spec", {}).get("secretTargetRef", [])}
        unknown = parameters - redis["authParams"]
        errors += [f"{key(resource)}: the redis scaler takes no parameter {name!r}" for name in sorted(unknown)]
    return errors


@pytest.mark.parametrize("version", KEDA_VERSIONS)
def test_keda_resources_validate_against_keda_crd_schemas(resources: list[Resource], version: str) -> None:
    keda = [resource for resource in resources if resource["kind"] in KEDA_KINDS]
    assert {resource["kind"] for resource in keda} == KEDA_KINDS
    errors = [error for resource in keda for error in keda_errors(resource, version)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("version", KEDA_VERSIONS)
def test_misspelt_keda_fields_fail_the_keda_schema(resources: list[Resource], version: str) -> None:
    original = named(resources, "ScaledObject")["decode"]
    assert not keda_errors(original, version)

    def broken(change: Callable[[dict[str, Any]], None]) -> list[str]:
        resource = copy.deepcopy(original)
        change(resource)
        return keda_errors(resource, version)

    def spec(resource: dict[str, Any]) -> dict[str, Any]:
        return resource["spec"]

    def trigger(resource: dict[str, Any]) -> dict[str, Any]:
        return resource["spec"]["triggers"][0]

    # a misspelt spec field
    assert broken(lambda resource: spec(resource).update(minReplicasCount=spec(resource).pop("minReplicaCount")))
    assert broken(lambda resource: spec(resource).update(pollingInterva1=15))
    # a misspelt trigger field
    assert broken(
        lambda resource: trigger(resource).update(authenticationRefs=trigger(resource).pop("authenticationRef"))
    )
    assert broken(lambda resource: trigger(resource).update(metdata=trigger(resource).pop("metadata")))
    # a misspelt scaler parameter, and a number where KEDA wants a string
    assert broken(
        lambda resource: trigger(resource)["metadata"].update(listname=trigger(resource)["metadata"].pop("listName"))
    )
    assert broken(lambda resource: trigger(resource)["metadata"].update(listLength=4))
    # a misspelt field of the TriggerAuthentication
    authentication = copy.deepcopy(named(resources, "TriggerAuthentication")["mmindex-redis"])
    assert not keda_errors(authentication, version)
    authentication["spec"]["secretTargetRefs"] = authentication["spec"].pop("secretTargetRef")
    assert keda_errors(authentication, version)


# --- commands and settings -------------------------------------------------------------------------------------


def exec_probes(container: Mapping[str, Any]) -> Iterator[list[str]]:
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if "exec" in container.get(probe, {}):
            yield container[probe]["exec"]["command"]


def test_every_container_runs_a_real_mmindex_command(resources: list[Resource], sources: dict[Any, Resource]) -> None:
    checked = 0
    for deployment in named(resources, "Deployment").values():
        for container in containers(deployment):
            assert "command" not in container, f"{key(deployment)}: the image's entrypoint is already `mmindex`"
            env = container_env(container, sources)
            args = [expand(arg, env) for arg in container["args"]]
            assert not [arg for arg in args if "$(" in arg], f"{key(deployment)}: {args} refers to unset variables"
            check_command(["mmindex", *args])
            for command in exec_probes(container):
                check_command(command)  # exec probes bypass the entrypoint: they name `mmindex` themselves
            checked += 1
    assert checked == len(POOLS) + 4  # the pools, intake, api, flower, metrics


def test_every_mmindex_variable_is_a_setting_and_they_validate(
    resources: list[Resource], secret: Resource, sources: dict[Any, Resource]
) -> None:
    configmap = named(resources, "ConfigMap")["mmindex"]
    every = {**data_of(configmap), **data_of(secret)}
    assert [name for name in every if name.startswith("MMINDEX_")], "no settings in the ConfigMap and Secret"
    check_settings(every)
    for deployment in named(resources, "Deployment").values():
        for container in containers(deployment):
            env = container_env(container, sources)
            settings = check_settings(env)
            assert settings.distributed, f"{key(deployment)} has no MMINDEX_BROKER_URL"
            assert settings.store.value == "opensearch" and settings.opensearch.auth == "sigv4"
            flower = [name for name in env if name.startswith("FLOWER_")]
            for name in flower:
                option = name.removeprefix("FLOWER_").lower()
                known = option in flower_options._options or option.replace("_", "-") in flower_options._options
                assert known, f"{key(deployment)}: Flower has no option for {name}"  # as Flower reads them


def pool_settings(deployment: Mapping[str, Any], sources: Mapping[Any, Resource]) -> Settings:
    return check_settings(container_env(only_container(deployment), sources))


# --- behaviour a user would notice ------------------------------------------------------------------------------


def test_each_pool_has_a_deployment_scaled_on_its_queue(resources: list[Resource]) -> None:
    deployments = named(resources, "Deployment")
    scaled = named(resources, "ScaledObject")
    authentications = named(resources, "TriggerAuthentication")
    assert {pool for pool in map(pool_of, deployments.values()) if pool} == set(POOLS)
    for queue in Queue:
        deployment = deployments[queue.value]
        assert pool_of(deployment) == queue.value, f"Deployment {queue.value} runs {only_container(deployment)['args']}"
        assert "replicas" not in deployment["spec"], f"{queue.value}: replicas belong to the ScaledObject"
        targets = [so for so in scaled.values() if so["spec"]["scaleTargetRef"]["name"] == queue.value]
        assert len(targets) == 1, f"Deployment {queue.value} is scaled by {len(targets)} ScaledObjects"
        target = targets[0]["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment" and target.get("apiVersion", "apps/v1") == "apps/v1"
        [trigger] = targets[0]["spec"]["triggers"]
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["listName"] == queue.value, "KEDA must watch the Redis list Celery fills"
        assert int(trigger["metadata"]["listLength"]) >= 1
        assert trigger["authenticationRef"]["name"] in authentications
        assert trigger["authenticationRef"].get("kind", "TriggerAuthentication") == "TriggerAuthentication"
        spec = targets[0]["spec"]
        assert 0 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)


def test_query_is_never_scaled_to_zero(resources: list[Resource]) -> None:
    [query] = [
        so for so in named(resources, "ScaledObject").values() if so["spec"]["scaleTargetRef"]["name"] == "query"
    ]
    assert query["spec"].get("minReplicaCount", 0) >= 1


def test_keda_reads_the_redis_the_workers_use(resources: list[Resource], secret: Resource) -> None:
    values = data_of(secret)
    broker = urlsplit(values["MMINDEX_BROKER_URL"])
    assert broker.scheme in {"redis", "rediss"}
    assert values["address"] == f"{broker.hostname}:{broker.port or 6379}"
    assert values["password"] == broker.password
    database = (broker.path or "/0").strip("/") or "0"
    for scaled in named(resources, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"].get("databaseIndex", "0") == database, "KEDA would count another database"
            assert (trigger["metadata"].get("enableTLS") == "true") == (broker.scheme == "rediss")
    for authentication in named(resources, "TriggerAuthentication").values():
        for ref in authentication["spec"]["secretTargetRef"]:
            assert ref["name"] == secret["metadata"]["name"] and ref["key"] in values


def test_embed_runs_on_a_gpu_and_the_others_do_not(resources: list[Resource], sources: dict[Any, Resource]) -> None:
    for name, deployment in named(resources, "Deployment").items():
        container = only_container(deployment)
        gpus = int(container["resources"].get("limits", {}).get("nvidia.com/gpu", 0))
        cuda = container["image"].endswith("-cuda")
        if name == "embed":
            assert gpus == 1 and cuda
            assert pool_settings(deployment, sources).models.device == "cuda"
            tolerations = deployment["spec"]["template"]["spec"].get("tolerations", [])
            assert any(toleration.get("key") == "nvidia.com/gpu" for toleration in tolerations)
        else:
            assert gpus == 0 and not cuda, f"{name} needs no GPU"


def test_images_are_the_kustomization_targets(resources: list[Resource]) -> None:
    images = {container["image"] for d in named(resources, "Deployment").values() for container in containers(d)}
    assert images == {"mmindex:0.1.0", "mmindex:0.1.0-cuda"}


def effective_security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    return {**pod.get("securityContext", {}), **container.get("securityContext", {})}


def test_every_container_runs_as_non_root_under_the_restricted_standard(resources: list[Resource]) -> None:
    namespace = named(resources, "Namespace")["mmindex"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in named(resources, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        assert all(
            set(volume) & {"emptyDir", "configMap", "secret", "persistentVolumeClaim"}
            for volume in pod.get("volumes", [])
        )
        for container in containers(deployment):
            security = effective_security(pod, container)
            assert security.get("runAsNonRoot") is True, f"{key(deployment)} may run as root"
            assert security.get("runAsUser") == 10001
            assert security.get("allowPrivilegeEscalation") is False
            assert not security.get("privileged")
            assert security.get("capabilities", {}).get("drop") == ["ALL"]
            assert not security.get("capabilities", {}).get("add")
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault"


def test_stopping_a_worker_lets_its_task_finish(resources: list[Resource], sources: dict[Any, Resource]) -> None:
    deployments = named(resources, "Deployment")
    for pool in POOLS:
        settings = pool_settings(deployments[pool], sources)
        grace = deployments[pool]["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > settings.tasks.time_limit_s, f"{pool}: a task may be killed mid-way on every scale-down"
        liveness = only_container(deployments[pool])["livenessProbe"]
        window = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
        assert window > settings.tasks.time_limit_s, f"{pool}: a worker busy with one long task would be restarted"


def test_worker_probes_ping_their_own_pool(resources: list[Resource]) -> None:
    for pool in POOLS:
        container = only_container(named(resources, "Deployment")[pool])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            assert command[:3] == ["mmindex", "ping", pool], f"{pool}: {probe} runs {command}"
            timeout = float(command[command.index("--timeout") + 1]) if "--timeout" in command else 5.0
            assert container[probe].get("timeoutSeconds", 1) > timeout, f"{pool}: {probe} is cut before ping ends"


def test_services_select_their_pods_and_ports_match(resources: list[Resource]) -> None:
    deployments = named(resources, "Deployment")
    services = named(resources, "Service")
    assert set(services) == {"api", "flower", "metrics"}
    for name, service in services.items():
        selector = service["spec"]["selector"]
        selected = [
            d for d in deployments.values() if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert [d["metadata"]["name"] for d in selected] == [name], f"Service {name} selects {selected}"
        container = only_container(deployments[name])
        ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            number = ports.get(target) if isinstance(target, str) else target
            assert number in ports.values(), f"Service {name} port {port['port']} reaches no container port"
        for probe in ("readinessProbe", "livenessProbe"):
            handler = container[probe].get("httpGet") or container[probe].get("tcpSocket")
            assert handler is not None, f"{name}: {probe} is not an HTTP or TCP probe"
            assert handler["port"] in ports or handler["port"] in ports.values()
        assert container["readinessProbe"].get("httpGet"), f"{name}: readiness is an HTTP request"


def test_flower_and_metrics_listen_where_their_services_point(resources: list[Resource]) -> None:
    deployments = named(resources, "Deployment")
    flower = only_container(deployments["flower"])
    assert "--address=0.0.0.0" in flower["args"]
    assert f"--port={flower['ports'][0]['containerPort']}" in flower["args"]
    assert any(
        var["name"] == "FLOWER_BASIC_AUTH" and "secretKeyRef" in var.get("valueFrom", {}) for var in flower["env"]
    )
    metrics = only_container(deployments["metrics"])
    args = metrics["args"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert int(args[args.index("--port") + 1]) == metrics["ports"][0]["containerPort"]
    assert metrics["readinessProbe"]["httpGet"]["path"] == "/metrics"
    annotations = named(resources, "Service")["metrics"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == metrics["ports"][0]["containerPort"]


def test_the_api_serves_behind_its_service_with_probes_on_its_port(
    resources: list[Resource], sources: dict[Any, Resource]
) -> None:
    deployment, service = named(resources, "Deployment")["api"], named(resources, "Service")["api"]
    container = only_container(deployment)
    args = container["args"]
    assert args[0] == "serve"
    assert args[args.index("--host") + 1] == "0.0.0.0", "the api must listen beyond its own pod"
    [port] = container["ports"]
    assert int(args[args.index("--port") + 1]) == port["containerPort"] == 8000
    # readiness: /readyz (503 while the broker, the ledger or the store is down); liveness: /healthz
    paths = {getattr(route, "path", None) for route in health_routes.routes}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and path in paths, f"api: {probe} asks for {get['path']}"
        assert get["port"] in {port["name"], port["containerPort"]}, f"api: {probe} asks another port"
    # the Service: port 8000 onto the container's port, selecting the api's pods and no others
    [service_port] = service["spec"]["ports"]
    assert service_port["port"] == 8000
    assert service_port.get("targetPort", service_port["port"]) in {port["name"], port["containerPort"]}
    selector = service["spec"]["selector"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= selector.items()
    others = [name for name, d in named(resources, "Deployment").items() if name != "api"]
    for name in others:
        labels = named(resources, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= labels.items(), f"Service api also selects the pods of {name}"
    # more than one replica, which no ScaledObject resets (searches and submissions go through the broker)
    assert deployment["spec"].get("replicas", 1) >= 2
    scaled = {so["spec"]["scaleTargetRef"]["name"] for so in named(resources, "ScaledObject").values()}
    assert "api" not in scaled
    # the keys come from the Secret, and with them `serve --host 0.0.0.0` listens (without, it exits 2)
    for name in ("MMINDEX_API__ADMIN_KEYS", "MMINDEX_API__SEARCH_KEYS"):
        [variable] = [variable for variable in container["env"] if variable["name"] == name]
        assert "secretKeyRef" in variable.get("valueFrom", {}), f"api: {name} is not read from the Secret"
    settings = check_settings(container_env(container, sources))
    assert settings.distributed, "the api's replicas share work through the broker only in distributed mode"
    assert settings.api.admin_keys and settings.api.search_keys
    check_bind(args[args.index("--host") + 1], settings.api)
    # stopping lets a search waiting for the query pool finish
    grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    assert grace > settings.tasks.query_timeout_s


def test_service_links_cannot_become_settings(resources: list[Resource]) -> None:
    """Kubernetes adds NAME_SERVICE_HOST, NAME_PORT=tcp://… for every Service to pods with service links on;
    Flower parses every FLOWER_* variable as an option and mmindex refuses unknown MMINDEX_* ones."""
    prefixes = {service.upper().replace("-", "_") + "_" for service in named(resources, "Service")}
    assert "FLOWER_" in prefixes  # the Service `flower` would hand the Flower pod FLOWER_PORT=tcp://…
    for deployment in named(resources, "Deployment").values():
        if deployment["spec"]["template"]["spec"].get("enableServiceLinks", True):
            leaking = {prefix for prefix in prefixes if prefix.startswith(("FLOWER_", "MMINDEX_"))}
            assert not leaking, f"{key(deployment)} would get {sorted(leaking)} variables from service links"


def test_aws_pods_run_as_the_irsa_service_account(resources: list[Resource]) -> None:
    accounts = named(resources, "ServiceAccount")
    assert accounts[WORKER_ACCOUNT]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    for name, deployment in named(resources, "Deployment").items():
        account = deployment["spec"]["template"]["spec"].get("serviceAccountName")
        assert account is None or account in accounts, f"{name} runs as a ServiceAccount that is not here"
        assert (account == WORKER_ACCOUNT) == (name in AWS_PODS), f"{name} runs as {account}"


def test_the_intake_polls_the_configured_queue_once(resources: list[Resource], sources: dict[Any, Resource]) -> None:
    intake = named(resources, "Deployment")["intake"]
    assert intake["spec"].get("replicas", 1) == 1
    assert intake["metadata"]["name"] not in {
        so["spec"]["scaleTargetRef"]["name"] for so in named(resources, "ScaledObject").values()
    }
    container = only_container(intake)
    env = container_env(container, sources)
    args = [expand(arg, env) for arg in container["args"]]
    assert args[:2] == ["events", "sqs"]
    url = args[args.index("--queue-url") + 1]
    assert url == data_of(named(resources, "ConfigMap")["mmindex"])["SQS_QUEUE_URL"]
    assert urlsplit(url).scheme == "https" and ".sqs." in f".{urlsplit(url).hostname}"


def test_the_secret_is_left_to_the_user(resources: list[Resource]) -> None:
    """`kubectl apply -k` must never overwrite the user's Secret with the example's placeholders."""
    assert not named(resources, "Secret")
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert SECRET_EXAMPLE.name not in listed
