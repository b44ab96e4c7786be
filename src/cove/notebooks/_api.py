"""The notebook-instance operations of the SageMaker API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cove import errors
from cove.notebooks._instances import NotebookInstances
from cove.notebooks._lifecycle import NotebookInstanceStatus
from cove.sagemaker import Tags, arn, matches_filters, paginate
from cove.wire import Call

#: Create parameters kept in the Describe document as given.
ECHOED = ("InstanceType", "RoleArn", "KmsKeyId", "SubnetId", "IpAddressType",
          "AcceleratorTypes", "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration")
SUMMARY = ("NotebookInstanceName", "NotebookInstanceArn", "NotebookInstanceStatus", "Url",
           "InstanceType", "CreationTime", "LastModifiedTime")
SORT_KEYS = {"Name": "NotebookInstanceName", "CreationTime": "CreationTime",
             "Status": "NotebookInstanceStatus"}


class NotebookApi:
    def __init__(self, instances: NotebookInstances, tags: Tags) -> None:
        self.instances, self.tags = instances, tags
        tags.register(instances.rows.exists_arn)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {"CreateNotebookInstance": self.create,
                "DescribeNotebookInstance": self.describe,
                "ListNotebookInstances": self.list,
                "StartNotebookInstance": self.start,
                "StopNotebookInstance": self.stop,
                "DeleteNotebookInstance": self.delete,
                "CreatePresignedNotebookInstanceUrl": self.presigned_url}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        _check_supported(params)
        name = params["NotebookInstanceName"]
        now = time.time()
        describe: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
        describe.update({
            "NotebookInstanceName": name,
            "NotebookInstanceArn": arn(call.region, call.principal.account_id,
                                       "notebook-instance", name),
            "NotebookInstanceStatus": NotebookInstanceStatus.PENDING.value,
            "DirectInternetAccess": params.get("DirectInternetAccess", "Enabled"),
            "VolumeSizeInGB": params.get("VolumeSizeInGB", 5),
            "RootAccess": params.get("RootAccess", "Enabled"),
            "PlatformIdentifier": params.get("PlatformIdentifier", "notebook-al2-v3"),
            "SecurityGroups": params.get("SecurityGroupIds", []),
            "CreationTime": now, "LastModifiedTime": now,
        })
        self.instances.create(describe)
        if params.get("Tags"):
            self.tags.set(describe["NotebookInstanceArn"], params["Tags"])
        return {"NotebookInstanceArn": describe["NotebookInstanceArn"]}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.instances.describe(params["NotebookInstanceName"])

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        for unsupported in ("NotebookInstanceLifecycleConfigNameContains",
                            "DefaultCodeRepositoryContains"):
            if params.get(unsupported):  # cove has neither: nothing can match
                return {"NotebookInstances": []}
        found = [d for d in self.instances.all()
                 if matches_filters(d, params, "NotebookInstanceName", "NotebookInstanceStatus")
                 and params.get("AdditionalCodeRepositoryEquals") in
                 (None, *d.get("AdditionalCodeRepositories", []))]
        key = SORT_KEYS[params.get("SortBy", "Name")]
        found.sort(key=lambda d: (d[key], d["NotebookInstanceName"]),
                   reverse=params.get("SortOrder", "Ascending") == "Descending")
        page = paginate([{k: d[k] for k in SUMMARY if k in d} for d in found], params)
        return page.response("NotebookInstances")

    def start(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.instances.start(params["NotebookInstanceName"])
        return {}

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.instances.stop(params["NotebookInstanceName"])
        return {}

    def delete(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.instances.delete(params["NotebookInstanceName"])
        return {}

    def presigned_url(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"AuthorizedUrl": self.instances.authorized_url(params["NotebookInstanceName"])}


def _check_supported(params: dict[str, Any]) -> None:
    if params.get("LifecycleConfigName"):
        raise errors.ValidationError(
            "Notebook instance lifecycle configurations are not supported by cove; leave "
            "LifecycleConfigName out and run set-up code from the notebook.")
    if params.get("DefaultCodeRepository"):
        raise errors.ValidationError(
            "DefaultCodeRepository is not supported by cove (an instance starts empty); leave "
            "it out and clone the repository from a terminal in JupyterLab.")
