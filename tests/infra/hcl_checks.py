"""Static checks of the Terraform under infra/, over the HCL as python-hcl2 parses it.

Each ``*_problems`` function takes a parsed tree (:func:`load_infra`) and returns the problems it found, one
readable line each; an empty list means the check passed. The tests run the same functions on the real infra/
and on deliberately broken copies of it, so every check is shown to be able to fail.

No Terraform evaluation happens here: only the expression forms infra/ actually uses are resolved (locals,
``merge(...)``, ``toset(local.x)``, ``templatefile(...)``, ``jsonencode(...)``). An expression a check cannot
resolve is reported as a problem, so a check never passes by not understanding its input.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

_OPTIONS = SerializationOptions(strip_string_quotes=True)
_META_KEYS = frozenset({"__is_block__", "__comments__", "__start_line__", "__end_line__"})


# --- parsing --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """One ``resource``/``data``/``module``/``variable`` block."""

    kind: str  # resource | data | module | variable | output
    type: str  # e.g. aws_s3_bucket ("" for module, variable and output blocks)
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def directory(self) -> Path:
        return self.file.parent

    @property
    def address(self) -> str:
        head = f"{self.type}.{self.name}" if self.type else f"{self.kind}.{self.name}"
        return f"{'data.' if self.kind == 'data' else ''}{head}"


@dataclass
class InfraTree:
    """Every .tf file under a root (infra/ or a copy of it), parsed."""

    root: Path
    blocks: list[Block] = field(default_factory=list)
    locals_by_dir: dict[Path, dict[str, Any]] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)

    def of(self, kind: str, type_: str | None = None, directory: Path | None = None) -> list[Block]:
        return [
            block
            for block in self.blocks
            if block.kind == kind
            and (type_ is None or block.type == type_)
            and (directory is None or block.directory == directory)
        ]

    def locals(self, directory: Path) -> dict[str, Any]:
        return self.locals_by_dir.get(directory, {})

    def where(self, block: Block) -> str:
        return f"{block.file.relative_to(self.root.parent)}: {block.address}"


def clean(value: Any) -> Any:
    """python-hcl2's output without its bookkeeping keys."""
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items() if key not in _META_KEYS}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


@lru_cache(maxsize=512)
def _parse(text: str) -> dict[str, Any]:
    """A file's text parsed (cached by content: a broken copy re-parses only the file it changed)."""
    return clean(hcl2.loads(text, serialization_options=_OPTIONS))


def load_infra(root: Path) -> InfraTree:
    """Parse every .tf file under ``root`` (skipping .terraform/ folders)."""
    tree = InfraTree(root=root)
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        text = path.read_text()
        tree.texts[path] = text
        parsed = _parse(text)
        for kind in ("resource", "data"):
            for entry in parsed.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        tree.blocks.append(Block(kind, type_, name, body, path))
        for kind in ("module", "variable", "output"):
            for entry in parsed.get(kind, []):
                for name, body in entry.items():
                    tree.blocks.append(Block(kind, "", name, body, path))
        for entry in parsed.get("locals", []):
            tree.locals_by_dir.setdefault(path.parent, {}).update(entry)
    return tree


# --- expressions ----------------------------------------------------------------------------------------------------
def parse_expression(text: str) -> Any:
    """An HCL expression (without ``${}``) as python-hcl2 would give an attribute of that value."""
    return clean(hcl2.loads(f"x = {text}\n", serialization_options=_OPTIONS)["x"])


def unwrap(value: Any) -> str | None:
    """The expression inside a whole-string ``${...}``, or None for a literal / template string."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}") and _balanced(value[2:-1]):
        return value[2:-1]
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def call_arguments(expression: str, function: str) -> list[Any] | None:
    """Arguments of ``function(...)`` when the expression is exactly that call, parsed; else None."""
    prefix = f"{function}("
    if not (expression.startswith(prefix) and expression.endswith(")")):
        return None
    parsed = parse_expression(f"[{expression[len(prefix) : -1]}]")
    return parsed if isinstance(parsed, list) else None


def resolve_local(value: Any, locals_: Mapping[str, Any]) -> Any:
    """``${local.name}`` -> the local's value (recursively); anything else unchanged."""
    expression = unwrap(value)
    match = re.fullmatch(r"local\.(\w+)", expression) if expression is not None else None
    if match and match.group(1) in locals_:
        return resolve_local(locals_[match.group(1)], locals_)
    return value


def resolve_map(value: Any, locals_: Mapping[str, Any]) -> dict[str, Any] | None:
    """A map literal, a local holding one, or ``merge()`` of those; None when it cannot be resolved statically."""
    value = resolve_local(value, locals_)
    if isinstance(value, dict):
        return value
    expression = unwrap(value)
    arguments = call_arguments(expression, "merge") if expression else None
    if arguments is None:
        return None
    merged: dict[str, Any] = {}
    for argument in arguments:
        part = resolve_map(argument, locals_)
        if part is None:
            return None
        merged.update(part)
    return merged


def resolve_list(value: Any, locals_: Mapping[str, Any]) -> list[Any] | None:
    """A list literal, a local holding one, or ``toset()`` of those; None when it cannot be resolved."""
    value = resolve_local(value, locals_)
    if isinstance(value, list):
        return value
    expression = unwrap(value)
    arguments = call_arguments(expression, "toset") if expression else None
    if arguments is None or len(arguments) != 1:
        return None
    return resolve_list(arguments[0], locals_)


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def first_block(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The first nested block ``name`` of a body (blocks parse as lists of dicts), or {}."""
    blocks = body.get(name)
    if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict):
        return blocks[0]
    return blocks if isinstance(blocks, dict) else {}


# --- S3 buckets -----------------------------------------------------------------------------------------------------
def _refers_to(value: Any, resource_type: str, name: str) -> bool:
    pattern = re.compile(rf"\b{resource_type}\.{re.escape(name)}\b")
    return any(pattern.search(text) for text in walk_strings(value))


def _configs_of(tree: InfraTree, bucket: Block, config_type: str) -> list[Block]:
    return [
        config
        for config in tree.of("resource", config_type, bucket.directory)
        if _refers_to(config.body.get("bucket"), "aws_s3_bucket", bucket.name)
    ]


def _encrypted(tree: InfraTree, bucket: Block) -> bool:
    rules = [
        first_block(config.body, "rule")
        for config in _configs_of(tree, bucket, "aws_s3_bucket_server_side_encryption_configuration")
    ]
    inline = first_block(bucket.body, "server_side_encryption_configuration")
    if inline:
        rules.append(first_block(inline, "rule"))
    for rule in rules:
        default = first_block(rule, "apply_server_side_encryption_by_default")
        algorithm = default.get("sse_algorithm")
        if algorithm == "AES256" or (algorithm in ("aws:kms", "aws:kms:dsse") and default.get("kms_master_key_id")):
            return True
    return False


def _versioned(tree: InfraTree, bucket: Block) -> bool:
    for config in _configs_of(tree, bucket, "aws_s3_bucket_versioning"):
        if first_block(config.body, "versioning_configuration").get("status") == "Enabled":
            return True
    return first_block(bucket.body, "versioning").get("enabled") is True


PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def _public_access_blocked(tree: InfraTree, bucket: Block) -> bool:
    return any(
        all(config.body.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS)
        for config in _configs_of(tree, bucket, "aws_s3_bucket_public_access_block")
    )


def bucket_problems(tree: InfraTree) -> list[str]:
    """Every aws_s3_bucket has default encryption, versioning Enabled and a full public-access block."""
    problems = []
    for bucket in tree.of("resource", "aws_s3_bucket"):
        if not _encrypted(tree, bucket):
            problems.append(
                f"{tree.where(bucket)} has no default server-side encryption (SSE-KMS with a key or AES256)"
            )
        if not _versioned(tree, bucket):
            problems.append(f"{tree.where(bucket)} has no versioning with status Enabled")
        if not _public_access_blocked(tree, bucket):
            problems.append(f"{tree.where(bucket)} has no public-access block with all four flags true")
    return problems


# --- IAM: no "*" action on "*" resource -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    where: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


WILDCARD_ACTIONS = frozenset({"*", "*:*"})
ADMIN_POLICY = re.compile(r"arn:[^:]+:iam::aws:policy/AdministratorAccess\b")
HEREDOC = re.compile(r"^<<-?(\w+)\n(.*)\n\s*\1\s*$", re.DOTALL)


def _document_statements(tree: InfraTree) -> Iterator[Statement]:
    """Statements of aws_iam_policy_document data sources, dynamic ones included."""
    for document in tree.of("data", "aws_iam_policy_document"):
        bodies = list(as_list(document.body.get("statement")))
        for dynamic in as_list(document.body.get("dynamic")):
            for name, block in dynamic.items():
                if name == "statement":
                    bodies.extend(as_list(block.get("content")))
        for index, body in enumerate(bodies):
            yield Statement(
                f"{tree.where(document)} statement {body.get('sid', index)}",
                str(body.get("effect", "Allow")),
                tuple(map(str, as_list(body.get("actions")))),
                tuple(map(str, as_list(body.get("resources")))),
            )


def _json_documents(tree: InfraTree, block: Block) -> Iterator[tuple[str, Any]]:
    """Policy documents written as jsonencode({...}) or as JSON strings (heredocs too) anywhere in a block."""
    locals_ = tree.locals(block.directory)
    for text in walk_strings(block.body):
        expression = unwrap(text)
        arguments = call_arguments(expression, "jsonencode") if expression else None
        if arguments:
            yield "jsonencode", resolve_local(arguments[0], locals_)
            continue
        heredoc = HEREDOC.match(text)
        candidate = heredoc.group(2) if heredoc else text
        if '"Statement"' in candidate:
            try:
                yield "JSON", json.loads(candidate)
            except json.JSONDecodeError:
                continue


def _json_statements(tree: InfraTree) -> Iterator[Statement]:
    for block in tree.blocks:
        if block.kind not in ("resource", "data"):
            continue
        for form, document in _json_documents(tree, block):
            if not isinstance(document, dict):
                continue
            for index, body in enumerate(as_list(document.get("Statement"))):
                if isinstance(body, dict):
                    yield Statement(
                        f"{tree.where(block)} {form} statement {body.get('Sid', index)}",
                        str(body.get("Effect", "Allow")),
                        tuple(map(str, as_list(body.get("Action")))),
                        tuple(map(str, as_list(body.get("Resource")))),
                    )


def iam_statements(tree: InfraTree) -> list[Statement]:
    """Every policy statement in infra/: policy documents, jsonencode() policies and JSON string policies."""
    return [*_document_statements(tree), *_json_statements(tree)]


def iam_wildcard_problems(tree: InfraTree) -> list[str]:
    """No Allow statement grants a "*" action on a "*" resource; no role gets AdministratorAccess."""
    problems = [
        f"{statement.where} allows action '*' on resource '*'"
        for statement in iam_statements(tree)
        if statement.effect == "Allow" and WILDCARD_ACTIONS & set(statement.actions) and "*" in statement.resources
    ]
    for block in tree.blocks:
        if block.kind == "resource" and block.type.startswith("aws_iam_"):
            problems.extend(
                f"{tree.where(block)} attaches AdministratorAccess ('*' on '*')"
                for text in walk_strings(block.body)
                if ADMIN_POLICY.search(text)
            )
    return problems


# --- Glue jobs against the code's entry points ----------------------------------------------------------------------
# Glue's own job parameters (AWS Glue "Using job parameters"): not arguments of the project's parsers.
GLUE_PARAMETERS = frozenset(
    {
        "job-language",
        "job-bookmark-option",
        "TempDir",
        "enable-metrics",
        "enable-observability-metrics",
        "enable-continuous-cloudwatch-log",
        "enable-continuous-log-filter",
        "continuous-log-logGroup",
        "continuous-log-logStreamPrefix",
        "continuous-log-conversionPattern",
        "enable-glue-datacatalog",
        "enable-job-insights",
        "enable-spark-ui",
        "spark-event-logs-path",
        "enable-auto-scaling",
        "extra-py-files",
        "extra-jars",
        "extra-files",
        "user-jars-first",
        "additional-python-modules",
        "python-modules-installer-option",
        "conf",
        "datalake-formats",
        "write-shuffle-files-to-s3",
        "write-shuffle-spills-to-s3",
    }
)
# Glue passes these to every run itself.
GLUE_SUPPLIED = frozenset({"JOB_NAME"})
# Which Glue command kind each package's entry point is (the landing job never ends; the batch steps do).
COMMAND_BY_PACKAGE = {"streaming": "gluestreaming", "batch": "glueetl"}
GLUE_VERSION = "5.0"  # Spark 3.5, Python 3.11: the version the shared Spark code is kept compatible with


@dataclass
class GlueJob:
    """A Glue job resource with what could be resolved of it."""

    block: Block
    script: str | None = None  # repository path of the entry point
    module: Any = None  # the imported entry-point module
    arguments: dict[str, Any] | None = None  # default_arguments, names without the leading --
    instances: list[str] = field(default_factory=lambda: [""])  # each.key values (for_each), or [""]


def _script_path(tree: InfraTree, job: Block) -> tuple[str | None, str | None]:
    """(repository path of the job's script, problem) from command.script_location, which must be
    ``s3://<scripts bucket>/glue/${local.glue_scripts["<name>"]}`` (where `cdc deploy` uploads that path)."""
    location = str(first_block(job.body, "command").get("script_location", ""))
    match = re.search(r"/glue/\$\{local\.glue_scripts\[\"(\w+)\"\]\}$", location)
    if not match:
        return None, f'{tree.where(job)}: script_location {location!r} is not .../glue/${{local.glue_scripts["name"]}}'
    scripts = resolve_map(tree.locals(job.directory).get("glue_scripts"), tree.locals(job.directory))
    if scripts is None or match.group(1) not in scripts:
        return None, f"{tree.where(job)}: cannot resolve local.glue_scripts[{match.group(1)!r}]"
    return str(scripts[match.group(1)]), None


def _job_instances(tree: InfraTree, job: Block) -> list[str] | None:
    if "for_each" not in job.body:
        return [""]
    values = resolve_list(job.body["for_each"], tree.locals(job.directory))
    return None if values is None else [str(value) for value in values]


def resolve_glue_job(tree: InfraTree, job: Block, repo_root: Path) -> tuple[GlueJob, list[str]]:
    """Script, entry-point module, arguments and instances of one job, with what could not be resolved."""
    resolved, problems = GlueJob(job), []
    script, problem = _script_path(tree, job)
    if problem:
        problems.append(problem)
    elif script is not None:
        resolved.script = script
        path = repo_root / script
        if not path.is_file():
            problems.append(f"{tree.where(job)}: script {script} does not exist in the repository")
        elif 'if __name__ == "__main__":' not in path.read_text():
            problems.append(f"{tree.where(job)}: {script} is not an entry point (no __main__ guard)")
        else:
            resolved.module = importlib.import_module(script.removesuffix(".py").replace("/", "."))
            if not callable(getattr(resolved.module, "main", None)) or not hasattr(resolved.module, "REQUIRED"):
                problems.append(f"{tree.where(job)}: {script} has no main() and REQUIRED/OPTIONAL arguments")
                resolved.module = None
    arguments = resolve_map(job.body.get("default_arguments", {}), tree.locals(job.directory))
    if arguments is None:
        problems.append(f"{tree.where(job)}: cannot resolve default_arguments statically")
    else:
        resolved.arguments = {str(key).removeprefix("--"): value for key, value in arguments.items()}
        problems.extend(
            f"{tree.where(job)}: argument {key!r} does not start with --"
            for key in arguments
            if not str(key).startswith("--")
        )
    instances = _job_instances(tree, job)
    if instances is None:
        problems.append(f"{tree.where(job)}: cannot resolve for_each statically")
    else:
        resolved.instances = instances
    return resolved, problems


def _argument_problems(tree: InfraTree, job: GlueJob) -> list[str]:
    module, arguments = job.module, job.arguments or {}
    where = tree.where(job.block)
    known = {*module.REQUIRED, *module.OPTIONAL}
    problems = [
        f"{where}: passes --{name}, which is neither an argument of {job.script} nor a Glue job parameter"
        for name in arguments
        if name not in known and name not in GLUE_PARAMETERS
    ]
    problems.extend(
        f"{where}: {job.script} requires --{name}, which the job does not pass"
        for name in module.REQUIRED
        if name not in arguments and name not in GLUE_SUPPLIED
    )
    if arguments.get("job-bookmark-option") != "job-bookmark-disable":
        problems.append(f"{where}: job bookmarks must be off (--job-bookmark-option job-bookmark-disable)")
    steps = getattr(module, "STEPS", None)
    if steps is not None and "step" in arguments:
        for instance in job.instances:
            value = str(arguments["step"])
            step = instance if unwrap(value) == "each.key" else value
            if step not in steps:
                problems.append(f"{where}[{instance!r}]: --step {step!r} is not one of {job.script} STEPS {steps}")
    return problems


def _command_problems(tree: InfraTree, job: GlueJob) -> list[str]:
    command = first_block(job.block.body, "command")
    where = tree.where(job.block)
    problems = []
    expected = COMMAND_BY_PACKAGE.get(str(job.script).split("/", 1)[0])
    if command.get("name") != expected:
        problems.append(f"{where}: command name {command.get('name')!r}, expected {expected!r} for {job.script}")
    if command.get("python_version") != "3":
        problems.append(f"{where}: python_version must be 3")
    if job.block.body.get("glue_version") != GLUE_VERSION:
        problems.append(f"{where}: glue_version {job.block.body.get('glue_version')!r}, expected {GLUE_VERSION!r}")
    return problems


def glue_jobs(tree: InfraTree, repo_root: Path) -> tuple[list[GlueJob], list[str]]:
    jobs, problems = [], []
    for block in tree.of("resource", "aws_glue_job"):
        job, found = resolve_glue_job(tree, block, repo_root)
        jobs.append(job)
        problems.extend(found)
    return jobs, problems


def batch_step_jobs(jobs: list[GlueJob]) -> dict[str, GlueJob]:
    """Batch step -> the job running it (jobs whose entry point has STEPS)."""
    found = {}
    for job in jobs:
        if job.module is not None and hasattr(job.module, "STEPS") and job.arguments and "step" in job.arguments:
            for instance in job.instances:
                value = str(job.arguments["step"])
                found[instance if unwrap(value) == "each.key" else value] = job
    return found


def dag_steps(module_name: str = "batch.glue_jobs") -> list[str]:
    """The batch DAG's steps in order, from the code: STEPS without the whole-DAG pseudo-step ``all``."""
    return [step for step in importlib.import_module(module_name).STEPS if step != "all"]


def glue_job_problems(tree: InfraTree, repo_root: Path) -> list[str]:
    """Each Glue job runs a real entry point with exactly the arguments its parser reads; one job per batch step."""
    jobs, problems = glue_jobs(tree, repo_root)
    if not jobs:
        return [f"{tree.root}: no aws_glue_job at all"]
    for job in jobs:
        if job.module is not None and job.arguments is not None:
            problems.extend(_argument_problems(tree, job))
            problems.extend(_command_problems(tree, job))
    steps = batch_step_jobs(jobs)
    problems.extend(f"no Glue job runs batch step {step!r}" for step in dag_steps() if step not in steps)
    if not any(job.script == "streaming/glue_job.py" for job in jobs):
        problems.append("no Glue job runs the landing job streaming/glue_job.py")
    return problems


# --- the batch DAG (Step Functions) ---------------------------------------------------------------------------------
GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"


def _template(tree: InfraTree, machine: Block) -> tuple[dict[str, Any] | None, dict[str, Any], str | None]:
    """(ASL document with placeholders as <<name>>, template variables, problem) of a state machine."""
    locals_ = tree.locals(machine.directory)
    definition = resolve_local(machine.body.get("definition"), locals_)
    expression = unwrap(definition)
    arguments = call_arguments(expression, "templatefile") if expression else None
    if not arguments or len(arguments) != 2 or not isinstance(arguments[1], dict):
        return None, {}, f"{tree.where(machine)}: definition is not templatefile(<file>, {{...}})"
    relative = str(arguments[0]).replace("${path.module}/", "")
    path = machine.directory / relative
    if not path.is_file():
        return None, {}, f"{tree.where(machine)}: template {relative} missing"
    text = re.sub(r"\$\{(\w+)\}", r"<<\1>>", path.read_text())
    try:
        return json.loads(text), arguments[1], None
    except json.JSONDecodeError as error:
        return None, {}, f"{path}: not valid JSON once its placeholders are filled: {error}"


def _task_chain(document: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """States from StartAt along Next (the main path), stopping at End or a loop."""
    states, chain, seen = document.get("States", {}), [], set()
    name = document.get("StartAt")
    while isinstance(name, str) and name in states and name not in seen:
        seen.add(name)
        chain.append((name, states[name]))
        name = states[name].get("Next")
    return chain


def _failure_path_notifies(states: Mapping[str, Any], start: str) -> bool:
    """The Catch target publishes to SNS, then the path ends in a Fail state."""
    notified, name, seen = False, start, set()
    while name in states and name not in seen:
        seen.add(name)
        state = states[name]
        notified = notified or state.get("Resource") == SNS_PUBLISH
        if state.get("Type") == "Fail":
            return notified
        name = state.get("Next")
    return False


def _state_problems(where: str, name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    problems = []
    retries = as_list(state.get("Retry"))
    if not retries or not all(
        float(rule.get("BackoffRate", 1.0)) > 1.0 and rule.get("MaxAttempts", 3) >= 1 for rule in retries
    ):
        problems.append(f"{where}: state {name} has no retry with exponential backoff (BackoffRate > 1)")
    catches = as_list(state.get("Catch"))
    if not catches or not all(_failure_path_notifies(states, rule.get("Next", "")) for rule in catches):
        problems.append(f"{where}: state {name} does not catch failures into an SNS notification and a Fail state")
    return problems


def _step_of(placeholder: str, variables: Mapping[str, Any]) -> str | None:
    match = re.fullmatch(r"<<(\w+)>>", placeholder)
    expression = str(variables.get(match.group(1), "")) if match else ""
    step = re.search(r"\[\"(\w+)\"\]", expression)
    return step.group(1) if step else None


def batch_dag_problems(tree: InfraTree) -> list[str]:
    """The state machine runs one Glue job per step in the code's DAG order, retried, failures notified, scheduled."""
    machines = tree.of("resource", "aws_sfn_state_machine")
    if not machines:
        return [f"{tree.root}: no aws_sfn_state_machine (the batch DAG)"]
    problems = []
    for machine in machines:
        document, variables, problem = _template(tree, machine)
        if problem or document is None:
            problems.append(problem or f"{tree.where(machine)}: no definition")
            continue
        where = tree.where(machine)
        tasks = [(name, state) for name, state in _task_chain(document) if state.get("Resource") == GLUE_SYNC]
        order = [_step_of(str(state.get("Parameters", {}).get("JobName", "")), variables) for _, state in tasks]
        if order != dag_steps():
            problems.append(f"{where}: runs Glue jobs for steps {order}, the code's DAG is {dag_steps()}")
        for name, state in tasks:
            problems.extend(_state_problems(where, name, state, document.get("States", {})))
        scheduled = any(
            _refers_to(target.body.get("arn"), "aws_sfn_state_machine", machine.name)
            and any(
                rule.body.get("schedule_expression")
                for rule in tree.of("resource", "aws_cloudwatch_event_rule", machine.directory)
                if _refers_to(target.body.get("rule"), "aws_cloudwatch_event_rule", rule.name)
            )
            for target in tree.of("resource", "aws_cloudwatch_event_target", machine.directory)
        )
        if not scheduled:
            problems.append(f"{where}: no EventBridge schedule starts it")
    return problems


# --- environments ---------------------------------------------------------------------------------------------------
def env_dirs(tree: InfraTree) -> list[Path]:
    envs = tree.root / "envs"
    return sorted(path for path in envs.iterdir() if path.is_dir()) if envs.is_dir() else []


def env_variables(tree: InfraTree, directory: Path) -> dict[str, str]:
    """Variable name -> declared type expression, of one env root."""
    return {block.name: str(block.body.get("type", "any")) for block in tree.of("variable", directory=directory)}


def _tfvars_keys(directory: Path) -> set[str]:
    keys: set[str] = set()
    for path in directory.glob("*.tfvars"):
        keys.update(_parse(path.read_text()))
    return keys


def env_variable_problems(tree: InfraTree) -> list[str]:
    """envs/dev, envs/prod (and any other env) declare the same variables with the same types, and use them all."""
    envs = env_dirs(tree)
    names = {path.name for path in envs}
    problems = [f"{tree.root}/envs: missing environment {env}" for env in ("dev", "prod") if env not in names]
    if not envs:
        return problems
    reference = envs[0]
    expected = env_variables(tree, reference)
    for env in envs:
        declared = env_variables(tree, env)
        problems.extend(
            f"envs/{env.name}: lacks variable {name!r} that envs/{reference.name} declares"
            for name in expected.keys() - declared.keys()
        )
        problems.extend(
            f"envs/{env.name}: declares variable {name!r} that envs/{reference.name} lacks"
            for name in declared.keys() - expected.keys()
        )
        problems.extend(
            f"envs/{env.name}: variable {name!r} has type {declared[name]}, envs/{reference.name} {expected[name]}"
            for name in declared.keys() & expected.keys()
            if declared[name] != expected[name]
        )
        used = "\n".join(text for path, text in tree.texts.items() if path.parent == env)
        problems.extend(
            f"envs/{env.name}: variable {name!r} is never used" for name in declared if f"var.{name}" not in used
        )
        problems.extend(
            f"envs/{env.name}: terraform.tfvars sets undeclared {key!r}" for key in _tfvars_keys(env) - declared.keys()
        )
    return problems


# --- checkov skips --------------------------------------------------------------------------------------------------
SKIP = re.compile(r"checkov:skip=([^\s:]*)(?::(.*))?")
SKIP_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
MIN_REASON = 20


def checkov_skips(tree: InfraTree) -> list[tuple[Path, str, str]]:
    """(file, check id, reason) of every inline ``#checkov:skip`` comment."""
    return [
        (path, match.group(1), (match.group(2) or "").strip())
        for path, text in tree.texts.items()
        for match in SKIP.finditer(text)
    ]


def skip_comment_problems(tree: InfraTree) -> list[str]:
    """Every checkov skip names one check and says why, right next to the resource."""
    return [
        f"{path.relative_to(tree.root.parent)}: checkov:skip={check} needs a check id and a reason "
        f"of {MIN_REASON}+ characters"
        for path, check, reason in checkov_skips(tree)
        if not SKIP_ID.fullmatch(check) or len(reason) < MIN_REASON
    ]


# --- metrics: what the alarms and the dashboard read is what the jobs emit ------------------------------------------
@dataclass(frozen=True)
class MetricUse:
    where: str
    name: str
    dimensions: tuple[tuple[str, str], ...]


def _literal_dimensions(value: Any, instances: list[str]) -> list[dict[str, str]]:
    """Dimension maps of an alarm, one per for_each instance (``each.key`` filled in)."""
    if not isinstance(value, dict):
        return [{}]
    return [
        {str(key): instance if unwrap(str(item)) == "each.key" else str(item) for key, item in value.items()}
        for instance in instances
    ]


def platform_metric_uses(tree: InfraTree) -> tuple[str | None, list[MetricUse]]:
    """(namespace, uses) of the platform's own metrics by the alarms and the dashboard widgets."""
    namespace = None
    for locals_ in tree.locals_by_dir.values():
        if "metrics_namespace" in locals_:
            namespace = str(locals_["metrics_namespace"])
    uses = []
    for alarm in tree.of("resource", "aws_cloudwatch_metric_alarm"):
        if alarm.body.get("namespace") not in ("${var.metrics_namespace}", namespace):
            continue
        locals_ = tree.locals(alarm.directory)
        instances = resolve_list(alarm.body["for_each"], locals_) if "for_each" in alarm.body else [""]
        for dimensions in _literal_dimensions(alarm.body.get("dimensions"), [str(item) for item in instances or [""]]):
            uses.append(
                MetricUse(tree.where(alarm), str(alarm.body.get("metric_name")), tuple(sorted(dimensions.items())))
            )
    for directory, locals_ in tree.locals_by_dir.items():
        for widget in as_list(locals_.get("custom_widgets")):
            if isinstance(widget, dict) and "metric" in widget:
                for stage in as_list(widget.get("stages")) or [""]:
                    where = f"{directory.relative_to(tree.root.parent)}: dashboard widget {widget.get('title')!r}"
                    uses.append(MetricUse(where, str(widget["metric"]), (("Stage", str(stage)),)))
    return namespace, uses


def metric_problems(tree: InfraTree, readme: Path, contract: Any = None) -> list[str]:
    """Alarms and dashboard use only metric names, dimensions and stages the code emits (common/metrics.py), in
    its namespace, on the {Stage} roll-up; every name used is documented in infra/README.md."""
    contract = contract or importlib.import_module("common.metrics")
    namespace, uses = platform_metric_uses(tree)
    problems = (
        []
        if namespace == contract.NAMESPACE
        else [f"metrics namespace {namespace!r}, the code emits {contract.NAMESPACE!r}"]
    )
    if not uses:
        problems.append("no alarm or dashboard widget uses a platform metric")
    for use in uses:
        dimensions = dict(use.dimensions)
        if use.name not in contract.METRIC_UNITS:
            problems.append(f"{use.where}: metric {use.name!r} is not one the code emits (common.metrics.METRIC_UNITS)")
        if set(dimensions) != {"Stage"}:
            problems.append(f"{use.where}: dimensions {sorted(dimensions)}: alarms read the {{Stage}} roll-up")
        elif dimensions["Stage"] not in contract.STAGES:
            problems.append(f"{use.where}: Stage {dimensions['Stage']!r} is not one of {contract.STAGES}")
    text = readme.read_text() if readme.is_file() else ""
    problems.extend(
        f"metric {name!r} is used by infra/ but not documented in {readme.name}"
        for name in sorted({use.name for use in uses})
        if f"`{name}`" not in text
    )
    return problems
