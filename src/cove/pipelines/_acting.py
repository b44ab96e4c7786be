"""What a pipeline does outside the engine, done as its role.

A pipeline's steps act for the pipeline's ``RoleArn``, as in SageMaker: each execution gets a
key of its own (``assumed-role/ROLE/SageMaker-<execution id>``), kept in the database so a
restart finds it, and every SageMaker call, Lambda invocation and S3 read a step makes is put
to the edge's authorizer as the request that key would have signed.  So a step may do what its
role may do, passing a role (``iam:PassRole``) included, and nothing more; a refusal is the
AccessDenied a client would get, and it fails the step.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.identity import Principal
from cove.pipelines._steps import InvokeFunction
from cove.wire import Body, Call, Service

if TYPE_CHECKING:
    from cove.identity import Identity

#: The edge's authorizer: raises AccessDenied (or a role's ValidationError) or returns.
Authorize = Callable[[Call, Service, bytes | None], None]
#: ``(operation, request, call) -> response``: a SageMaker operation's handler.
Handler = Callable[[dict[str, Any], Call], Any]
#: ``(bucket, key) -> the object's bytes``.
ReadObject = Callable[[str, str], bytes]
#: Checks a SageMaker request against botocore's input shape.
Validate = Callable[[str, dict[str, Any]], None]

#: How long the key that reads a definition at CreatePipeline lives if a crash leaves it.
_DEFINITION_KEY_SECONDS = 900.0
_LAMBDA_INVOKE = "/2015-03-31/functions/{}/invocations"


@dataclass(frozen=True)
class ActingServices:
    """The parts of cove a pipeline's requests reach."""

    identity: Identity
    authorize: Authorize
    #: The SageMaker API's handlers (the same dictionary the edge dispatches from).
    operations: dict[str, Handler]
    validate: Validate
    invoke: InvokeFunction
    read_object: ReadObject
    region: str


class Acting:
    """Keys for executions, and the ``Actor`` that uses one."""

    def __init__(self, services: ActingServices) -> None:
        self.services = services

    def assume(self, owner: str, role_arn: str, session: str,
               expires: float | None = None) -> str:
        """A new key acting for ``role_arn`` as ``session``; its id."""
        return self.services.identity.issue(owner, role_arn, session, expires).access_key_id

    def release(self, owner: str) -> None:
        self.services.identity.revoke(owner)

    def actor(self, key: str) -> Actor:
        principal = self.services.identity.lookup(key)
        if principal is None:
            raise errors.AccessDeniedJson(
                "The pipeline execution's credentials are no longer valid (its key was "
                "revoked); retry the execution to act for the pipeline's role again.")
        return Actor(self.services, principal)

    def read_as_role(self, role_arn: str, bucket: str, key: str) -> bytes:
        """Read an object as ``role_arn`` (CreatePipeline's PipelineDefinitionS3Location)."""
        owner = f"pipeline-definition/{secrets.token_hex(8)}"
        access_key = self.assume(owner, role_arn, "SageMaker-PipelineDefinition",
                                 time.time() + _DEFINITION_KEY_SECONDS)
        try:
            return self.actor(access_key).read_object(bucket, key)
        finally:
            self.release(owner)


class Actor:
    """One principal's requests, each authorized as the edge authorizes a signed one."""

    def __init__(self, services: ActingServices, principal: Principal) -> None:
        self.services, self.principal = services, principal

    @property
    def arn(self) -> str:
        return self.principal.arn

    def sagemaker(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call a SageMaker operation: shape-checked, authorized, then its handler."""
        self.services.validate(operation, params)
        body = json.dumps(params).encode()
        call = self._call("POST", "/", [(b"x-amz-target", f"SageMaker.{operation}".encode())])
        self.services.authorize(call, _Seam("sagemaker", "json"), body)
        result = self.services.operations[operation](params, call)
        return dict(json.loads(json.dumps(result or {}, default=_timestamp)))

    def invoke(self, function: str, payload: bytes) -> tuple[bytes, bool]:
        """Invoke a function (RequestResponse), as ``lambda:InvokeFunction`` on it."""
        call = self._call("POST", _LAMBDA_INVOKE.format(function), [])
        self.services.authorize(call, _Seam("lambda", "rest-json"), payload)
        return self.services.invoke(function, payload)

    def read_object(self, bucket: str, key: str) -> bytes:
        """Read an object whole, as ``s3:GetObject`` on it."""
        call = self._call("GET", f"/{bucket}/{key}", [])
        self.services.authorize(call, _Seam("s3", "rest-xml"), None)
        return self.services.read_object(bucket, key)

    def _call(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Call:
        request = Request({"type": "http", "method": method, "path": path,
                           "raw_path": quote(path).encode(), "headers": headers,
                           "query_string": b"", "scheme": "http", "server": ("cove", 0)})
        return Call(request, self.principal, self.services.region, "pipeline",
                    Body(_no_body()))


@dataclass
class _Seam:
    """The service a step's request stands for: what the authorizer reads of it (the signing
    name that picks its table of actions, the protocol a refusal is shaped for).  It is never
    routed to: the request goes straight to the handler."""

    signing_name: str
    protocol: str

    def matches(self, request: Request) -> bool:
        return False

    async def __call__(self, call: Call) -> Response:
        raise errors.UnknownOperation("cove's own requests are not routed through the edge.")


async def _no_body() -> AsyncIterator[bytes]:
    yield b""


def _timestamp(value: Any) -> Any:
    if hasattr(value, "timestamp"):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")
