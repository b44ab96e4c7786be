"""The edge, the top floor: one port, SigV4 verification, authorisation, and dispatch to the
services (built on :mod:`cove.wire`) by signing name and protocol."""

from cove.edge._app import Edge, public_json
from cove.edge._limits import RequestLimits, limited_protocol
from cove.edge._sigv4 import Verifier

__all__ = ["Edge", "RequestLimits", "Verifier", "limited_protocol", "public_json"]
