"""The edge: one port, SigV4 verification, dispatch to services by signing name and protocol."""

from cove.edge._app import Edge, public_json
from cove.edge._body import Body
from cove.edge._restjson import RestJsonService
from cove.edge._service import Call, JsonService, QueryService, Service
from cove.edge._sigv4 import Principal, Verifier

__all__ = ["Body", "Call", "Edge", "JsonService", "Principal", "QueryService", "RestJsonService",
           "Service", "Verifier", "public_json"]
