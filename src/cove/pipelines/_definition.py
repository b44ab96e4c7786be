"""A pipeline definition (SageMaker's JSON, ``Version 2020-12-01``) read into steps with their
dependencies, checked when the pipeline is created so an execution never starts on a broken
one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cove import errors

#: Step types cove runs, and the SageMaker operation each starts (None: runs inside cove).
JOB_STEPS = {"Training": "TrainingJob", "Processing": "ProcessingJob",
             "Transform": "TransformJob", "Tuning": "HyperParameterTuningJob"}
INSTANT_STEPS = {"Model", "CreateModel", "RegisterModel", "Condition", "Fail", "Lambda"}
PARAMETER_TYPES = {"String", "Integer", "Float", "Boolean"}

_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any = None

    def cast(self, value: Any) -> Any:
        """A value given at StartPipelineExecution (always a string on the wire) as its type."""
        try:
            if self.type == "Integer":
                return int(value)
            if self.type == "Float":
                return float(value)
            if self.type == "Boolean":
                if isinstance(value, bool):
                    return value
                if str(value).lower() not in ("true", "false"):
                    raise ValueError(value)
                return str(value).lower() == "true"
        except (TypeError, ValueError) as exc:
            raise errors.ValidationError(f"Parameter {self.name} is of type {self.type}; "
                                         f"{value!r} is not one.") from exc
        return str(value)


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    arguments: Any
    depends_on: frozenset[str]
    #: (condition step, True for IfSteps / False for ElseSteps) for steps inside a condition.
    branch: tuple[str, bool] | None = None
    retry_policies: tuple[dict[str, Any], ...] = ()
    cache: dict[str, Any] = field(default_factory=dict)
    property_files: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)  # FunctionArn, OutputParameters, ...

    def upstream(self) -> frozenset[str]:
        """Every step this one waits for: DependsOn, the steps its arguments read, and the
        condition it sits under."""
        found = set(self.depends_on) | set(_references(self.arguments))
        if self.branch:
            found.add(self.branch[0])
        return frozenset(found - {self.name})


@dataclass(frozen=True)
class Definition:
    parameters: dict[str, Parameter]
    steps: dict[str, Step]

    def values(self, given: list[dict[str, Any]]) -> dict[str, Any]:
        """Every parameter's value for an execution: given ones cast, the rest defaulted."""
        values = {name: p.default for name, p in self.parameters.items()}
        for item in given:
            name = item.get("Name", "")
            if name not in self.parameters:
                raise errors.ValidationError(
                    f"Parameter {name!r} is not defined by this pipeline; it defines "
                    f"{', '.join(sorted(self.parameters)) or 'none'}.")
            values[name] = self.parameters[name].cast(item.get("Value", ""))
        missing = [n for n, v in values.items() if v is None]
        if missing:
            raise errors.ValidationError(f"Parameters {', '.join(missing)} have no default "
                                         "value: give them in PipelineParameters.")
        return values


def parse(text: str) -> Definition:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise errors.ValidationError(f"The pipeline definition is not valid JSON: {exc}") \
            from exc
    if not isinstance(doc, dict):
        raise errors.ValidationError("The pipeline definition must be a JSON object.")
    parameters = {p.name: p for p in map(_parameter, doc.get("Parameters") or [])}
    steps: dict[str, Step] = {}
    for step in _steps(doc.get("Steps"), None):
        if step.name in steps:
            raise errors.ValidationError(f"Step name {step.name!r} is used twice; step names "
                                         "must be unique in a pipeline.")
        steps[step.name] = step
    definition = Definition(parameters, steps)
    _check_references(definition)
    _check_acyclic(definition)
    return definition


def _parameter(doc: Any) -> Parameter:
    if not isinstance(doc, dict) or not doc.get("Name"):
        raise errors.ValidationError("Every pipeline parameter needs a Name.")
    kind = doc.get("Type", "String")
    if kind not in PARAMETER_TYPES:
        raise errors.ValidationError(f"Parameter {doc['Name']} has type {kind!r}; pipeline "
                                     f"parameters are {', '.join(sorted(PARAMETER_TYPES))}.")
    parameter = Parameter(doc["Name"], kind)
    default = doc.get("DefaultValue")
    return parameter if default is None else Parameter(doc["Name"], kind,
                                                       parameter.cast(default))


def _steps(docs: Any, branch: tuple[str, bool] | None) -> Iterator[Step]:
    if not isinstance(docs, list):
        raise errors.ValidationError("A pipeline definition's Steps must be a list.")
    for doc in docs:
        step = _step(doc, branch)
        yield step
        if step.type == "Condition":
            yield from _steps(step.arguments.get("IfSteps") or [], (step.name, True))
            yield from _steps(step.arguments.get("ElseSteps") or [], (step.name, False))


def _step(doc: Any, branch: tuple[str, bool] | None) -> Step:
    if not isinstance(doc, dict) or not doc.get("Name") or not doc.get("Type"):
        raise errors.ValidationError("Every pipeline step needs a Name and a Type.")
    kind = doc["Type"]
    if kind not in JOB_STEPS and kind not in INSTANT_STEPS:
        raise errors.ValidationError(
            f"Step {doc['Name']} has type {kind!r}, which cove does not run; it runs "
            f"{', '.join(sorted({*JOB_STEPS, *INSTANT_STEPS}))}.")
    arguments = doc.get("Arguments") or {}
    if kind == "Condition":  # the branches are steps of their own, not arguments
        arguments = {**arguments, "Conditions": arguments.get("Conditions") or []}
    return Step(doc["Name"], kind, arguments, frozenset(doc.get("DependsOn") or []), branch,
                tuple(doc.get("RetryPolicies") or []), dict(doc.get("CacheConfig") or {}),
                tuple(doc.get("PropertyFiles") or []),
                {k: v for k, v in doc.items() if k in ("FunctionArn", "OutputParameters")})


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            match = _STEP_REFERENCE.match(value["Get"])
            if match:
                yield match.group(1)
            return
        for key, item in value.items():
            if key not in ("IfSteps", "ElseSteps"):
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _check_references(definition: Definition) -> None:
    for step in definition.steps.values():
        for name in step.upstream():
            if name not in definition.steps:
                raise errors.ValidationError(
                    f"Step {step.name} refers to step {name!r}, which the pipeline does not "
                    "define.")
        for parameter in _parameter_references(step.arguments):
            if parameter not in definition.parameters:
                raise errors.ValidationError(
                    f"Step {step.name} refers to parameter {parameter!r}, which the pipeline "
                    "does not define.")


def _parameter_references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            if value["Get"].startswith("Parameters."):
                yield value["Get"][len("Parameters."):]
            return
        for key, item in value.items():
            if key not in ("IfSteps", "ElseSteps"):
                yield from _parameter_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _parameter_references(item)


def _check_acyclic(definition: Definition) -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise errors.ValidationError("The pipeline's steps depend on each other in a "
                                         f"cycle: {' -> '.join([*path, name])}.")
        state[name] = 1
        for upstream in sorted(definition.steps[name].upstream()):
            visit(upstream, [*path, name])
        state[name] = 2

    for name in definition.steps:
        visit(name, [])
