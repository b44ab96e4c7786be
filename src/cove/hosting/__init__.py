"""Hosting: models, endpoint configurations, endpoints and the runtime that invokes them.

Batch transform starts its workers with the same pieces: :func:`prepare_model`, :class:`Fleet`
and the :class:`WorkerClient` each worker carries.
"""

from cove.hosting._api import HostingApi
from cove.hosting._artifacts import ArtifactCache
from cove.hosting._endpoints import Endpoints, HostingSettings
from cove.hosting._fleet import Fleet, FleetFailed, FleetSpec, Worker
from cove.hosting._models import ModelServing, prepare_model, serving_python
from cove.hosting._runtime import RuntimeService
from cove.hosting._transport import WorkerClient, WorkerResponse, WorkerUnavailable

__all__ = ["ArtifactCache", "Endpoints", "Fleet", "FleetFailed", "FleetSpec", "HostingApi",
           "HostingSettings", "ModelServing", "RuntimeService", "Worker", "WorkerClient",
           "WorkerResponse", "WorkerUnavailable", "prepare_model", "serving_python"]
