"""The HTTP gateway (API Gateway v2 HTTP APIs): APIs, routes and stages in the database, the
management API, and the public ``/gw`` path that turns requests into function invocations."""

from cove.gateway._api import GatewayApi
from cove.gateway._gateway import Gateway
from cove.gateway._proxy import PREFIX, GatewayProxy

__all__ = ["PREFIX", "Gateway", "GatewayApi", "GatewayProxy"]
