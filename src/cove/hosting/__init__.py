"""Hosting: models, endpoint configurations, endpoints and the runtime that invokes them."""

from cove.hosting._api import HostingApi
from cove.hosting._artifacts import ArtifactCache
from cove.hosting._endpoints import Endpoints, HostingSettings
from cove.hosting._runtime import RuntimeService

__all__ = ["ArtifactCache", "Endpoints", "HostingApi", "HostingSettings", "RuntimeService"]
