"""What authorising one request costs at the edge: the policy check for a non-root key.

Runs in-process on a temporary metadata database: a role with the default policy and a narrow
role (inline policy + an attached AWS-managed policy), then times ``Authorizer`` on the request
shapes of the hot paths (S3 GetObject and ListObjectsV2 with a prefix, SageMaker
DescribeTrainingJob, InvokeEndpoint) and the bare policy evaluation.  Prints µs per check
(CPU time, median of five rounds).  Target: ≤ 50 µs.

    .venv/bin/python bench/authorization.py [--checks N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request

from cove.config import Credentials
from cove.hosting import RuntimeService
from cove.iam import DEFAULT_ROLE_NAME, Roles, evaluate
from cove.iam._authorizer import Authorizer
from cove.identity import Identity
from cove.meta import Database
from cove.objects import S3Service
from cove.wire import Body, Call, JsonService, QueryService

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
NARROW = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"},
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/output/*"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
     "Condition": {"StringLike": {"s3:prefix": ["train/*", "output/*"]}}},
    {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    {"Effect": "Allow", "Action": "sagemaker:Describe*",
     "Resource": "arn:aws:sagemaker:*:*:training-job/*"},
    {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"}]})


def request(method: str, path: str, query: str = "", headers: dict[str, str] | None = None
            ) -> Request:
    return Request({"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                    "query_string": query.encode(), "scheme": "http", "server": ("h", 1),
                    "headers": [(k.lower().encode(), v.encode())
                                for k, v in (headers or {}).items()]})


def timed(check: Callable[[], object], n: int) -> float:
    """CPU µs per call (process time: the machine may be shared; waiting is not cost)."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            check()
        rounds.append((time.process_time() - start) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'cove.db'}", migrate=True)
        roles = Roles(db, ACCOUNT)
        roles.ensure_default()
        roles.create_role("narrow", TRUST)
        roles.put_role_policy("narrow", "p", NARROW)
        roles.attach("narrow", "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess")
        identity = Identity(db, Credentials("AKIAROOT", "s" * 40, ACCOUNT), roles)
        authorize = Authorizer(identity, roles)
        s3 = S3Service.__new__(S3Service)
        sagemaker = JsonService("sagemaker", "SageMaker", {})
        runtime = RuntimeService.__new__(RuntimeService)
        _ = QueryService
        rows = []
        for role in (DEFAULT_ROLE_NAME, "narrow"):
            creds = identity.issue(f"bench:{role}", f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                   "bench")
            principal = identity.lookup(creds.access_key_id)
            assert principal is not None

            def call(req: Request, body: bytes = b"") -> Call:
                return Call(req, principal, "us-east-1", "id", Body.of(body))  # noqa: B023

            describe = json.dumps({"TrainingJobName": "job-1"}).encode()
            cases = {
                "S3 GetObject": (call(request("GET", "/data/train/a.csv")), s3, None),
                "S3 ListObjectsV2 prefix": (call(request(
                    "GET", "/data", "list-type=2&prefix=train/&delimiter=/")), s3, None),
                "SageMaker DescribeTrainingJob": (call(request(
                    "POST", "/", headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob"}),
                    describe), sagemaker, describe),
                "InvokeEndpoint": (call(request("POST", "/endpoints/ep/invocations")),
                                   runtime, None),
            }
            for label, (c, service, body) in cases.items():
                authorize(c, service, body)  # warm: policies compiled and cached
                rows.append((role, label, timed(lambda c=c, s=service, b=body:  # type: ignore[misc]
                                                authorize(c, s, b), args.checks)))
            if role == DEFAULT_ROLE_NAME:  # cove's own key: the check is skipped at once
                root = identity.lookup("AKIAROOT")
                assert root is not None
                get = Call(request("GET", "/data/train/a.csv"), root, "us-east-1", "id",
                           Body.of(b""))
                rows.append(("root key", "S3 GetObject", timed(
                    lambda: authorize(get, s3, None), args.checks)))  # noqa: B023
            policies = roles.policies_of(role)
            rows.append((role, "evaluate() alone, GetObject", timed(
                lambda p=policies: evaluate(p, "s3:GetObject",  # type: ignore[misc]
                                            "arn:aws:s3:::data/train/a.csv", {}), args.checks)))
        db.close()
    print(f"{'role':<20} {'request':<32} {'µs/check':>9}")
    for role, label, micros in rows:
        print(f"{role:<20} {label:<32} {micros:>9.1f}")
    worst = max(m for _, _, m in rows)
    print(f"worst: {worst:.1f} µs per check (target ≤ 50 µs): "
          f"{'OK' if worst <= 50 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
