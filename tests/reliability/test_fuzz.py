"""Hostile input to every operation cove serves, generated from botocore's service models.

For each operation of each service cove registers (read from the service objects the server
builds, so a new operation is fuzzed the day it is added) the test sends raw SigV4-signed HTTP
requests -- boto3 would refuse most of them client-side -- carrying: nothing (required members
missing), a wrong type, null, huge and negative numbers, a 1 MiB string, and JSON/XML nested
100,000 deep.  Every answer must be below 500, every error must be in the service's own shape
(JSON ``__type``, XML ``<Error><Code>``), input botocore itself calls invalid must get a 4xx, and
the list calls answer the same before and after: nothing was created or changed.

Cases are drawn with a fixed seed per operation, a bounded number each, and operations are split
into chunks that xdist can spread over workers; one server per worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

from tests.conftest import REGION, CoveServer

MIB = 1 << 20
DEEP = 100_000
MEMBERS_PER_OPERATION = 5  # members mutated per operation (seeded sample)
CHUNKS = 3  # per service with many operations

#: S3 has no operation table in cove (S3Service dispatches on method and subresource): these
#: are the operations its dispatch answers (objects/_s3api.py, objects/_s3object_api.py).
S3_OPERATIONS = (
    "ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "DeleteObjects",
    "GetBucketLocation", "GetBucketVersioning", "ListMultipartUploads", "ListObjectsV2",
    "ListObjects", "GetObject", "HeadObject", "PutObject", "UploadPart", "CopyObject",
    "DeleteObject", "AbortMultipartUpload", "CreateMultipartUpload",
    "CompleteMultipartUpload", "ListParts", "PutBucketWebsite", "GetBucketWebsite",
    "DeleteBucketWebsite")
#: The runtime service answers one operation (hosting/_runtime.py RuntimeService).
RUNTIME_OPERATIONS = ("InvokeEndpoint",)
#: botocore model names of cove's signing names, where they differ.
MODEL_OF = {"apigateway": "apigatewayv2"}
#: The one bucket the fuzzed S3 operations reach; its listing is part of the snapshot.
TARGET_BUCKET = "fuzz-target"


def _served() -> dict[str, list[str]]:
    """botocore model name -> the operations cove's service objects answer."""
    from cove.config import Config
    from cove.server import Platform, Runtime, build_app

    platform = Platform.open(Config(home=Path(tempfile.mkdtemp(prefix="cove-fuzz-"))),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        served: dict[str, list[str]] = {"s3": list(S3_OPERATIONS),
                                        "sagemaker-runtime": list(RUNTIME_OPERATIONS)}
        edge, _ = build_app(platform, "http://127.0.0.1:1")  # the console app is not fuzzed
        for service in edge.services:
            operations = getattr(service, "operations", None)
            if not operations or service.signing_name == "cove":
                continue  # cove's own API has no botocore model
            model = MODEL_OF.get(service.signing_name, service.signing_name)
            served.setdefault(model, []).extend(sorted(operations))
        return served
    finally:
        platform.executor.shutdown()
        platform.db.close()


def _chunks() -> Iterator[tuple[str, int]]:
    for service in ("sagemaker", "s3", "logs", "lambda", "apigatewayv2", "sts", "iam",
                    "sagemaker-runtime"):
        for index in range(CHUNKS if service in ("sagemaker", "s3", "apigatewayv2") else 1):
            yield service, index


@pytest.fixture(scope="module")
def served() -> dict[str, list[str]]:
    return _served()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    cove = CoveServer(tmp_path_factory.mktemp("fuzz-home")).start()
    yield cove
    cove.stop()


@pytest.fixture(scope="module")
def clients(server: CoveServer) -> dict[str, Any]:
    made = {name: server.client(name)
            for name in ("s3", "sagemaker", "logs", "lambda", "apigatewayv2")}
    made["s3"].create_bucket(Bucket=TARGET_BUCKET)
    made["s3"].put_object(Bucket=TARGET_BUCKET, Key="fuzz-missing", Body=b"kept")
    return made


# --- cases ----------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    params: dict[str, Any]
    raw_body: bytes | None = None  # sent instead of the serialized params
    must_fail: bool = False  # botocore itself calls the input invalid


_WRONG = {"string": 12345, "integer": "abc", "long": "abc", "float": "abc", "double": "abc",
          "boolean": "yes", "timestamp": "not-a-time", "blob": 7, "structure": [1, 2],
          "list": {"a": 1}, "map": [1]}


_NUMERIC = ("integer", "long", "float", "double")


def _invalid_for_botocore(shape: Shape | None, params: dict[str, Any]) -> bool:
    if shape is None:
        return bool(params)
    try:
        return bool(ParamValidator().validate(params, shape).has_errors())
    except (RuntimeError, OverflowError, ValueError):  # a timestamp botocore cannot represent
        return True


def _cases(model: OperationModel) -> list[Case]:
    shape = model.input_shape
    members = dict(shape.members) if shape is not None else {}
    rng = random.Random(zlib.crc32(f"{model.service_model.service_name}.{model.name}".encode()))
    cases = [Case("empty", {}, must_fail=bool(shape is not None and shape.required_members))]
    names = sorted(members)
    rng.shuffle(names)
    for name in names[:MEMBERS_PER_OPERATION]:
        member = members[name]
        cases.append(Case(f"{name}=null", {name: None}))
        # A URI, query or header member is text, and so is every member of a query-protocol
        # (form) request: only a number, boolean or time has a wrong type there.
        query = model.service_model.protocol == "query"
        typed = _NUMERIC + ("timestamp",) + (("boolean",) if query else ())
        if not (_located(member) or query) or member.type_name in typed:
            cases.append(Case(f"{name}=wrong-type", {name: _WRONG[member.type_name]}))
        if member.type_name in _NUMERIC:
            cases += [Case(f"{name}={v}", {name: v}) for v in (1e20, -1e20, -1)]
        if member.type_name == "timestamp":
            cases += [Case(f"{name}={v}", {name: v}) for v in (1e20, -1e20, -1)]
    # Oversize strings go in the body: a 1 MiB URI, query or header is refused by the HTTP
    # server before any service sees it (uvicorn's limits, not a service's error shape).
    strings = [n for n in sorted(members)
               if members[n].type_name == "string" and not _located(members[n])]
    if strings:
        chosen = rng.choice(strings)
        cases.append(Case(f"{chosen}=1MiB", {chosen: "x" * MIB}))
    for case in cases:
        sent = {k: v for k, v in case.params.items() if v is not None}  # null is absent
        case.must_fail = case.must_fail or _invalid_for_botocore(shape, sent)
    return cases


def _located(member: Shape) -> bool:
    """Whether the member travels in the URI, query string or headers (as text)."""
    return member.serialization.get("location") is not None


def _deep_json() -> bytes:
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


def _deep_list() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def _deep_xml() -> bytes:
    return b"<a>" * DEEP + b"</a>" * DEEP


# --- requests -------------------------------------------------------------------------------


@dataclass
class Wire:
    server: CoveServer

    def send(self, model: OperationModel, case: Case) -> requests.Response | None:
        """The signed request for ``case``, or None when it cannot be put on the wire at all
        (a wrong-typed URI member that botocore's serializer cannot render)."""
        built = self._build(model, case)
        if built is None:
            return None
        method, url, headers, body = built
        request = AWSRequest(method, url, headers=headers, data=body)
        creds = Credentials(self.server.credentials["access_key_id"],
                            self.server.credentials["secret_access_key"])
        signing = model.service_model.signing_name
        (S3SigV4Auth if signing == "s3" else SigV4Auth)(creds, signing, REGION).add_auth(request)
        return requests.request(method, url, headers=dict(request.headers), data=body,
                                timeout=120)

    def placeholder(self, member: str) -> str:
        """A URI member the case left out: the module's bucket (so S3 object operations get
        past the bucket), elsewhere a name nobody has."""
        return TARGET_BUCKET if member == "Bucket" else "fuzz-missing"

    @staticmethod
    def _another_operation(shape: Shape | None, filled: dict[str, Any]) -> bool:
        """A required query or header member is missing: REST routes by them, so the request
        is another operation (UploadPart without uploadId is a PutObject)."""
        return shape is not None and any(
            shape.members[name].serialization.get("location") in ("querystring", "header")
            and name not in filled for name in shape.required_members)

    def _build(self, model: OperationModel,
               case: Case) -> tuple[str, str, dict[str, str], bytes] | None:
        protocol = model.service_model.protocol
        if protocol == "json":
            prefix = model.service_model.metadata["targetPrefix"]
            version = model.service_model.metadata.get("jsonVersion", "1.1")
            body = case.raw_body if case.raw_body is not None else json.dumps(case.params).encode()
            return ("POST", self.server.url + "/", {
                "X-Amz-Target": f"{prefix}.{model.name}",
                "Content-Type": f"application/x-amz-json-{version}"}, body)
        return self._rest(model, case, protocol)

    def _rest(self, model: OperationModel, case: Case,
              protocol: str) -> tuple[str, str, dict[str, str], bytes] | None:
        shape = model.input_shape
        members = shape.members if shape is not None else {}
        params = {k: v for k, v in case.params.items()
                  if members[k].serialization.get("location") is not None}
        for name in (shape.required_members if shape is not None else []):
            if members[name].serialization.get("location") == "uri" and params.get(name) is None:
                params[name] = self.placeholder(name)  # the URI must be routable
        filled = {k: v for k, v in {**case.params, **params}.items() if v is not None}
        if protocol != "query" and case.raw_body is None and (
                self._another_operation(shape, filled) or model.http["method"] != "GET"
                and not _invalid_for_botocore(shape, filled)):
            return None  # on the wire a valid request (maybe a write), not a hostile one
        case.must_fail = case.must_fail and _invalid_for_botocore(shape, filled)
        try:
            wire = create_serializer(protocol, include_validation=False).serialize_to_request(
                {**({k: v for k, v in case.params.items() if k not in params}
                    if protocol != "rest-json" and protocol != "query" else {}), **params},
                model)
        except (TypeError, ValueError, KeyError, AttributeError, RuntimeError, OverflowError):
            return None  # botocore cannot put it in a URI, query or header at all
        body = case.raw_body if case.raw_body is not None else self._body(model, case, wire)
        query = urlencode(wire["query_string"]) if isinstance(wire["query_string"], dict) \
            else wire["query_string"]
        url = self.server.url + wire["url_path"] + (("?" + query) if query else "")
        headers = {k: str(v) for k, v in wire["headers"].items()}
        if protocol == "rest-json" and body:
            headers.setdefault("Content-Type", "application/json")
        return model.http["method"], url, headers, body

    @staticmethod
    def _body(model: OperationModel, case: Case, wire: dict[str, Any]) -> bytes:
        protocol = model.service_model.protocol
        if protocol == "query":
            form = {"Action": model.name, "Version": model.service_model.api_version,
                    **{k: json.dumps(v) for k, v in case.params.items()}}
            return "&".join(f"{k}={v}" for k, v in form.items()).encode()
        if protocol == "rest-json":
            shape = model.input_shape
            assert shape is not None
            body = {shape.members[k].serialization.get("name", k): v
                    for k, v in case.params.items()
                    if shape.members[k].serialization.get("location") is None}
            return json.dumps(body).encode() if body else b""
        data = wire["body"]
        return data.encode() if isinstance(data, str) else bytes(data or b"")


# --- checks ---------------------------------------------------------------------------------


def _error_shape(protocol: str, response: requests.Response, method: str) -> str:
    """The error code the body carries in the protocol's shape ("" when it has none)."""
    if protocol in ("json", "rest-json"):
        try:
            return str(response.json().get("__type", ""))
        except ValueError:
            return ""
    if method == "HEAD":
        return "(head)"
    text = response.text
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6:end] if "<Error>" in text and start >= 0 else ""


def _snapshot(clients: dict[str, Any]) -> dict[str, Any]:
    """What every list call of every served service answers."""
    sm, logs = clients["sagemaker"], clients["logs"]
    names = {
        "buckets": [b["Name"] for b in clients["s3"].list_buckets()["Buckets"]],
        "objects": [(o["Key"], o["ETag"]) for o in clients["s3"].list_objects_v2(
            Bucket=TARGET_BUCKET).get("Contents", [])],
        "uploads": clients["s3"].list_multipart_uploads(Bucket=TARGET_BUCKET).get("Uploads"),
        "groups": [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]],
        "functions": [f["FunctionName"]
                      for f in clients["lambda"].list_functions()["Functions"]],
        "apis": [a["ApiId"] for a in clients["apigatewayv2"].get_apis()["Items"]],
    }
    for call, key in (("list_training_jobs", "TrainingJobSummaries"),
                      ("list_models", "Models"), ("list_endpoint_configs", "EndpointConfigs"),
                      ("list_endpoints", "Endpoints"),
                      ("list_transform_jobs", "TransformJobSummaries"),
                      ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries"),
                      ("list_notebook_instances", "NotebookInstances")):
        names[call] = getattr(sm, call)(MaxResults=100)[key]
    return names


def _deep_cases(model: OperationModel) -> list[Case]:
    protocol = model.service_model.protocol
    if protocol in ("json", "rest-json"):
        shape = model.input_shape
        has_body = protocol == "json" or (shape is not None and any(
            m.serialization.get("location") is None for m in shape.members.values()))
        return [Case("deep-json", {}, _deep_json(), True),
                Case("deep-list", {}, _deep_list(), True)] if has_body else []
    payload = model.input_shape.serialization.get("payload") if model.input_shape else None
    if protocol == "rest-xml" and payload and \
            model.input_shape.members[payload].type_name == "structure":
        return [Case("deep-xml", {}, _deep_xml())]  # an XML document, not an object's bytes
    return []


@pytest.mark.parametrize(("service", "chunk"), list(_chunks()),
                         ids=[f"{s}-{i}" for s, i in _chunks()])
def test_hostile_input_gets_a_4xx_in_the_service_shape(
        server: CoveServer, clients: dict[str, Any], served: dict[str, list[str]], service: str,
        chunk: int) -> None:
    operations = served.get(service, [])
    if not operations:
        pytest.skip(f"cove does not serve {service}")
    operations = operations[chunk::CHUNKS] if service in ("sagemaker", "s3", "apigatewayv2") \
        else operations
    model = botocore.session.get_session().get_service_model(service)
    wire = Wire(server)
    before = _snapshot(clients)
    failures: list[str] = []
    sent = 0
    for name in operations:
        operation = model.operation_model(name)
        for case in _cases(operation) + _deep_cases(operation):
            response = wire.send(operation, case)
            if response is None:
                continue
            sent += 1
            failures += _judge(operation, case, response)
    assert sent, "no case reached the server"
    assert not failures, f"{len(failures)} bad answer(s):\n" + "\n".join(failures[:40])
    assert _snapshot(clients) == before, "a hostile request created or changed something"


def _judge(model: OperationModel, case: Case, response: requests.Response) -> list[str]:
    where = f"{model.name} [{case.label}] -> {response.status_code}"
    if response.status_code >= 500:
        return [f"{where}: {response.text[:300]}"]
    if case.must_fail and response.status_code < 400:
        return [f"{where}: accepted input botocore calls invalid"]
    if response.status_code >= 400 and not _error_shape(
            model.service_model.protocol, response, model.http["method"]):
        return [f"{where}: error not in the {model.service_model.protocol} shape: "
                f"{response.text[:200]}"]
    return []
