"""deploy/aws/mmindex.yaml: CloudFormation's own checks (cfn-lint) and what the stack must do for mmindex.

Nothing here reaches AWS. cfn-lint validates the template against CloudFormation's resource schemas; the
behaviour checks resolve the template's intrinsic functions (`!Sub`, `!Ref`, `!GetAtt`, `!If`) with sample
values for what only AWS knows (ARNs, the queue URL, the domain endpoint) and look at the result: the
notifications, the queue policy, the domain's settings and the IAM policies, against the AWS calls the code
makes. The intake command and the settings the outputs and the README give are checked against the real CLI
and settings object (`tests/deploy/contract.py`).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

from shared.config import S3Settings, StoreKind
from tests.deploy.contract import check_command, check_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "mmindex.yaml"
README = ROOT / "deploy" / "aws" / "README.md"
REGIONS = ["eu-west-1", "us-east-1"]

ACCOUNT = "123456789012"
REGION = "eu-west-1"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/mmindex-EventQueue-Sample1"
ENDPOINT = f"search-mmindex-sample1.{REGION}.es.amazonaws.com"
ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

# What the code calls (boto3 client methods) and the IAM action each needs. A call not listed here fails
# `test_worker_actions_match_the_code`: give the workers its action in the template, then list it here.
CALLS = {
    "head_object": "s3:GetObject",
    "get_object": "s3:GetObject",  # also the presigned URLs the decode pool gives ffmpeg
    "list_objects_v2": "s3:ListBucket",
    "put_object": "s3:PutObject",
    "delete_objects": "s3:DeleteObject",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message_batch": "sqs:DeleteMessage",
}
CODE = [ROOT / "shared" / "storage" / "s3.py", ROOT / "workers" / "intakes" / "sqs.py"]
ES_ACTIONS = {f"es:ESHttp{verb}" for verb in ("Get", "Head", "Post", "Put")}  # no DELETE: see WorkerSearchPolicy
S3_READS = {"s3:GetObject", "s3:ListBucket"}
"""S3 actions a worker may use on the whole bucket; any other may touch only the derived prefix."""

NO_VALUE = object()


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template, short tags (`!Sub` …) read as their long forms (`Fn::Sub` …) by cfn-lint's own loader."""
    template: dict[str, Any] = load_cfn_yaml(path.read_text(encoding="utf-8"), str(path))
    return template


class Stack:
    """The template as CloudFormation would resolve it for some parameters, with sample values for the
    ARNs, names and endpoints that only a deployment knows."""

    def __init__(self, template: Mapping[str, Any], **parameters: str) -> None:
        self.template = template
        unknown = set(parameters) - set(template["Parameters"])
        assert not unknown, f"no such parameters: {unknown}"
        values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        values.update(parameters)
        self.parameters = values
        bucket = values["BucketName"] or f"mmindex-{ACCOUNT}-{REGION}"
        domain = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{values['DomainName']}"
        role = f"{stack_name()}-worker-{REGION}"
        self.values = {
            **values,
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": stack_name(),
            "MediaBucket": bucket,
            "MediaBucket.Arn": f"arn:aws:s3:::{bucket}",
            "EventQueue": QUEUE_URL,
            "EventQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:mmindex-EventQueue-Sample1",
            "DeadLetterQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/mmindex-DeadLetterQueue-Sample2",
            "DeadLetterQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:mmindex-DeadLetterQueue-Sample2",
            "WorkerRole": role,
            "WorkerRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "SearchDomain": values["DomainName"],
            "SearchDomain.Arn": domain,
            "SearchDomain.DomainEndpoint": ENDPOINT,
        }

    def lookup(self, name: str) -> str:
        assert name in self.values, f"the template refers to {name!r}, which this test has no value for"
        return self.values[name]

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, expression: Mapping[str, Any]) -> bool:
        ((function, argument),) = expression.items()
        if function == "Fn::Equals":
            left, right = (self.resolve(side) for side in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.truth(argument[0])
        if function == "Fn::And":
            return all(self.truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self.truth(item) for item in argument)
        if function == "Condition":
            return self.condition(argument)
        raise AssertionError(f"unexpected condition function {function}")

    def sub(self, text: str, local: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            return str(local[name]) if name in local else self.lookup(name)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, Mapping):
            if len(node) == 1:
                ((key, argument),) = node.items()
                if key == "Ref":
                    return NO_VALUE if argument == "AWS::NoValue" else self.lookup(argument)
                if key == "Fn::GetAtt":
                    resource, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                    return self.lookup(f"{resource}.{attribute}")
                if key == "Fn::Sub":
                    if isinstance(argument, str):
                        return self.sub(argument, {})
                    text, variables = argument
                    return self.sub(text, {name: self.resolve(value) for name, value in variables.items()})
                if key == "Fn::If":
                    condition, then, otherwise = argument
                    return self.resolve(then if self.condition(condition) else otherwise)
                if key == "Fn::Join":
                    separator, items = argument
                    return separator.join(str(item) for item in self.resolve(items))
                assert not key.startswith("Fn::"), f"unexpected function {key}"
            resolved = {key: self.resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not NO_VALUE}
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        return node

    def properties(self, name: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.template["Resources"][name].get("Properties", {}))
        return resolved

    def output(self, name: str) -> str:
        assert name in self.template["Outputs"], f"the template has no output {name}"
        return str(self.resolve(self.template["Outputs"][name]["Value"]))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.template["Resources"].items() if spec["Type"] == kind}


def stack_name() -> str:
    return "mmindex"


def references(node: Any) -> set[str]:
    """The names a part of the template refers to: `Ref`, `Fn::GetAtt` and `${NAME}` in `Fn::Sub`."""
    found: set[str] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "Ref":
                found.add(str(value))
            elif key == "Fn::GetAtt":
                found.add(str(value.split(".", 1)[0] if isinstance(value, str) else value[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    return [dict(statement) for statement in listed(document["Statement"])]


def worker_policies(stack: Stack) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity policy in the template: IAM policies, managed policies and roles' inline policies."""
    for kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
        for name in stack.of_type(kind):
            yield name, stack.properties(name)["PolicyDocument"]
    for name in stack.of_type("AWS::IAM::Role"):
        for policy in stack.properties(name).get("Policies", []):
            yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]


def privilege_problems(template: Mapping[str, Any]) -> list[str]:
    """What makes the workers' permissions wider than least privilege: wildcard actions, `Resource: "*"`,
    `NotAction`/`NotResource`, and S3 writes or deletes outside the derived prefix. The domain's access policy
    is held to the same rules."""
    stack = Stack(template, EksOidcIssuer=ISSUER, EnableEcsTasks="true")
    bucket = stack.lookup("MediaBucket.Arn")
    derived = f"{bucket}/{stack.parameters['DerivedPrefix']}*"
    documents = list(worker_policies(stack))
    for name in stack.of_type("AWS::OpenSearchService::Domain"):
        documents.append((f"{name} access policy", stack.properties(name)["AccessPolicies"]))
    assert documents, "the template has no worker policies"
    problems = []
    for name, document in documents:
        for statement in statements(document):
            where = f"{name} {statement.get('Sid', '')}".strip()
            if statement.get("Effect") != "Allow":
                continue
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in statement:
                    problems.append(f"{where}: {key} grants everything but what it lists")
            actions = [str(action) for action in listed(statement.get("Action", []))]
            resources = [str(resource) for resource in listed(statement.get("Resource", []))]
            problems += [f"{where}: wildcard action {action}" for action in actions if "*" in action]
            if not resources or "*" in resources:
                problems.append(f'{where}: Resource "*" (or none)')
            for action in actions:
                if action.startswith("s3:") and action not in S3_READS:
                    problems += [
                        f"{where}: {action} on {resource}, outside the derived prefix {derived}"
                        for resource in resources
                        if resource != derived
                    ]
    return problems


def allowed_actions(stack: Stack) -> set[str]:
    return {
        str(action)
        for _, document in worker_policies(stack)
        for statement in statements(document)
        if statement["Effect"] == "Allow"
        for action in listed(statement["Action"])
    }


def lint(path: Path) -> list[Any]:
    return lint_file(path, config=ManualArgs(regions=REGIONS, include_checks=["I"]))


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in the template exactly once"
    copy = tmp_path / "mmindex.yaml"
    copy.write_text(text.replace(old, new), encoding="utf-8")
    return copy


# ------------------------------------------------------------------ cfn-lint


def test_cfn_lint_finds_nothing() -> None:
    matches = lint(TEMPLATE)
    assert not matches, "cfn-lint:\n" + "\n".join(str(match) for match in matches)


def test_cfn_lint_catches_a_misspelt_property(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "ReceiveMessageWaitTimeSeconds: 20", "ReceiveMessageWaitTimeSecond: 20")
    matches = lint(copy)
    assert any(
        match.rule.id.startswith("E") and "ReceiveMessageWaitTimeSecond" in match.message for match in matches
    ), [str(match) for match in matches]


# ------------------------------------------------------------------ events: bucket -> queue


@pytest.mark.parametrize("prefix", ["", "media/"])
def test_the_bucket_notifies_the_queue_of_created_and_removed_objects(prefix: str) -> None:
    stack = Stack(load(), NotificationPrefix=prefix)
    targets = stack.properties("MediaBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert {target["Event"] for target in targets} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    for target in targets:
        assert target["Queue"] == stack.lookup("EventQueue.Arn")
        if prefix:
            assert target["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": prefix}]}}
        else:
            assert "Filter" not in target


def test_the_bucket_is_private_and_encrypted() -> None:
    stack = Stack(load(), EnableVersioning="true")
    bucket = stack.properties("MediaBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms", "aws:kms:dsse"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "VersioningConfiguration" not in Stack(load()).properties("MediaBucket")


@pytest.mark.parametrize("bucket_name", ["", "my-media-bucket"])
def test_only_s3_for_this_bucket_may_send_to_the_queue(bucket_name: str) -> None:
    template = load()
    stack = Stack(template, BucketName=bucket_name)
    name = stack.properties("MediaBucket")["BucketName"]
    assert name == (bucket_name or f"mmindex-{ACCOUNT}-{REGION}")
    (policy,) = stack.of_type("AWS::SQS::QueuePolicy")
    properties = stack.properties(policy)
    assert properties["Queues"] == [QUEUE_URL]
    for statement in statements(properties["PolicyDocument"]):
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
        assert listed(statement["Action"]) == ["sqs:SendMessage"]
        assert listed(statement["Resource"]) == [stack.lookup("EventQueue.Arn")]
        condition = statement["Condition"]
        source = condition.get("ArnEquals", condition.get("ArnLike", {}))
        assert source == {"aws:SourceArn": f"arn:aws:s3:::{name}"}
        assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    # The classic ordering problem: the policy first, then the bucket's notifications, and no cycle.
    assert policy in listed(template["Resources"]["MediaBucket"]["DependsOn"])
    assert "MediaBucket" not in references(template["Resources"][policy])


def test_the_queue_long_polls_encrypts_and_dead_letters() -> None:
    stack = Stack(load())
    queue = stack.properties("EventQueue")
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == stack.lookup("DeadLetterQueue.Arn")
    assert 1 <= int(queue["RedrivePolicy"]["maxReceiveCount"]) <= 10
    assert int(queue["VisibilityTimeout"]) >= 30
    dead = stack.properties("DeadLetterQueue")
    assert int(dead["MessageRetentionPeriod"]) >= int(queue.get("MessageRetentionPeriod", 345600))
    for properties in (queue, dead):
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties


# ------------------------------------------------------------------ the domain


def test_the_domain_enforces_https_and_encrypts() -> None:
    stack = Stack(load())
    domain = stack.properties("SearchDomain")
    assert domain["EngineVersion"] == "OpenSearch_2.19"
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["EBSOptions"]["VolumeType"] == "gp3"
    cluster = domain["ClusterConfig"]
    assert cluster["ZoneAwarenessEnabled"] is False and "ZoneAwarenessConfig" not in cluster
    assert cluster["DedicatedMasterEnabled"] is False and "DedicatedMasterCount" not in cluster


def test_the_domain_scales_by_parameters() -> None:
    stack = Stack(load(), InstanceCount="3", AvailabilityZoneCount="3", DedicatedMasterCount="3")
    cluster = stack.properties("SearchDomain")["ClusterConfig"]
    assert cluster["InstanceCount"] == "3"
    assert cluster["ZoneAwarenessEnabled"] is True
    assert cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": "3"}
    assert cluster["DedicatedMasterEnabled"] is True and cluster["DedicatedMasterCount"] == "3"


def test_the_domain_admits_only_the_worker_role() -> None:
    stack = Stack(load())
    policy = stack.properties("SearchDomain")["AccessPolicies"]
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": stack.lookup("WorkerRole.Arn")}
        assert set(listed(statement["Action"])) == ES_ACTIONS
        assert listed(statement["Resource"]) == [stack.lookup("SearchDomain.Arn") + "/*"]


# ------------------------------------------------------------------ the workers' role


def test_the_workers_have_least_privilege() -> None:
    assert privilege_problems(load()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("Action: s3:GetObject", "Action: s3:*", "wildcard action s3:*"),
        ("- sqs:DeleteMessage", '- "*"', "wildcard action *"),
        ('Resource: !Sub "${MediaBucket.Arn}/${DerivedPrefix}*"', 'Resource: "*"', 'Resource "*"'),
        (
            'Resource: !Sub "${MediaBucket.Arn}/${DerivedPrefix}*"',
            'Resource: !Sub "${MediaBucket.Arn}/*"',
            "s3:PutObject on arn:aws:s3:::mmindex-123456789012-eu-west-1/*, outside the derived prefix",
        ),
        ('Resource: !Sub "${SearchDomain.Arn}/*"', 'Resource: ["*"]', 'Resource "*"'),
    ],
    ids=["s3-star", "star-action", "star-resource", "writes-whole-bucket", "es-star-resource"],
)
def test_the_least_privilege_check_catches_a_wider_policy(tmp_path: Path, old: str, new: str, problem: str) -> None:
    problems = privilege_problems(load(broken_copy(tmp_path, old, new)))
    assert any(problem in found for found in problems), problems


def test_worker_actions_match_the_code() -> None:
    """Each boto3 call in the storage and intake code has its IAM action, and the policies allow no other."""
    calls = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            if receiver not in {"self.client", "sqs", "s3", "client"}:
                continue
            method = node.func.attr
            if method in {"get_paginator", "generate_presigned_url"}:
                method = node.args[0].value if isinstance(node.args[0], ast.Constant) else "?"
            calls.add(method)
    assert calls, "found no boto3 calls: has the code moved?"
    unknown = calls - set(CALLS)
    assert not unknown, f"the code calls {unknown}: add their IAM actions to the template and to CALLS"
    stack = Stack(load(), EksOidcIssuer=ISSUER)
    allowed = allowed_actions(stack)
    assert {action for action in allowed if not action.startswith("es:")} == {CALLS[call] for call in calls}
    assert {action for action in allowed if action.startswith("es:")} == ES_ACTIONS


def test_the_derived_prefix_is_the_settings_default() -> None:
    assert load()["Parameters"]["DerivedPrefix"]["Default"] == S3Settings().derived_prefix


@pytest.mark.parametrize(("eks", "ecs"), [(True, False), (False, True), (True, True)])
def test_the_role_trusts_eks_service_account_and_or_ecs_tasks(eks: bool, ecs: bool) -> None:
    template = load()
    stack = Stack(template, EksOidcIssuer=ISSUER if eks else "", EnableEcsTasks=str(ecs).lower())
    (rule,) = template["Rules"]["WorkerPrincipal"]["Assertions"]
    assert stack.truth(rule["Assert"])
    trusted = statements(stack.properties("WorkerRole")["AssumeRolePolicyDocument"])
    assert len(trusted) == eks + ecs
    by_action = {statement["Action"]: statement for statement in trusted}
    if eks:
        web = by_action["sts:AssumeRoleWithWebIdentity"]
        assert web["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"}
        assert web["Condition"] == {
            "StringEquals": {
                f"{ISSUER}:sub": "system:serviceaccount:mmindex:mmindex-worker",
                f"{ISSUER}:aud": "sts.amazonaws.com",
            }
        }
    if ecs:
        task = by_action["sts:AssumeRole"]
        assert task["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert task["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_a_role_nobody_may_assume_is_refused() -> None:
    template = load()
    (rule,) = template["Rules"]["WorkerPrincipal"]["Assertions"]
    assert not Stack(template).truth(rule["Assert"])


# ------------------------------------------------------------------ what users are told to run and set


def test_the_intake_command_in_the_outputs_runs() -> None:
    command = shlex.split(Stack(load()).output("IntakeCommand"))
    check_command(command)
    assert command[:3] == ["mmindex", "events", "sqs"]
    assert command[command.index("--queue-url") + 1] == QUEUE_URL


@pytest.mark.parametrize(("nodes", "replicas"), [("1", 0), ("2", 1)])
def test_the_settings_in_the_outputs_validate(nodes: str, replicas: int) -> None:
    stack = Stack(load(), InstanceCount=nodes)
    env = dict(pair.split("=", 1) for pair in shlex.split(stack.output("WorkerEnvironment")))
    settings = check_settings(env)
    assert settings.store is StoreKind.OPENSEARCH
    assert settings.opensearch.url == stack.output("OpenSearchUrl") == f"https://{ENDPOINT}"
    assert (settings.opensearch.auth, settings.opensearch.service) == ("sigv4", "es")
    assert settings.opensearch.region == settings.s3.region == stack.output("Region") == REGION
    assert settings.opensearch.replicas == replicas
    assert settings.s3.derived_prefix == stack.parameters["DerivedPrefix"]
    for name in ("BucketName", "QueueUrl", "WorkerRoleArn", "DeadLetterQueueUrl"):
        assert stack.output(name)


def readme_lines() -> list[str]:
    """The shell lines of the README's bash blocks, continuations joined."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def with_outputs(token: str, stack: Stack) -> str:
    """`$(out NAME)`, the README's shorthand for reading an output, replaced by that output's value."""
    return re.sub(r"\$\(out (\w+)\)", lambda match: stack.output(match.group(1)), token)


def test_the_readme_settings_validate() -> None:
    stack = Stack(load())
    env: dict[str, str] = {}
    for line in readme_lines():
        if line.startswith("export "):
            for pair in shlex.split(line, comments=True)[1:]:
                name, _, value = pair.partition("=")
                env[name] = with_outputs(value, stack)
    settings = check_settings(env)
    for name in (
        "MMINDEX_STORE",
        "MMINDEX_OPENSEARCH__AUTH",
        "MMINDEX_OPENSEARCH__SERVICE",
        "MMINDEX_OPENSEARCH__REGION",
        "MMINDEX_OPENSEARCH__URL",
        "MMINDEX_S3__REGION",
    ):
        assert name in env, f"the README does not say to set {name}"
    assert settings.store is StoreKind.OPENSEARCH and settings.opensearch.auth == "sigv4"
    assert settings.opensearch.url == f"https://{ENDPOINT}"


def test_the_readme_commands_run() -> None:
    stack = Stack(load())
    commands = [
        [with_outputs(token, stack) for token in shlex.split(line, comments=True)]
        for line in readme_lines()
        if line.startswith("mmindex ")
    ]
    assert ["mmindex", "events", "sqs", "--queue-url", QUEUE_URL] in commands
    for command in commands:
        check_command(command)


def test_the_readme_deploys_this_template_with_its_parameters() -> None:
    template = load()
    (deploy,) = [shlex.split(line) for line in readme_lines() if line.startswith("aws cloudformation deploy")]
    assert (ROOT / deploy[deploy.index("--template-file") + 1]) == TEMPLATE
    assert deploy[deploy.index("--capabilities") + 1] == "CAPABILITY_NAMED_IAM"
    assert deploy[deploy.index("--stack-name") + 1] == stack_name()
    overrides = dict(arg.split("=", 1) for arg in deploy[deploy.index("--parameter-overrides") + 1 :])
    assert set(overrides) <= set(template["Parameters"])
    stack = Stack(template, **overrides)
    (rule,) = template["Rules"]["WorkerPrincipal"]["Assertions"]
    assert stack.truth(rule["Assert"])
    for name, value in overrides.items():
        assert re.fullmatch(template["Parameters"][name].get("AllowedPattern", ".*"), value), (name, value)
    assert "../kubernetes/README.md" in README.read_text(encoding="utf-8")
