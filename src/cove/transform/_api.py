"""The transform-job operations of the SageMaker API.

CreateTransformJob checks everything it can before the job exists (the model, the input
objects, the output bucket, the batch limits, the JSONPath filters), so a job that starts has a
chance to finish; what only running can reveal (a record too large, a model that fails) ends it
Failed with a reason naming the object and the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cove import errors
from cove.sagemaker import Tags, arn, paginate, parse_s3_uri
from cove.transform._jobs import TransformJobs
from cove.transform._plan import batch_environment, workers_per_instance
from cove.transform._processing import data_processing
from cove.wire import Call

MAX_PAYLOAD_MB = 100
ECHOED = ("MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
          "Environment", "TransformOutput", "TransformResources", "ExperimentConfig")
DATA_TYPES = ("S3Prefix", "ManifestFile")


class TransformApi:
    def __init__(self, jobs: TransformJobs, tags: Tags) -> None:
        self.jobs, self.tags = jobs, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {"CreateTransformJob": self.create, "DescribeTransformJob": self.describe,
                "ListTransformJobs": self.list, "StopTransformJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe = self.build(params, call.region, call.principal.account_id)
        self.jobs.create(describe)
        if params.get("Tags"):
            self.tags.set(describe["TransformJobArn"], params["Tags"])
        return {"TransformJobArn": describe["TransformJobArn"]}

    def build(self, params: dict[str, Any], region: str, account: str) -> dict[str, Any]:
        """Validate a CreateTransformJob request and turn it into the job's Describe document."""
        name = params["TransformJobName"]
        model = self.jobs.find_model(params["ModelName"])
        transform_input = {"CompressionType": "None", "SplitType": "None",
                           **params["TransformInput"]}
        self._check_input(transform_input)
        self._check_batching(params)
        processing = {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None",
                      **params.get("DataProcessing", {})}
        data_processing(processing, transform_input.get("ContentType"),
                        transform_input["SplitType"])
        self._check_output(params["TransformOutput"])
        self._check_workers(params, model)
        if params.get("DataCaptureConfig"):
            raise errors.ValidationError("DataCaptureConfig is not supported by cove's batch "
                                         "transform; leave it out.")
        describe: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
        describe.update({
            "TransformJobName": name,
            "TransformJobArn": arn(region, account, "transform-job", name),
            "TransformJobStatus": "InProgress", "ModelName": params["ModelName"],
            "TransformInput": transform_input, "DataProcessing": processing,
            "CreationTime": time.time(),
        })
        return describe

    def _check_input(self, transform_input: dict[str, Any]) -> None:
        source = transform_input["DataSource"]["S3DataSource"]
        if source["S3DataType"] not in DATA_TYPES:
            raise errors.ValidationError(
                f"S3DataType {source['S3DataType']} is not supported for batch transform: use "
                "S3Prefix (every object under a prefix) or ManifestFile.")
        if transform_input["SplitType"] == "TFRecord":
            raise errors.ValidationError(
                "SplitType TFRecord is not supported by cove's batch transform: use Line "
                "(records are lines), RecordIO, or None (each object whole).")
        if source["S3DataType"] == "ManifestFile":
            self.jobs.objects.inputs(source)  # every listed object must exist
        elif not self._has_objects(source["S3Uri"]):
            raise errors.ValidationError(
                f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in the transform "
                "job's input. Upload the data first, or check the bucket and prefix.")

    def _has_objects(self, uri: str) -> bool:
        try:
            return self.jobs.objects.has_any(uri)
        except errors.NoSuchBucket as exc:
            raise errors.ValidationError(f"The input S3Uri {uri}: the bucket does not "
                                         "exist.") from exc

    @staticmethod
    def _check_batching(params: dict[str, Any]) -> None:
        payload = params.get("MaxPayloadInMB")
        if payload is not None and payload > MAX_PAYLOAD_MB:
            raise errors.ValidationError(f"MaxPayloadInMB is {payload}; it can be at most "
                                         f"{MAX_PAYLOAD_MB}.")
        concurrency = params.get("MaxConcurrentTransforms")
        if payload and concurrency and payload * concurrency > MAX_PAYLOAD_MB:
            raise errors.ValidationError(
                f"MaxConcurrentTransforms × MaxPayloadInMB is {concurrency} × {payload} = "
                f"{concurrency * payload}; it can be at most {MAX_PAYLOAD_MB} (MB in flight "
                "per instance).")

    def _check_output(self, output: dict[str, Any]) -> None:
        uri = output["S3OutputPath"]
        if not self.jobs.objects.has_bucket(uri, "S3OutputPath"):
            raise errors.ValidationError(f"S3OutputPath {uri!r}: the bucket "
                                         f"{parse_s3_uri(uri)[0]!r} does not exist.")

    def _check_workers(self, params: dict[str, Any], model: dict[str, Any]) -> None:
        container = model.get("PrimaryContainer") or model["Containers"][0]
        environment = {**container.get("Environment", {}), **batch_environment(params)}
        instances = params["TransformResources"]["InstanceCount"]
        count = instances * workers_per_instance(environment)
        limit = self.jobs.settings.max_workers
        if count > limit:
            raise errors.ResourceLimitExceeded(
                f"This job would start {count} model workers (InstanceCount {instances} × "
                f"{count // instances} per instance); cove starts at most {limit} for one job.")

    # --- the other operations ---------------------------------------------------------------

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.jobs.describe(params["TransformJobName"])

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        page = paginate(self.jobs.summaries(params), params, default_max=10)
        return page.response("TransformJobSummaries")

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["TransformJobName"])
        return {}
