"""A transform job's settings, resolved: what the engine needs, whatever the workers are.

``MaxConcurrentTransforms``, ``BatchStrategy`` and ``MaxPayloadInMB`` come from the request; when
it leaves one out (or sets MaxConcurrentTransforms to 0), from the model container's
``GET /execution-parameters``, as SageMaker asks it; else SageMaker's defaults (1, MultiRecord,
6 MB).  The workers see the request's values, and ``SAGEMAKER_BATCH=true``, in their environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cove.transform._batches import Packing
from cove.transform._processing import CSV, DataProcessing, data_processing

MIB = 1 << 20
DEFAULT_TIMEOUT = 600
DEFAULT_RETRIES = 3
DEFAULTS: dict[str, Any] = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord",
                            "MaxPayloadInMB": 6}
_STRATEGIES = {"MULTI_RECORD": "MultiRecord", "SINGLE_RECORD": "SingleRecord",
               "MultiRecord": "MultiRecord", "SingleRecord": "SingleRecord"}
_LINE_TYPES = ("text/csv", "application/jsonlines", "application/x-jsonlines",
               "application/json-lines")


@dataclass(frozen=True)
class Plan:
    packing: Packing
    splitter: str  # how objects are cut into records: Line | RecordIO | None
    compression: str  # None | Gzip
    content_type: str | None
    accept: str | None
    assemble_lines: bool
    output_path: str
    concurrency: int  # requests in flight, all instances together
    timeout: float
    retries: int
    #: Each batch setting's value and where it came from, for the job's log.
    settings: dict[str, tuple[Any, str]]

    @property
    def processing(self) -> DataProcessing | None:
        return self.packing.processing

    @property
    def headers(self) -> dict[str, str]:
        headers = {}
        if self.content_type:
            headers["content-type"] = self.content_type
        if self.accept:
            headers["accept"] = self.accept
        return headers


def make_plan(describe: dict[str, Any], execution_parameters: dict[str, Any] | None) -> Plan:
    settings = {key: _setting(describe, execution_parameters or {}, key) for key in DEFAULTS}
    transform_input, output = describe["TransformInput"], describe["TransformOutput"]
    split_type = transform_input.get("SplitType", "None")
    content_type = transform_input.get("ContentType")
    processing = data_processing(describe.get("DataProcessing", {}), content_type, split_type)
    packing = Packing(split_type, settings["BatchStrategy"][0] == "SingleRecord",
                      int(settings["MaxPayloadInMB"][0]) * MIB, processing)
    splitter = split_type
    if split_type == "None" and processing is not None and _lines(content_type, processing):
        splitter = "Line"  # records are the object's lines; all of them go in one request
    client = describe.get("ModelClientConfig", {})
    return Plan(
        packing, splitter, transform_input.get("CompressionType", "None"), content_type,
        output.get("Accept"), output.get("AssembleWith", "None") == "Line",
        output["S3OutputPath"],
        int(settings["MaxConcurrentTransforms"][0]) * describe["TransformResources"][
            "InstanceCount"],
        float(client.get("InvocationsTimeoutInSeconds", DEFAULT_TIMEOUT)),
        int(client.get("InvocationsMaxRetries", DEFAULT_RETRIES)), settings)


def batch_environment(describe: dict[str, Any]) -> dict[str, str]:
    """What a batch transform container finds in its environment besides the model's own."""
    environment = {**describe.get("Environment", {}), "SAGEMAKER_BATCH": "true"}
    if describe.get("MaxPayloadInMB") is not None:
        environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(describe["MaxPayloadInMB"])
    if describe.get("BatchStrategy"):
        environment["SAGEMAKER_BATCH_STRATEGY"] = (
            "SINGLE_RECORD" if describe["BatchStrategy"] == "SingleRecord" else "MULTI_RECORD")
    if describe.get("MaxConcurrentTransforms"):
        environment["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(
            describe["MaxConcurrentTransforms"])
    return environment


def workers_per_instance(environment: dict[str, str]) -> int:
    """``SAGEMAKER_MODEL_SERVER_WORKERS`` (the inference toolkit's setting), else one."""
    value = environment.get("SAGEMAKER_MODEL_SERVER_WORKERS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _setting(describe: dict[str, Any], offered: dict[str, Any], key: str) -> tuple[Any, str]:
    given = describe.get(key)
    if given is not None and not (key == "MaxConcurrentTransforms" and given == 0):
        return given, "the request"
    value = offered.get(key)
    if key == "BatchStrategy":
        value = _STRATEGIES.get(str(value))
    elif not isinstance(value, int) or isinstance(value, bool) or value < 0 or (
            key == "MaxConcurrentTransforms" and value == 0):
        value = None
    if value is not None:
        return value, "the model's execution-parameters"
    return DEFAULTS[key], "the default"


def _lines(content_type: str | None, processing: DataProcessing) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return processing.input_format == CSV or kind in _LINE_TYPES
