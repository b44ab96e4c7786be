"""CreateTransformJob's rules: it checks everything it can before the job exists (the model,
the input objects, the output bucket, the batch limits, the JSONPath filters), so a job that
starts has a chance to finish; what only running can reveal (a record too large, a model that
fails) ends it Failed with a reason naming the object and the record."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.hosting import Model
from cove.sagemaker import JobStatus, arn, parse_s3_uri
from cove.transform._inputs import LocalObjects
from cove.transform._job import TransformJob
from cove.transform._plan import batch_environment, workers_per_instance
from cove.transform._processing import data_processing

MAX_PAYLOAD_MB = 100
ECHOED = ("MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
          "Environment", "TransformOutput", "TransformResources", "ExperimentConfig")
DATA_TYPES = ("S3Prefix", "ManifestFile")




class TransformRequests:
    """Checks a CreateTransformJob request against what exists: models, objects, buckets."""

    def __init__(self, objects: LocalObjects, find_model: Callable[[str], Model],
                 max_workers: int) -> None:
        self.objects, self.find_model, self.max_workers = objects, find_model, max_workers

    def new_job(self, params: dict[str, Any], region: str, account: str) -> TransformJob:
        """Validate a CreateTransformJob request; the new job's record."""
        name = params["TransformJobName"]
        model = self.find_model(params["ModelName"])
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
        config: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
        config.update({"ModelName": params["ModelName"], "TransformInput": transform_input,
                       "DataProcessing": processing})
        now = time.time()
        return TransformJob(name, arn(region, account, "transform-job", name),
                            JobStatus.IN_PROGRESS, now, now, MappingProxyType(config))

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
            self.objects.inputs(source)  # every listed object must exist
        elif not self._has_objects(source["S3Uri"]):
            raise errors.ValidationError(
                f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in the transform "
                "job's input. Upload the data first, or check the bucket and prefix.")

    def _has_objects(self, uri: str) -> bool:
        try:
            return self.objects.has_any(uri)
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
        if not self.objects.has_bucket(uri, "S3OutputPath"):
            raise errors.ValidationError(f"S3OutputPath {uri!r}: the bucket "
                                         f"{parse_s3_uri(uri)[0]!r} does not exist.")

    def _check_workers(self, params: dict[str, Any], model: Model) -> None:
        environment = {**model.environment, **batch_environment(params)}
        instances = params["TransformResources"]["InstanceCount"]
        count = instances * workers_per_instance(environment)
        limit = self.max_workers
        if count > limit:
            raise errors.ResourceLimitExceeded(
                f"This job would start {count} model workers (InstanceCount {instances} × "
                f"{count // instances} per instance); cove starts at most {limit} for one job.")
