"""The notebook-instance operations of the SageMaker API: each reads the request and calls
the service; Describe documents are rendered from the records by
:func:`describe_notebook_instance`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cove.notebooks._instances import NotebookInstances
from cove.notebooks._records import NotebookInstance
from cove.notebooks._rows import dump
from cove.sagemaker import Tags, matches_filters, paginate
from cove.wire import Call

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
        instance = self.instances.create(params, call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(instance.arn, params["Tags"])
        return {"NotebookInstanceArn": instance.arn}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_notebook_instance(self.instances.get(params["NotebookInstanceName"]))

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        for unsupported in ("NotebookInstanceLifecycleConfigNameContains",
                            "DefaultCodeRepositoryContains"):
            if params.get(unsupported):  # cove has neither: nothing can match
                return {"NotebookInstances": []}
        found = [d for d in map(describe_notebook_instance, self.instances.all())
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


def describe_notebook_instance(instance: NotebookInstance) -> dict[str, Any]:
    """DescribeNotebookInstance's document: the stored one (one writer, ``_rows``)."""
    return dump(instance)
