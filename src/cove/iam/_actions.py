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


# --- S3 ---------------------------------------------------------------------------------------

#: Bucket subresource -> IAM action name per method.
_BUCKET_SUBRESOURCES = {
    "location": {"GET": "GetBucketLocation"},
    "versioning": {"GET": "GetBucketVersioning", "PUT": "PutBucketVersioning"},
    "website": {"GET": "GetBucketWebsite", "PUT": "PutBucketWebsite",
                "DELETE": "DeleteBucketWebsite"},
    "uploads": {"GET": "ListBucketMultipartUploads"},
    "delete": {"POST": "DeleteObject"},
    "acl": {"GET": "GetBucketAcl", "PUT": "PutBucketAcl"},
    # DeletePublicAccessBlock is authorized as s3:PutBucketPublicAccessBlock on AWS
    "publicAccessBlock": {"GET": "GetBucketPublicAccessBlock",
                          "PUT": "PutBucketPublicAccessBlock",
                          "DELETE": "PutBucketPublicAccessBlock"},
    "versions": {"GET": "ListBucketVersions"},
}
_BUCKET_PLAIN = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket",
                 "DELETE": "DeleteBucket"}
_OBJECT_SUBRESOURCES = {"tagging": "{verb}ObjectTagging", "acl": "{verb}ObjectAcl",
                        "attributes": "GetObjectAttributes"}


def s3_accesses(w: Wire) -> list[Access]:
    bucket, _, key = w.path.lstrip("/").partition("/")
    if not bucket:
        return [Access("s3:ListAllMyBuckets", "*")]
    if not key:
        return [_s3_bucket(w, bucket)]
    target = f"arn:aws:s3:::{bucket}/{key}"
    accesses = [Access("s3:" + _s3_object_action(w), target)]
    source = w.headers.get("x-amz-copy-source")
    if source and w.method == "PUT":
        path = unquote(source.split("?", 1)[0]).lstrip("/")
        accesses.append(Access("s3:GetObject", f"arn:aws:s3:::{path}"))
    return accesses


def _s3_bucket(w: Wire, bucket: str) -> Access:
    arn = f"arn:aws:s3:::{bucket}"
    for sub, actions in _BUCKET_SUBRESOURCES.items():
        if sub in w.query:
            action = actions.get(w.method, f"{w.method.title()}Bucket{sub.title()}")
            # DeleteObjects names its keys in a streamed body: it needs DeleteObject on all
            return Access("s3:" + action, arn + "/*" if sub == "delete" else arn)
    action = _BUCKET_PLAIN.get(w.method, "ListBucket")
    if action != "ListBucket" or w.method == "HEAD":
        return Access("s3:" + action, arn)
    context = {"s3:prefix": [w.query.get("prefix", "")]}
    for name in ("delimiter", "max-keys"):
        if name in w.query:
            context["s3:" + name] = [w.query[name]]
    return Access("s3:ListBucket", arn, context)


def _s3_object_action(w: Wire) -> str:
    for sub, template in _OBJECT_SUBRESOURCES.items():
        if sub in w.query:
            return template.format(verb="Get" if w.method in ("GET", "HEAD") else
                                   "Delete" if w.method == "DELETE" else "Put")
    if "uploadId" in w.query:
        return {"GET": "ListMultipartUploadParts", "DELETE": "AbortMultipartUpload"}.get(
            w.method, "PutObject")
    if "versionId" in w.query:  # a version by id is its own permission, as on S3
        return {"GET": "GetObjectVersion", "HEAD": "GetObjectVersion",
                "DELETE": "DeleteObjectVersion"}.get(w.method, "PutObject")
    return {"GET": "GetObject", "HEAD": "GetObject", "DELETE": "DeleteObject"}.get(
        w.method, "PutObject")


# --- JSON 1.1 (SageMaker, CloudWatch Logs, cove) -----------------------------------------------

#: SageMaker request members that name the operation's resource, by the noun in the operation.
_SAGEMAKER_NOUNS = {
    "TrainingJob": "training-job", "HyperParameterTuningJob": "hyper-parameter-tuning-job",
    "Model": "model", "EndpointConfig": "endpoint-config", "Endpoint": "endpoint",
    "TransformJob": "transform-job", "NotebookInstance": "notebook-instance",
    "ProcessingJob": "processing-job", "Pipeline": "pipeline",
    "ModelPackageGroup": "model-package-group", "Experiment": "experiment",
    "NotebookInstanceLifecycleConfig": "notebook-instance-lifecycle-config",
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
    nouns = [n for n in _SAGEMAKER_NOUNS if n in operation and f"{n}Name" in params]
    if operation in ("AddTags", "DeleteTags", "ListTags"):
        resource = str(params.get("ResourceArn", "*"))
    elif nouns:
        noun = max(nouns, key=len)
        resource = (f"arn:aws:sagemaker:{w.region}:{w.account}:{_SAGEMAKER_NOUNS[noun]}/"
                    f"{str(params[noun + 'Name']).lower()}")
    else:
        resource = "*"
    accesses = [Access("sagemaker:" + operation, resource)]
    fields = ROLE_FIELDS["sagemaker"].get(operation)
    for role in roles_named("sagemaker", operation, params):
        assert fields is not None
        accesses.append(Access("iam:PassRole", role, {"iam:PassedToService": [fields[1]]}))
    return accesses


def logs_accesses(operation: str, params: Mapping[str, Any], w: Wire) -> list[Access]:
    group = params.get("logGroupName")
    if not isinstance(group, str) or not group:
        return [Access("logs:" + operation, "*")]
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
    name = str(params.get("FunctionName", ""))
    resource = (name if name.startswith("arn:") else
                f"arn:aws:lambda:{w.region}:{w.account}:function:{name}") if name else "*"
    action = "lambda:" + {"Invoke": "InvokeFunction"}.get(operation, operation)
    accesses = [Access(action, resource)]
    for role in roles_named("lambda", operation, params):
        accesses.append(Access("iam:PassRole", role,
                               {"iam:PassedToService": ["lambda.amazonaws.com"]}))
    return accesses


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
