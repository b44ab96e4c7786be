"""Models, endpoint configurations and endpoints as stored: each row's ``describe`` column
keeps the layout earlier versions wrote (their Describe documents), so existing databases read
unchanged.  This module is the only one that knows that layout."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from cove.hosting._records import (
    Capture,
    DeployedVariant,
    Endpoint,
    EndpointConfig,
    EndpointStatus,
    Model,
    PendingUpdate,
)


def load_model(doc: dict[str, Any]) -> Model:
    container = doc.get("PrimaryContainer") or (doc.get("Containers") or [{}])[0]
    return Model(doc["ModelName"], doc["ModelArn"], doc["CreationTime"],
                 MappingProxyType(dict(container)), doc.get("ExecutionRoleArn", ""),
                 bool(doc.get("EnableNetworkIsolation", False)))


def dump_model(model: Model) -> dict[str, Any]:
    return {"ModelName": model.name, "ModelArn": model.arn, "CreationTime": model.created,
            "PrimaryContainer": dict(model.container),
            "ExecutionRoleArn": model.execution_role_arn,
            "EnableNetworkIsolation": model.network_isolation}


def load_config(doc: dict[str, Any]) -> EndpointConfig:
    capture = doc.get("DataCaptureConfig")
    return EndpointConfig(doc["EndpointConfigName"], doc["EndpointConfigArn"],
                          doc["CreationTime"],
                          tuple(MappingProxyType(dict(v)) for v in doc["ProductionVariants"]),
                          MappingProxyType(dict(capture)) if capture else None)


def dump_config(config: EndpointConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {"EndpointConfigName": config.name, "EndpointConfigArn": config.arn,
                           "ProductionVariants": [dict(v) for v in config.variants],
                           "CreationTime": config.created}
    if config.data_capture:
        doc["DataCaptureConfig"] = dict(config.data_capture)
    return doc


def load_endpoint(doc: dict[str, Any]) -> Endpoint:
    pending = doc.get("PendingDeploymentSummary")
    capture = doc.get("DataCaptureConfig")
    return Endpoint(
        doc["EndpointName"], doc["EndpointArn"], doc["EndpointConfigName"],
        EndpointStatus(doc["EndpointStatus"]), doc["CreationTime"],
        doc.get("LastModifiedTime", doc["CreationTime"]), doc.get("FailureReason", ""),
        PendingUpdate(pending["EndpointConfigName"], pending.get("StartTime", 0.0))
        if pending else None,
        tuple(_load_variant(v) for v in doc.get("ProductionVariants", [])),
        Capture(bool(capture.get("EnableCapture", True)),
                int(capture.get("CurrentSamplingPercentage", 100)),
                capture["DestinationS3Uri"]) if capture else None)


def _load_variant(v: dict[str, Any]) -> DeployedVariant:
    image = (v.get("DeployedImages") or [{}])[0]
    return DeployedVariant(v["VariantName"], image.get("ResolvedImage", ""),
                           image.get("ResolutionTime", 0.0), float(v.get("CurrentWeight", 1.0)),
                           int(v.get("CurrentInstanceCount", 0)),
                           int(v.get("DesiredInstanceCount", 0)))


def dump_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "EndpointName": endpoint.name, "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.config_name, "EndpointStatus": endpoint.status.value,
        "CreationTime": endpoint.created, "LastModifiedTime": endpoint.modified}
    if endpoint.failure_reason:
        doc["FailureReason"] = endpoint.failure_reason
    if endpoint.pending is not None:
        doc["PendingDeploymentSummary"] = {"EndpointConfigName": endpoint.pending.config_name,
                                           "StartTime": endpoint.pending.started}
    if endpoint.variants:
        doc["ProductionVariants"] = [variant_document(v) for v in endpoint.variants]
    if endpoint.capture is not None:
        doc["DataCaptureConfig"] = capture_document(endpoint.capture)
    return doc


def variant_document(v: DeployedVariant) -> dict[str, Any]:
    return {"VariantName": v.name,
            "DeployedImages": [{"SpecifiedImage": v.image, "ResolvedImage": v.image,
                                "ResolutionTime": v.resolved}],
            "CurrentWeight": v.weight, "DesiredWeight": v.weight,
            "CurrentInstanceCount": v.current_instances,
            "DesiredInstanceCount": v.desired_instances}


def capture_document(c: Capture) -> dict[str, Any]:
    return {"EnableCapture": c.enabled, "CaptureStatus": "Started" if c.enabled else "Stopped",
            "CurrentSamplingPercentage": c.sampling, "DestinationS3Uri": c.destination}
