"""The SageMaker runtime: ``POST /endpoints/{name}/invocations`` (rest-json, signed for
``sagemaker``), routed to a variant by weight or ``X-Amzn-SageMaker-Target-Variant`` and to
its least-busy worker; a worker that drops the request is retried once on another one."""

from __future__ import annotations

import asyncio
import logging
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.hosting._endpoints import Endpoints, LiveVariant
from cove.hosting._fleet import Worker
from cove.hosting._records import EndpointStatus
from cove.hosting._transport import WorkerDropped, WorkerResponse, WorkerUnavailable
from cove.wire import Call

log = logging.getLogger("cove.hosting")

MAX_PAYLOAD = 6 * 1024 * 1024
TIMEOUT = 60.0
PASSED_HEADERS = ("content-type", "accept", "x-amzn-sagemaker-custom-attributes",
                  "x-amzn-sagemaker-inference-id")
_PASSED = {name.encode(): name for name in PASSED_HEADERS}
_MEMBERS = {"content-type": "contentType", "accept": "accept",
            "x-amzn-sagemaker-custom-attributes": "customAttributes",
            "x-amzn-sagemaker-inference-id": "inferenceId",
            "x-amzn-sagemaker-target-variant": "targetVariant"}
_VARIANT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


class RuntimeService:
    signing_name = "sagemaker"
    protocol = "rest-json"

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    def matches(self, request: Request) -> bool:
        return str(request.scope["path"]).startswith("/endpoints/")

    async def __call__(self, call: Call) -> Response:
        scope = call.request.scope
        parts = scope["path"].split("/")  # percent-decoded already
        if scope["method"] != "POST" or len(parts) != 4 or parts[3] != "invocations":
            raise errors.UnknownOperation("cove's runtime answers POST "
                                          "/endpoints/{EndpointName}/invocations.")
        name = parts[2]
        headers, target = _passed_headers(scope["headers"])
        _check_headers(headers, target)
        body = await self._body(call)
        deployment = self.endpoints.live.get(name)
        if deployment is None:
            # Reads the database: in a worker thread (an unknown name can be sent by anyone
            # holding a key, as fast as they like).
            raise await asyncio.to_thread(self._not_serving, name, call.principal.account_id)
        variant = deployment.choose(self.endpoints.rng, target)
        started, ok = time.perf_counter(), False
        try:
            answer = await self._send(variant, headers, body)
            ok = answer.status < 400
        finally:  # failures count too: the console charts errors per variant
            self.endpoints.traffic.record(name, variant.name, time.perf_counter() - started, ok)
        self.endpoints.count(name)
        if deployment.capture is not None:
            self.endpoints.capturer.record(
                deployment.capture, name, variant.name,
                (headers.get("content-type", "application/octet-stream"), body),
                (answer.headers.get("content-type", ""), answer.body))
        if answer.status >= 400:
            raise _model_error(name, variant, answer, call)
        return _Answer(answer, variant.name)

    async def _body(self, call: Call) -> bytes:
        try:
            return await call.body.read(MAX_PAYLOAD)
        except errors.EntityTooLarge as exc:
            raise errors.RuntimeValidationError(
                f"Received payload exceeds the maximum of {MAX_PAYLOAD} bytes for "
                "InvokeEndpoint; use batch transform for larger inputs.") from exc

    def _not_serving(self, name: str, account: str) -> errors.CoveError:
        try:
            status = self.endpoints.endpoint(name).status
        except errors.ValidationError:
            return errors.RuntimeValidationError(f"Endpoint {name} of account {account} not "
                                                 "found.")
        if status is EndpointStatus.OUT_OF_SERVICE:
            return errors.RuntimeValidationError(
                f"Endpoint {name} was stopped after being idle; `cove endpoints start {name}` "
                "starts it again.")
        return errors.RuntimeValidationError(
            f"Endpoint {name} of account {account} is {status.value}, not InService: wait for it "
            "(the endpoint_in_service waiter) or look at its FailureReason.")

    async def _send(self, variant: LiveVariant, headers: dict[str, str],
                    body: bytes) -> WorkerResponse:
        tried: Worker | None = None
        dropped = False
        for _attempt in range(2):
            worker = variant.fleet.pick(exclude=tried)
            if worker is None:
                break
            worker.in_flight += 1
            try:
                return await worker.client.request("POST", "/invocations", headers, body,
                                                   TIMEOUT)
            except WorkerUnavailable as exc:
                log.warning("variant %s worker %d: %s; retrying elsewhere", variant.name,
                            worker.index, exc.message)
                tried = worker  # it may have died: once more, on another worker
                dropped = dropped or isinstance(exc, WorkerDropped)
            except TimeoutError as exc:
                raise errors.ModelError(
                    f"The model did not answer within {TIMEOUT:.0f} seconds.",
                    OriginalStatusCode=504, OriginalMessage="timed out") from exc
            finally:
                worker.in_flight -= 1
        if dropped:  # not "retry shortly": this request may be what kills them
            raise errors.ModelError(
                f"The model worker of variant {variant.name} exited while handling the request "
                f"(it is being restarted); the endpoint's log has its last output.",
                OriginalMessage="the model server process exited")
        raise errors.ServiceUnavailable(f"No worker of variant {variant.name} is available "
                                        "right now; retry shortly.")


class _Answer(Response):
    """The model's answer as InvokeEndpoint returns it, its headers written as bytes once."""

    def __init__(self, answer: WorkerResponse, variant: str) -> None:
        self.status_code, self.body, self.background = 200, answer.body, None
        content_type = answer.headers.get("content-type", "application/octet-stream")
        self.raw_headers = [(b"content-type", content_type.encode("latin-1")),
                            (b"content-length", b"%d" % len(answer.body)),
                            (b"x-amzn-invoked-production-variant", variant.encode())]
        attributes = answer.headers.get("x-amzn-sagemaker-custom-attributes")
        if attributes is not None:
            self.raw_headers.append((b"x-amzn-sagemaker-custom-attributes",
                                     attributes.encode("latin-1")))


def _passed_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
    """The headers passed to the model, and the target variant, read off the wire once."""
    passed: dict[str, str] = {}
    target = None
    for name, value in raw:
        if name in _PASSED:
            passed[_PASSED[name]] = value.decode("latin-1")
        elif name == b"x-amzn-sagemaker-target-variant":
            target = value.decode("latin-1")
    return passed, target


def _model_error(name: str, variant: LiveVariant, answer: WorkerResponse,
                 call: Call) -> errors.ModelError:
    message = answer.body.decode("utf-8", "replace")[:1024].strip()
    group = f"/aws/sagemaker/Endpoints/{name}"
    arn = (f"arn:aws:logs:{call.region}:{call.principal.account_id}:log-group:{group}")
    kind = "client" if answer.status < 500 else "server"  # SageMaker's words for 4xx and 5xx
    return errors.ModelError(
        f"Received {kind} error ({answer.status}) from {variant.name} with message "
        f"\"{message}\". See the log group {group} for more information.",
        OriginalStatusCode=answer.status, OriginalMessage=message, LogStreamArn=arn)


def _check_headers(headers: dict[str, str], target: str | None) -> None:
    """The runtime API's header constraints, which botocore does not check client-side."""
    for name, value in headers.items():
        limit = 64 if name == "x-amzn-sagemaker-inference-id" else 1024
        if len(value) > limit or not value.isascii():
            raise _invalid(name, value, f"Member must have length less than or equal to "
                                        f"{limit} and consist of ASCII characters")
    if target is not None and (len(target) > 63 or not _VARIANT_NAME.match(target)):
        raise _invalid("x-amzn-sagemaker-target-variant", target,
                       f"Member must satisfy regular expression pattern: "
                       f"{_VARIANT_NAME.pattern} and have length less than or equal to 63")


def _invalid(header: str, value: str, constraint: str) -> errors.RuntimeValidationError:
    member = _MEMBERS[header]
    return errors.RuntimeValidationError(
        f"1 validation error detected: Value '{value[:64]}' at '{member}' failed to satisfy "
        f"constraint: {constraint}")
