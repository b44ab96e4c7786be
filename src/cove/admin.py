"""cove's own signed API (``X-Amz-Target: Cove.<Operation>``, signing name ``cove``): what the
CLI shows that AWS's APIs do not carry.  The CLI reads every piece of state through the running
server, here or through the AWS APIs, never from the database itself.
"""

from __future__ import annotations

from typing import Any

from cove.executors import Executor, Sandbox, describe
from cove.hosting import Endpoints
from cove.identity import Account, Identity
from cove.objects import LocalObjectStore
from cove.transform import TransformJobs
from cove.wire import Call, Handler, JsonService


class AdminApi:
    def __init__(self, executor: Executor, sandbox: Sandbox, store: LocalObjectStore,
                 endpoints: Endpoints, transforms: TransformJobs, identity: Identity) -> None:
        self.executor, self.sandbox, self.store = executor, sandbox, store
        self.endpoints, self.transforms = endpoints, transforms
        self.identity = identity

    def service(self) -> JsonService:
        return JsonService("cove", "Cove", self.operations())

    def operations(self) -> dict[str, Handler]:
        return {"DescribeExecutor": self.describe_executor,
                "DescribeObjectStore": self.describe_object_store,
                "ListEndpointUsage": self.list_endpoint_usage,
                "ListTransformProgress": self.list_transform_progress,
                "CreateAccount": self.create_account,
                "ListAccounts": self.list_accounts}

    def create_account(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        """Another account that may sign S3 requests only (the key's secret is shown once)."""
        account, creds = self.identity.create_account(str(params.get("Name", "")))
        return {**_account(account), "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key}

    def list_accounts(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"Accounts": [_account(a) for a in self.identity.accounts()]}

    def describe_executor(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        """The executor and, on Ray, its nodes; the sandbox.  Not in the unsigned health
        answer: node addresses are the caller's business only, and asking Ray takes a round
        trip that health polls should not pay."""
        return {**self.executor.describe(), "sandbox": describe(self.sandbox)}

    def describe_object_store(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        """Buckets, objects, their bytes and open multipart uploads."""
        stats = self.store.stats()
        return {"Buckets": stats["buckets"], "Objects": stats["objects"],
                "Bytes": stats["bytes"], "MultipartUploads": stats["uploads"]}

    def list_endpoint_usage(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"Endpoints": [{"EndpointName": name, "Invocations": calls,
                               "LastInvocation": last}
                              for name, (calls, last) in sorted(self.endpoints.usage().items())]}

    def list_transform_progress(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"TransformJobs": [
            {"TransformJobName": name, "RecordsDone": p.records_done,
             "RecordsTotal": p.records_total, "ObjectsDone": p.objects_done,
             "ObjectsTotal": p.objects_total}
            for name, p in sorted(self.transforms.progress_of_all().items())]}


def _account(account: Account) -> dict[str, Any]:
    return {"Name": account.name, "AccountId": account.account_id,
            "CanonicalUserId": account.canonical_id}
