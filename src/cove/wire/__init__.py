"""The ground floor: what every service speaks the AWS wire protocols with.

The call a handler gets (:class:`Call`, with its :class:`Body`), the service base classes that
do a protocol's work (:class:`JsonService`, :class:`QueryService`, :class:`RestJsonService`),
validation against botocore's models with cove's pinned required members
(:class:`ShapeValidator`), and the rendering of errors in each protocol's shape.  It imports
nothing of cove but :mod:`cove.errors`; services import it, and the edge (SigV4, dispatch) sits
above the services.
"""

from cove.wire._body import Body, Decoder, check_sha256
from cove.wire._render import JSON_CONTENT_TYPE, SANDBOX_CSP, render_error
from cove.wire._restjson import RestJsonService
from cove.wire._service import (
    MAX_JSON_BODY,
    Call,
    Handler,
    JsonService,
    QueryService,
    Service,
    json_object,
)
from cove.wire._shapes import ShapeValidator

__all__ = ["JSON_CONTENT_TYPE", "MAX_JSON_BODY", "SANDBOX_CSP", "Body", "Call", "Decoder",
           "Handler", "JsonService", "QueryService", "RestJsonService", "Service",
           "ShapeValidator", "check_sha256", "json_object", "render_error"]
