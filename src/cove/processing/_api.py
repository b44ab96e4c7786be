"""The processing-job operations of the SageMaker API: CreateProcessingJob,
DescribeProcessingJob, ListProcessingJobs, StopProcessingJob (tags through AddTags/ListTags/
DeleteTags on the job's ARN).  The shapes are checked against botocore's model at the edge;
what is checked here is what the model cannot say."""

from __future__ import annotations

import time
from typing import Any

from cove import errors
from cove.processing._host import inside
from cove.processing._jobs import ProcessingJobs
from cove.sagemaker import Tags, arn, matches_filters, paginate, parse_s3_uri
from cove.training import DataPlane, image_kind
from cove.wire import Call

MAX_INSTANCES = 8
DEFAULT_MAX_RUNTIME = 86400
#: The images whose Python environment a processing job can run (SKLearnProcessor,
#: PyTorchProcessor, XGBoostProcessor, ScriptProcessor and FrameworkProcessor with them).
KINDS = ("sklearn", "pytorch", "xgboost")
ECHOED = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources",
          "StoppingCondition", "AppSpecification", "Environment", "NetworkConfig", "RoleArn",
          "ExperimentConfig")


class ProcessingApi:
    def __init__(self, jobs: ProcessingJobs, data: DataPlane, tags: Tags) -> None:
        self.jobs, self.data, self.tags = jobs, data, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Any]:
        return {"CreateProcessingJob": self.create, "DescribeProcessingJob": self.describe,
                "ListProcessingJobs": self.list, "StopProcessingJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe = self.build(params, call.region, call.principal.account_id)
        self.jobs.insert(describe)
        if params.get("Tags"):
            self.tags.set(describe["ProcessingJobArn"], params["Tags"])
        return {"ProcessingJobArn": describe["ProcessingJobArn"]}

    def build(self, params: dict[str, Any], region: str, account: str) -> dict[str, Any]:
        """Validate a CreateProcessingJob request; the job's Describe document."""
        _check_app(params["AppSpecification"])
        _check_cluster(params["ProcessingResources"]["ClusterConfig"])
        inputs = [self._input(entry) for entry in params.get("ProcessingInputs", [])]
        outputs = [self._output(entry) for entry in
                   params.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        _check_paths(inputs, outputs)
        now = time.time()
        describe: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
        describe.update({
            "ProcessingJobName": params["ProcessingJobName"],
            "ProcessingJobArn": arn(region, account, "processing-job",
                                    params["ProcessingJobName"]),
            "ProcessingInputs": inputs,
            "StoppingCondition": {"MaxRuntimeInSeconds": params.get(
                "StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)},
            "ProcessingJobStatus": "InProgress", "CreationTime": now, "LastModifiedTime": now,
        })
        if "ProcessingOutputConfig" in params:
            describe["ProcessingOutputConfig"] = {**params["ProcessingOutputConfig"],
                                                  "Outputs": outputs}
        return describe

    def _input(self, entry: dict[str, Any]) -> dict[str, Any]:
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
        if self.data.count_objects(source["S3Uri"]) == 0:
            raise errors.ValidationError(
                f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in input "
                f"{name!r}. Upload the data first, or check the bucket and prefix.")
        return {**entry, "AppManaged": bool(entry.get("AppManaged", False)), "S3Input": {
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None", **source}}

    def _output(self, entry: dict[str, Any]) -> dict[str, Any]:
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
            self.data.count_objects(f"s3://{bucket}/")
        except errors.NoSuchBucket as exc:
            raise errors.ValidationError(f"ProcessingOutput {name!r}: the bucket {bucket!r} "
                                         "does not exist.") from exc
        return {**entry, "AppManaged": bool(entry.get("AppManaged", False))}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.jobs.describe(params["ProcessingJobName"])

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["ProcessingJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in self.jobs.all()
                if matches_filters(d, params, "ProcessingJobName", "ProcessingJobStatus")]
        key = {"Name": "ProcessingJobName", "Status": "ProcessingJobStatus"}.get(
            params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda d: (d[key], d["ProcessingJobName"]),
                  reverse=params.get("SortOrder", "Ascending") == "Descending")
        page = paginate(jobs, params, default_max=10)
        return page.response("ProcessingJobSummaries", [_summary(d) for d in page.items])


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


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime",
            "LastModifiedTime", "ProcessingJobStatus", "FailureReason", "ExitMessage")
    return {k: d[k] for k in keys if k in d}
