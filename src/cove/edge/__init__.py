"""The edge: one port, SigV4 verification, dispatch to services by signing name and protocol."""

from cove.edge._app import Edge, public_json
from cove.edge._body import Body, check_sha256
from cove.edge._limits import RequestLimits, limited_protocol
from cove.edge._render import SANDBOX_CSP
from cove.edge._restjson import RestJsonService
from cove.edge._service import Call, JsonService, QueryService, Service
from cove.edge._sigv4 import Principal, Verifier

__all__ = ["SANDBOX_CSP", "Body", "Call", "Edge", "JsonService", "Principal", "QueryService",
           "RequestLimits", "RestJsonService", "Service", "Verifier", "check_sha256",
           "limited_protocol", "public_json", "sts_service"]
