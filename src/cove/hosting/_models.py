"""From a model's record to what its workers need: runtime, artifact, code, environment.

Endpoints and batch transform jobs both start workers for a model; both get them from here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cove.hosting._artifacts import ArtifactCache
from cove.hosting._records import Model
from cove.sagemaker import as_s3_uri
from cove.training._envs import Environments
from cove.training._runtimes import resolve_runtime

#: The inference toolkit's module when SAGEMAKER_PROGRAM is unset (sagemaker_inference's
#: ``DEFAULT_MODULE_NAME``).
DEFAULT_ENTRY_POINT = "inference.py"


@dataclass(frozen=True)
class ModelServing:
    """One model, ready to be served: its artifact extracted, its inference code found."""

    image: str
    runtime: str  # xgboost | linear-learner | sklearn | pytorch
    model_dir: Path
    code_dir: Path | None
    entry_point: str
    environment: dict[str, str]


def prepare_model(model: Model, artifacts: ArtifactCache) -> ModelServing:
    """Extract the model's artifact (and code archive); ValidationError if it cannot be served."""
    environment = model.environment
    runtime = resolve_runtime(model.image, {
        "sagemaker_program": environment["SAGEMAKER_PROGRAM"]}
        if "SAGEMAKER_PROGRAM" in environment else {})
    model_dir = artifacts.extract(as_s3_uri(model.model_data_url, "ModelDataUrl"))
    code_dir, entry = (_code(model_dir, environment, artifacts) if runtime.script_mode
                       else (None, ""))
    return ModelServing(model.image, runtime.kind, model_dir, code_dir, entry, environment)


def serving_python(serving: ModelServing, envs: Environments,
                   log: Callable[[str], None]) -> str:
    """The interpreter the model's workers run: cove's own, or the cached environment with the
    inference code's requirements.txt (as the inference toolkit installs it when the container
    starts).  A requirement that cannot be installed is a ClientError with pip's verdict."""
    requirements = serving.code_dir / "requirements.txt" if serving.code_dir else None
    if requirements is None or not requirements.is_file():
        return sys.executable
    return envs.python_for(requirements, log)


def _code(model_dir: Path, environment: dict[str, str],
          artifacts: ArtifactCache) -> tuple[Path | None, str]:
    """The inference code and its entry point.  As SageMaker's framework containers do, the
    entry point is SAGEMAKER_PROGRAM, else ``inference.py`` if the code has one; a model with no
    code at all is served by the framework's default handlers (``cove.serving``)."""
    entry = environment.get("SAGEMAKER_PROGRAM", "")
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit.startswith("s3://"):
        code: Path | None = artifacts.extract(submit, "SAGEMAKER_SUBMIT_DIRECTORY")
    elif (model_dir / "code").is_dir() and not (model_dir / "code").is_symlink():
        code = model_dir / "code"
    else:
        return None, ""
    if not entry and code is not None and (code / DEFAULT_ENTRY_POINT).is_file():
        entry = DEFAULT_ENTRY_POINT
    return code, entry
