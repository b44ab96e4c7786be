"""CreateProcessingJob's rules: what cove needs of a request to run it, and the new job's
record.  The shapes are checked against botocore's model at the edge; what is checked here is
what the model cannot say."""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.processing._host import inside
from cove.processing._records import ProcessingJob
from cove.sagemaker import JobStatus, arn, parse_s3_uri
from cove.training import DataPlane, image_kind

MAX_INSTANCES = 8
DEFAULT_MAX_RUNTIME = 86400
#: The images whose Python environment a processing job can run (SKLearnProcessor,
#: PyTorchProcessor, XGBoostProcessor, ScriptProcessor and FrameworkProcessor with them).
KINDS = ("sklearn", "pytorch", "xgboost")
ECHOED = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources",
          "StoppingCondition", "AppSpecification", "Environment", "NetworkConfig", "RoleArn",
          "ExperimentConfig")




def new_job(params: dict[str, Any], region: str, account: str,
            data: DataPlane) -> ProcessingJob:
    """Validate a CreateProcessingJob request; the queued job's record."""
    _check_app(params["AppSpecification"])
    _check_cluster(params["ProcessingResources"]["ClusterConfig"])
    inputs = [_input(entry, data) for entry in params.get("ProcessingInputs", [])]
    outputs = [_output(entry, data) for entry in
               params.get("ProcessingOutputConfig", {}).get("Outputs", [])]
    _check_paths(inputs, outputs)
    now = time.time()
    config: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
    config.update({
        "ProcessingInputs": inputs,
        "StoppingCondition": {"MaxRuntimeInSeconds": params.get(
            "StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)}})
    if "ProcessingOutputConfig" in params:
        config["ProcessingOutputConfig"] = {**params["ProcessingOutputConfig"],
                                            "Outputs": outputs}
    name = params["ProcessingJobName"]
    return ProcessingJob(name, arn(region, account, "processing-job", name),
                         JobStatus.IN_PROGRESS, now, now, MappingProxyType(config))


def _input(entry: dict[str, Any], data: DataPlane) -> dict[str, Any]:
    name = entry["InputName"]
    source = entry.get("S3Input")
    if source is None:
        raise errors.ValidationError(
            f"ProcessingInput {name!r}: cove reads processing inputs from S3 only "
            "(S3Input); DatasetDefinition (Athena, Redshift) is not available here.")
    if "LocalPath" not in source:
        raise errors.ValidationError(f"ProcessingInput {name!r}: S3Input.LocalPath is "
                                     "required (where the data lands, under "
                                     "/opt/ml/processing/).")
    inside(source["LocalPath"])
    if source.get("S3InputMode", "File") != "File":
        raise errors.ValidationError(
            f"ProcessingInput {name!r}: cove supports S3InputMode File only, not "
            f"{source['S3InputMode']}.")
    parse_s3_uri(source["S3Uri"], f"ProcessingInput {name!r} S3Uri")
    if data.count_objects(source["S3Uri"]) == 0:
        raise errors.ValidationError(
            f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in input "
            f"{name!r}. Upload the data first, or check the bucket and prefix.")
    return {**entry, "AppManaged": bool(entry.get("AppManaged", False)), "S3Input": {
        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
        "S3CompressionType": "None", **source}}

def _output(entry: dict[str, Any], data: DataPlane) -> dict[str, Any]:
    name = entry["OutputName"]
    target = entry.get("S3Output")
    if target is None:
        raise errors.ValidationError(
            f"ProcessingOutput {name!r}: cove writes processing outputs to S3 only "
            "(S3Output); FeatureStoreOutput is not available here.")
    if "LocalPath" not in target:
        raise errors.ValidationError(f"ProcessingOutput {name!r}: S3Output.LocalPath is "
                                     "required (what to upload, under /opt/ml/processing/).")
    inside(target["LocalPath"])
    bucket, _ = parse_s3_uri(target["S3Uri"], f"ProcessingOutput {name!r} S3Uri")
    try:
        data.count_objects(f"s3://{bucket}/")
    except errors.NoSuchBucket as exc:
        raise errors.ValidationError(f"ProcessingOutput {name!r}: the bucket {bucket!r} "
                                     "does not exist.") from exc
    return {**entry, "AppManaged": bool(entry.get("AppManaged", False))}


def _check_app(app: dict[str, Any]) -> None:
    kind = image_kind(app["ImageUri"])
    if kind not in KINDS:
        raise errors.ValidationError(
            f"cove cannot run the processing image {app['ImageUri']!r}: it runs processing "
            "jobs with the Python environment of the scikit-learn (sagemaker-scikit-learn), "
            "PyTorch (pytorch-training) and XGBoost (sagemaker-xgboost) images; get a URI "
            "with sagemaker.image_uris.retrieve(...).")
    if not app.get("ContainerEntrypoint"):
        raise errors.ValidationError(
            "AppSpecification.ContainerEntrypoint is required here: cove runs the image's "
            "Python environment, not its default entry point (the SDK's processors set it, "
            "e.g. ['python3', '/opt/ml/processing/input/code/process.py']).")


def _check_cluster(cluster: dict[str, Any]) -> None:
    count = cluster.get("InstanceCount")
    if not cluster.get("InstanceType") or count is None:
        raise errors.ValidationError("ProcessingResources.ClusterConfig needs InstanceType "
                                     "and InstanceCount.")
    if count > MAX_INSTANCES:
        raise errors.ResourceLimitExceeded(
            f"cove runs at most {MAX_INSTANCES} hosts for one processing job; InstanceCount "
            f"was {count}.")


def _check_paths(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
    names = [e["InputName"] for e in inputs]
    if len(names) != len(set(names)):
        raise errors.ValidationError("InputName must be unique within ProcessingInputs.")
    out_names = [e["OutputName"] for e in outputs]
    if len(out_names) != len(set(out_names)):
        raise errors.ValidationError("OutputName must be unique within "
                                     "ProcessingOutputConfig.Outputs.")
    paths = [inside(e["S3Input"]["LocalPath"]) for e in inputs]
    if len(paths) != len(set(paths)):
        raise errors.ValidationError("Each ProcessingInput needs a LocalPath of its own: two "
                                     "inputs would land in the same directory.")
