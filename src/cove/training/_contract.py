"""The SageMaker training container contract, without the container.

A host's job directory has the ``/opt/ml`` layout (``input/config``, ``input/data/<channel>``,
``model``, ``output``, ``code``); the process gets the ``SM_*`` environment of the SageMaker
training toolkit.  When the sandbox can mount the job directory at ``/opt/ml`` it does, and the
paths below are the real container paths; otherwise they point into the job directory.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTAINER_ROOT = Path("/opt/ml")
#: Where ``sitecustomize`` makes SageMaker's container toolkits work on this Python.
COMPAT = str(Path(__file__).parent / "compat")


@dataclass(frozen=True)
class HostPlan:
    """What one training host runs: everything needed to build its job dir and process."""

    job_name: str
    host: str  # algo-1, algo-2, ...
    hosts: tuple[str, ...]
    hyperparameters: dict[str, str]  # as the API received them (strings)
    channels: dict[str, dict[str, Any]]  # channel name -> the InputDataConfig entry
    instance_type: str
    cpus: int
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def is_master(self) -> bool:
        return self.host == self.hosts[0]


def layout(job_dir: Path) -> None:
    for sub in ("input/config", "input/data", "model", "output/data", "code"):
        (job_dir / sub).mkdir(parents=True, exist_ok=True)


def write_configs(job_dir: Path, plan: HostPlan) -> None:
    config = job_dir / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(plan.hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({
        name: {k: v for k, v in channel.items() if k in (
            "ContentType", "TrainingInputMode", "S3DistributionType", "RecordWrapperType",
            "CompressionType")} | {"TrainingInputMode": channel.get("InputMode", "File")}
        for name, channel in plan.channels.items()}))
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": plan.host, "current_instance_type": plan.instance_type,
        "current_group_name": "homogeneousCluster", "hosts": list(plan.hosts),
        "instance_groups": [{"instance_group_name": "homogeneousCluster",
                             "instance_type": plan.instance_type, "hosts": list(plan.hosts)}],
        "network_interface_name": "lo"}))


def decode_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """The SDK JSON-encodes every value (``"\\"train.py\\""``, ``"3"``); plain strings stay."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def user_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    return {k: v for k, v in decode_hyperparameters(raw).items()
            if not k.startswith(("sagemaker_", "_tuning_objective_metric"))}


def script_arguments(raw: dict[str, str]) -> list[str]:
    """``--key value`` for every user hyperparameter, sorted by key (the toolkit's order)."""
    args: list[str] = []
    for key, value in sorted(user_hyperparameters(raw).items()):
        args += [f"--{key}", _as_arg(value)]
    return args


def _as_arg(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def environment(plan: HostPlan, root: Path, entry_point: str = "") -> dict[str, str]:
    """The ``SM_*`` variables, with paths under ``root`` (``/opt/ml`` or the job dir)."""
    hps = user_hyperparameters(plan.hyperparameters)
    channels = sorted(plan.channels)
    env = {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output" / "intermediate"),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hps),
        "SM_HOSTS": json.dumps(list(plan.hosts)),
        "SM_CURRENT_HOST": plan.host,
        "SM_CURRENT_INSTANCE_TYPE": plan.instance_type,
        "SM_NUM_GPUS": "0",
        "SM_NUM_NEURONS": "0",
        "SM_NUM_CPUS": str(plan.cpus),
        "SM_LOG_LEVEL": "20",
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "SM_USER_ENTRY_POINT": entry_point,
        "SM_MODULE_NAME": entry_point.removesuffix(".py"),
        "SM_MODULE_DIR": str(decode_hyperparameters(plan.hyperparameters)
                             .get("sagemaker_submit_directory", "")),
        "SM_USER_ARGS": json.dumps(script_arguments(plan.hyperparameters)),
        "SM_INPUT_DATA_CONFIG": (root / "input" / "config" / "inputdataconfig.json").as_posix(),
        "SM_RESOURCE_CONFIG": json.dumps({"current_host": plan.host, "hosts": list(plan.hosts)}),
        "SM_FRAMEWORK_MODULE": "",
        "TRAINING_JOB_NAME": plan.job_name,
    }
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = str(root / "input" / "data" / name)
    for key, value in hps.items():
        text = value if isinstance(value, str) else json.dumps(value)
        # No environment variable can carry "=" in its name or NUL at all: such a
        # hyperparameter reaches the script through SM_HPS and hyperparameters.json only.
        if "=" not in key and "\0" not in key + text:
            env[f"SM_HP_{key.upper()}"] = text
    env["SM_TRAINING_ENV"] = json.dumps({
        "job_name": plan.job_name, "current_host": plan.host, "hosts": list(plan.hosts),
        "hyperparameters": hps, "channel_input_dirs": {
            n: str(root / "input" / "data" / n) for n in channels},
        "model_dir": env["SM_MODEL_DIR"], "output_data_dir": env["SM_OUTPUT_DATA_DIR"],
        "num_cpus": plan.cpus, "num_gpus": 0, "user_entry_point": entry_point,
        "module_name": env["SM_MODULE_NAME"], "log_level": 20})
    env.update(plan.environment)
    return env


def base_environment(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for job processes: nothing of cove's own but the basics."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    # `python` in a job is cove's interpreter, with the frameworks, as in the image it replaces.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                   env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    # The toolkits' compatibility shim (cove.training.compat) comes after the job's own paths.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra.get("PYTHONPATH", ""), COMPAT) if p)
    return env
