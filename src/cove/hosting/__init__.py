"""Hosting: models, endpoint configurations, endpoints and the runtime that invokes them.

Batch transform starts its workers with the same pieces: :func:`prepare_model`, :class:`Fleet`
and the :class:`WorkerClient` each worker carries.
"""

from cove.hosting._api import (
    HostingApi,
    describe_endpoint,
    describe_endpoint_config,
    describe_model,
)
from cove.hosting._artifacts import ArtifactCache
from cove.hosting._catalog import Catalog
from cove.hosting._endpoints import Endpoints, HostingSettings
from cove.hosting._fleet import Fleet, FleetFailed, FleetSpec, Worker
from cove.hosting._models import ModelServing, prepare_model, serving_python
from cove.hosting._records import Endpoint, EndpointConfig, EndpointStatus, Model
from cove.hosting._runtime import RuntimeService
from cove.hosting._transport import WorkerClient, WorkerResponse, WorkerUnavailable

__all__ = ["ArtifactCache", "Catalog", "Endpoint", "EndpointConfig", "EndpointStatus",
           "Endpoints", "Fleet", "FleetFailed", "FleetSpec", "HostingApi", "HostingSettings",
           "Model", "ModelServing", "RuntimeService", "Worker", "WorkerClient", "WorkerResponse",
           "WorkerUnavailable", "describe_endpoint", "describe_endpoint_config",
           "describe_model", "prepare_model", "serving_python"]
