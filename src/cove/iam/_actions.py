"""What each request asks IAM for: its action, the resource it acts on, and condition keys.

One table per protocol.  A request may need several permissions (CopyObject reads the source and
writes the target; CreateTrainingJob also passes its role); every one must be allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

import botocore.session


@dataclass(frozen=True)
class Access:
    """One permission a request needs."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Wire:
    """The parts of a request the tables read."""

    signing_name: str
    method: str
    path: str  # percent-decoded
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes | None  # None for S3 (streamed)
    region: str
    account: str


def accesses(w: Wire) -> list[Access]:
    """Every permission request ``w`` needs (none: anyone who signed may, as GetCallerIdentity)."""
    name = w.signing_name
    if name == "s3":
        return s3_accesses(w)
    if name == "sagemaker" and "x-amz-target" not in w.headers:
        return runtime_accesses(w)
    if name in ("sagemaker", "logs", "cove"):
        operation = w.headers.get("x-amz-target", "").partition(".")[2]
        params = json_params(w.body)
        if name == "sagemaker":
            return sagemaker_accesses(operation, params, w)
        if name == "logs":
            return logs_accesses(operation, params, w)
        return [Access(f"cove:{operation}", "*")]
    if name == "lambda":
        return lambda_accesses(w)
    if name == "apigateway":
        return apigateway_accesses(w)
    if name == "sts":
        return sts_accesses(query_params(w), w)
    if name == "iam":
        return iam_accesses(query_params(w), w)
    return [Access(f"{name}:{w.method}", "*")]


# --- S3 ---------------------------------------------------------------------------------------

#: Each S3 operation's IAM action, from AWS's Service Authorization Reference for Amazon S3.
#: Every operation in botocore's model is here (a test walks it), whether cove serves it or
#: not: authorisation comes before routing.
S3_ACTIONS: dict[str, str] = {
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "CompleteMultipartUpload": "s3:PutObject", "CopyObject": "s3:PutObject",
    "CreateBucket": "s3:CreateBucket",
    "CreateBucketMetadataConfiguration": "s3:CreateBucketMetadataTableConfiguration",
    "CreateBucketMetadataTableConfiguration": "s3:CreateBucketMetadataTableConfiguration",
    "CreateMultipartUpload": "s3:PutObject", "CreateSession": "s3express:CreateSession",
    "DeleteBucket": "s3:DeleteBucket",
    "DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "DeleteBucketMetadataConfiguration": "s3:DeleteBucketMetadataTableConfiguration",
    "DeleteBucketMetadataTableConfiguration": "s3:DeleteBucketMetadataTableConfiguration",
    "DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketWebsite": "s3:DeleteBucketWebsite", "DeleteObject": "s3:DeleteObject",
    "DeleteObjectAnnotation": "s3:DeleteObjectAnnotation",
    "DeleteObjectTagging": "s3:DeleteObjectTagging", "DeleteObjects": "s3:DeleteObject",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketAbac": "s3:GetBucketAbac",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "GetBucketAcl": "s3:GetBucketAcl",
    "GetBucketAnalyticsConfiguration": "s3:GetAnalyticsConfiguration",
    "GetBucketCors": "s3:GetBucketCORS",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetBucketIntelligentTieringConfiguration": "s3:GetIntelligentTieringConfiguration",
    "GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration",
    "GetBucketLifecycle": "s3:GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "GetBucketLocation": "s3:GetBucketLocation", "GetBucketLogging": "s3:GetBucketLogging",
    "GetBucketMetadataConfiguration": "s3:GetBucketMetadataTableConfiguration",
    "GetBucketMetadataTableConfiguration": "s3:GetBucketMetadataTableConfiguration",
    "GetBucketMetricsConfiguration": "s3:GetMetricsConfiguration",
    "GetBucketNotification": "s3:GetBucketNotification",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "GetBucketPolicy": "s3:GetBucketPolicy", "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "GetBucketRequestPayment": "s3:GetBucketRequestPayment",
    "GetBucketTagging": "s3:GetBucketTagging", "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketWebsite": "s3:GetBucketWebsite", "GetObject": "s3:GetObject",
    "GetObjectAcl": "s3:GetObjectAcl", "GetObjectAnnotation": "s3:GetObjectAnnotation",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "GetObjectLegalHold": "s3:GetObjectLegalHold",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "GetObjectRetention": "s3:GetObjectRetention", "GetObjectTagging": "s3:GetObjectTagging",
    "GetObjectTorrent": "s3:GetObjectTorrent",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock", "HeadBucket": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "ListBucketAnalyticsConfigurations": "s3:GetAnalyticsConfiguration",
    "ListBucketIntelligentTieringConfigurations": "s3:GetIntelligentTieringConfiguration",
    "ListBucketInventoryConfigurations": "s3:GetInventoryConfiguration",
    "ListBucketMetricsConfigurations": "s3:GetMetricsConfiguration",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListDirectoryBuckets": "s3express:ListAllMyDirectoryBuckets",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListObjectAnnotations": "s3:ListObjectAnnotations",
    "ListObjectVersions": "s3:ListBucketVersions", "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket", "ListParts": "s3:ListMultipartUploadParts",
    "PutBucketAbac": "s3:PutBucketAbac",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "PutBucketAcl": "s3:PutBucketAcl",
    "PutBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "PutBucketCors": "s3:PutBucketCORS",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "PutBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "PutBucketLifecycle": "s3:PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "PutBucketLogging": "s3:PutBucketLogging",
    "PutBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "PutBucketNotification": "s3:PutBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "PutBucketReplication": "s3:PutReplicationConfiguration",
    "PutBucketRequestPayment": "s3:PutBucketRequestPayment",
    "PutBucketTagging": "s3:PutBucketTagging", "PutBucketVersioning": "s3:PutBucketVersioning",
    "PutBucketWebsite": "s3:PutBucketWebsite", "PutObject": "s3:PutObject",
    "PutObjectAcl": "s3:PutObjectAcl", "PutObjectAnnotation": "s3:PutObjectAnnotation",
    "PutObjectLegalHold": "s3:PutObjectLegalHold",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "PutObjectRetention": "s3:PutObjectRetention", "PutObjectTagging": "s3:PutObjectTagging",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "RenameObject": "s3express:RenameObject", "RestoreObject": "s3:RestoreObject",
    "SelectObjectContent": "s3:GetObject",
    "UpdateBucketMetadataAnnotationTableConfiguration":
        "s3:UpdateBucketMetadataAnnotationTableConfiguration",
    "UpdateBucketMetadataInventoryTableConfiguration":
        "s3:UpdateBucketMetadataInventoryTableConfiguration",
    "UpdateBucketMetadataJournalTableConfiguration":
        "s3:UpdateBucketMetadataJournalTableConfiguration",
    "UpdateObjectEncryption": "s3:PutObject", "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "WriteGetObjectResponse": "s3-object-lambda:WriteGetObjectResponse",
}

#: A request that names a ``versionId`` acts on an old version: IAM has actions of their own for
#: that, so a role allowed only the current objects cannot read or delete what was replaced.
_S3_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion",
                 "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
                 "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
                 "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
                 "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
                 "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
                 "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes"}
_S3_LISTINGS = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions"})
#: Operations botocore sends to other hosts (an Object Lambda's, S3 Express's control endpoint),
#: where their paths mean what ListBuckets' and a bucket's do here.
_ELSEWHERE = frozenset({"WriteGetObjectResponse", "ListDirectoryBuckets"})
#: What a request no S3 operation has needs: all of S3 (cove answers it with an error anyway).
_S3_UNKNOWN = "s3:*"


@dataclass(frozen=True)
class _S3Route:
    """How botocore's model tells one S3 operation's requests apart."""

    operation: str
    method: str
    level: str  # "root", "bucket" or "object"
    literals: tuple[tuple[str, str | None], ...]  # ?tagging, ?list-type=2
    query: tuple[str, ...]  # required query members (uploadId, partNumber, id)
    headers: tuple[str, ...]  # required headers (x-amz-copy-source)

    @property
    def specificity(self) -> int:
        return len(self.literals) + len(self.query) + len(self.headers)

    def matches(self, w: Wire, level: str) -> bool:
        return (self.method == w.method and self.level == level
                and all(k in w.query and (v is None or w.query[k] == v) for k, v in self.literals)
                and all(k in w.query for k in self.query)
                and all(h in w.headers for h in self.headers))


@cache
def _s3_routes() -> dict[tuple[str, str], tuple[dict[str, list[_S3Route]], list[_S3Route]]]:
    """(method, level) -> (routes by their first literal query key, routes with none), each
    list the most specific first: a request is matched against a few routes, not all 116."""
    model = botocore.session.get_session().get_service_model("s3")
    routes = []
    for name in model.operation_names:
        if name in _ELSEWHERE:
            continue
        op = model.operation_model(name)
        path, _, query = op.http["requestUri"].partition("?")
        level = ("root" if "{Bucket}" not in path else
                 "object" if "{Key+}" in path else "bucket")
        literals = tuple((k, v or None) for k, _, v in
                         (part.partition("=") for part in query.split("&") if part))
        shape = op.input_shape
        required = [shape.members[m] for m in shape.required_members] if shape else []
        routes.append(_S3Route(
            name, op.http["method"], level, literals,
            tuple(m.serialization["name"] for m in required
                  if m.serialization.get("location") == "querystring"),
            tuple(m.serialization["name"].lower() for m in required
                  if m.serialization.get("location") == "header")))
    # the most specific first; among equals, the model's order (ListBuckets before
    # ListDirectoryBuckets, GetBucketLifecycle before ...Configuration: the same action)
    routes.sort(key=lambda r: -r.specificity)
    index: dict[tuple[str, str], tuple[dict[str, list[_S3Route]], list[_S3Route]]] = {}
    for route in routes:
        by_literal, plain = index.setdefault((route.method, route.level), ({}, []))
        if route.literals:
            by_literal.setdefault(route.literals[0][0], []).append(route)
        else:
            plain.append(route)
    return index


def s3_operations(w: Wire) -> list[str]:
    """The S3 operation a request is, by botocore's model: every one it could be, when it looks
    like several (``PUT ?acl&website``: it needs both permissions); none if it looks like none."""
    bucket, _, key = w.path.lstrip("/").partition("/")
    level = "object" if key else "bucket" if bucket else "root"
    by_literal, plain = _s3_routes().get((w.method, level), ({}, []))
    found = [r for name in w.query for r in by_literal.get(name, ()) if r.matches(w, level)]
    found += [r for r in plain if r.matches(w, level)]
    if not found:
        return []
    best = max(r.specificity for r in found)
    return list(dict.fromkeys(r.operation for r in found if r.specificity == best))


def s3_accesses(w: Wire) -> list[Access]:
    bucket, _, key = w.path.lstrip("/").partition("/")
    operations = s3_operations(w)
    if not bucket:
        return [Access(S3_ACTIONS[operations[0]] if operations else _S3_UNKNOWN, "*")]
    resource = f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"
    accesses: dict[tuple[str, str], Access] = {}
    for operation in operations or [""]:
        if operation == "DeleteObjects":  # each key it names
            accesses.update({(a.action, a.resource): a for a in _s3_deleted(w, bucket)})
            continue
        action = S3_ACTIONS.get(operation, _S3_UNKNOWN)
        if "versionId" in w.query:
            action = _S3_VERSIONED.get(action, action)
        accesses.setdefault((action, resource), Access(
            action, resource, _s3_listing(w) if operation in _S3_LISTINGS else {}))
    return list(accesses.values()) + _s3_copied(w, operations)


def _s3_copied(w: Wire, operations: list[str]) -> list[Access]:
    """A copy reads its source too."""
    source = w.headers.get("x-amz-copy-source")
    if not source or not {"CopyObject", "UploadPartCopy"} & set(operations):
        return []
    path, _, query = unquote(source).lstrip("/").partition("?")
    return [Access("s3:GetObjectVersion" if "versionId=" in query else "s3:GetObject",
                   f"arn:aws:s3:::{path}")]


def _s3_listing(w: Wire) -> dict[str, list[str]]:
    context = {"s3:prefix": [w.query.get("prefix", "")]}
    for name in ("delimiter", "max-keys"):
        if name in w.query:
            context["s3:" + name] = [w.query[name]]
    return context


def _s3_deleted(w: Wire, bucket: str) -> list[Access]:
    """DeleteObjects names its keys in its body (the edge reads it first): each key needs
    s3:DeleteObject (s3:DeleteObjectVersion with a VersionId), as if deleted one by one, so an
    explicit Deny on some keys holds."""
    everything = [Access("s3:DeleteObject", f"arn:aws:s3:::{bucket}/*")]
    if not w.body:
        return everything
    try:
        root = ElementTree.fromstring(w.body)
    except ElementTree.ParseError:
        return everything  # the service refuses it with MalformedXML
    nodes = [node for node in root if node.tag.endswith("Object")]
    if len(nodes) > 1000:
        return everything  # the service refuses more than 1000 keys
    accesses: dict[tuple[str, str], Access] = {}
    for node in nodes:
        key = next((c.text or "" for c in node if c.tag.endswith("Key")), "")
        versioned = any(c.tag.endswith("VersionId") for c in node)
        action = "s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"
        accesses[(action, key)] = Access(action, f"arn:aws:s3:::{bucket}/{key}")
    return list(accesses.values()) or everything


# --- JSON 1.1 (SageMaker, CloudWatch Logs, cove) -----------------------------------------------

#: SageMaker request members that name the operation's resource, by the noun in the operation.
_SAGEMAKER_NOUNS = {
    "TrainingJob": "training-job", "HyperParameterTuningJob": "hyper-parameter-tuning-job",
    "Model": "model", "EndpointConfig": "endpoint-config", "Endpoint": "endpoint",
    "TransformJob": "transform-job", "NotebookInstance": "notebook-instance",
    "ProcessingJob": "processing-job", "Pipeline": "pipeline",
    "ModelPackageGroup": "model-package-group", "Experiment": "experiment",
    "NotebookInstanceLifecycleConfig": "notebook-instance-lifecycle-config",
    "ModelPackage": "model-package", "PipelineExecution": "pipeline-execution",
}

#: Where a request names the role its resource's code will act for, and the service that will
#: assume it.
ROLE_FIELDS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "sagemaker": {
        "CreateTrainingJob": (("RoleArn",), "sagemaker.amazonaws.com"),
        "CreateHyperParameterTuningJob": (("TrainingJobDefinition.RoleArn",
                                           "TrainingJobDefinitions[].RoleArn"),
                                          "sagemaker.amazonaws.com"),
        "CreateModel": (("ExecutionRoleArn",), "sagemaker.amazonaws.com"),
        "CreateNotebookInstance": (("RoleArn",), "sagemaker.amazonaws.com"),
        "UpdateNotebookInstance": (("RoleArn",), "sagemaker.amazonaws.com"),
        "CreateProcessingJob": (("RoleArn",), "sagemaker.amazonaws.com"),
        "CreatePipeline": (("RoleArn",), "sagemaker.amazonaws.com"),
        "UpdatePipeline": (("RoleArn",), "sagemaker.amazonaws.com"),
    },
    "lambda": {
        "CreateFunction": (("Role",), "lambda.amazonaws.com"),
        "UpdateFunctionConfiguration": (("Role",), "lambda.amazonaws.com"),
    },
}


def roles_named(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """The role ARNs ``params`` of ``operation`` pass to the resource they create."""
    fields, _ = ROLE_FIELDS.get(service, {}).get(operation, ((), ""))
    found: list[str] = []
    for path in fields:
        values: list[Any] = [params]
        for part in path.split("."):
            if part.endswith("[]"):
                values = [item for v in values if isinstance(v, dict)
                          for item in (v.get(part[:-2]) or [])]
            else:
                values = [v.get(part) for v in values if isinstance(v, dict)]
        found += [v for v in values if isinstance(v, str) and v]
    return found


def json_params(body: bytes | None) -> dict[str, Any]:
    try:
        params = json.loads(body) if body and body.strip() else {}
    except (ValueError, RecursionError):
        return {}  # the service itself refuses it with SerializationException
    return params if isinstance(params, dict) else {}


def sagemaker_accesses(operation: str, params: Mapping[str, Any], w: Wire) -> list[Access]:
    accesses = [Access("sagemaker:" + operation, _sagemaker_resource(operation, params, w))]
    fields = ROLE_FIELDS["sagemaker"].get(operation)
    for role in roles_named("sagemaker", operation, params):
        assert fields is not None
        accesses.append(Access("iam:PassRole", role, {"iam:PassedToService": [fields[1]]}))
    return accesses


def _sagemaker_resource(operation: str, params: Mapping[str, Any], w: Wire) -> str:
    """The ARN of what ``operation`` acts on: the longest resource noun in its name whose
    ``<Noun>Arn`` or ``<Noun>Name`` it was given (a name may be an ARN too); ``*`` for the
    operations that act on no one resource (List*, Search)."""
    if operation in ("AddTags", "DeleteTags", "ListTags"):
        return str(params.get("ResourceArn", "*"))
    for noun in sorted((n for n in _SAGEMAKER_NOUNS if n in operation), key=len, reverse=True):
        arn, name = params.get(noun + "Arn"), params.get(noun + "Name")
        if isinstance(arn, str) and arn:
            return _own_arn(arn, w)
        if isinstance(name, str) and name:
            return _own_arn(name, w) if name.startswith("arn:") else (
                f"arn:aws:sagemaker:{w.region}:{w.account}:{_SAGEMAKER_NOUNS[noun]}/"
                f"{name.lower()}")
    execution = params.get("PipelineExecutionArn")  # ...ForExecution: the execution's
    return _own_arn(execution, w) if isinstance(execution, str) and execution else "*"


def _own_arn(arn: str, w: Wire) -> str:
    """A SageMaker ARN as cove resolves it: cove has one account and one region and finds a
    resource by the rest, so a policy about its own ARN must hold whatever account or region
    (or case) the caller wrote."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    return f"arn:aws:sagemaker:{w.region}:{w.account}:{parts[5].lower()}"


def logs_accesses(operation: str, params: Mapping[str, Any], w: Wire) -> list[Access]:
    # logGroupIdentifier names the group as well (a name or its ARN): the same permission
    group = params.get("logGroupName") or params.get("logGroupIdentifier")
    if not isinstance(group, str) or not group:
        return [Access("logs:" + operation, "*")]
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    arn = f"arn:aws:logs:{w.region}:{w.account}:log-group:{group}"
    stream = params.get("logStreamName")
    if isinstance(stream, str) and stream:
        arn += f":log-stream:{stream}"
    return [Access("logs:" + operation, arn)]


# --- rest-json (Lambda, API Gateway, the SageMaker runtime) -------------------------------------


@cache
def _routes(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\{(\w+)(\+?)\}",
                         lambda m: f"(?P<{m[1]}>{'.+' if m[2] else '[^/]+'})", template)
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
    return routes


def route(service: str, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for route_method, regex, name in _routes(service):
        found = regex.match(path)
        if found and route_method == method:
            return name, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def lambda_accesses(w: Wire) -> list[Access]:
    found = route("lambda", w.method, w.path)
    if found is None:
        return [Access("lambda:" + w.method, "*")]
    operation, path_params = found
    params = {**json_params(w.body), **path_params}
    name = _function_name(str(params.get("FunctionName", "")))
    resource = f"arn:aws:lambda:{w.region}:{w.account}:function:{name}" if name else "*"
    action = "lambda:" + {"Invoke": "InvokeFunction"}.get(operation, operation)
    accesses = [Access(action, resource)]
    for role in roles_named("lambda", operation, params):
        accesses.append(Access("iam:PassRole", role,
                               {"iam:PassedToService": ["lambda.amazonaws.com"]}))
    return accesses


def _function_name(value: str) -> str:
    """The function a FunctionName means, as cove's Lambda reads it: a name, a partial ARN
    (``ACCOUNT:function:NAME``) or a full one, whatever account, region or qualifier it
    names (cove has one account and region, and refuses qualifiers other than $LATEST)."""
    if value.startswith("arn:"):
        parts = value.split(":")
        return parts[6] if len(parts) >= 7 else value
    return value.split(":")[-1] if ":" in value else value


def apigateway_accesses(w: Wire) -> list[Access]:
    """API Gateway authorises by HTTP method on the path, as AWS does."""
    return [Access("apigateway:" + w.method, f"arn:aws:apigateway:{w.region}::{w.path}")]


def runtime_accesses(w: Wire) -> list[Access]:
    parts = w.path.split("/")
    name = parts[2] if len(parts) > 2 else ""
    return [Access("sagemaker:InvokeEndpoint",
                   f"arn:aws:sagemaker:{w.region}:{w.account}:endpoint/{name.lower()}")]


# --- query (IAM, STS) ---------------------------------------------------------------------------


def query_params(w: Wire) -> dict[str, str]:
    params = dict(parse_qsl((w.body or b"").decode("utf-8", "replace")))
    params.update(w.query)
    return params


def iam_accesses(params: Mapping[str, str], w: Wire) -> list[Access]:
    action = params.get("Action", "")
    if params.get("RoleName"):
        resource = f"arn:aws:iam::{w.account}:role/{params['RoleName']}"
    elif params.get("PolicyArn"):
        resource = params["PolicyArn"]
    elif params.get("PolicySourceArn"):
        resource = params["PolicySourceArn"]
    else:
        resource = "*"
    return [Access("iam:" + action, resource)]


def sts_accesses(params: Mapping[str, str], w: Wire) -> list[Access]:
    action = params.get("Action", "")
    if action == "GetCallerIdentity":
        return []  # AWS answers it whatever the policies say
    return [Access("sts:" + action, params.get("RoleArn", "*"),
                   {"sts:RoleSessionName": [params.get("RoleSessionName", "")]})]
