"""Notebook instances as stored: the ``describe`` column of ``notebook_instances`` keeps the
layout earlier versions wrote (DescribeNotebookInstance's document), so existing databases
read unchanged.  :func:`dump` is the one writer of that document: the row and the API's
Describe get the same one."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from cove.notebooks._lifecycle import NotebookInstanceStatus
from cove.notebooks._records import NotebookInstance

#: Members of the stored document that are the record's own fields, not its settings.
_STATE = frozenset({"NotebookInstanceName", "NotebookInstanceArn", "NotebookInstanceStatus",
                    "CreationTime", "LastModifiedTime", "Url", "FailureReason"})


def load(doc: dict[str, Any]) -> NotebookInstance:
    return NotebookInstance(
        name=doc["NotebookInstanceName"], arn=doc["NotebookInstanceArn"],
        status=NotebookInstanceStatus(doc["NotebookInstanceStatus"]),
        created=doc["CreationTime"], modified=doc.get("LastModifiedTime", doc["CreationTime"]),
        config=MappingProxyType({k: v for k, v in doc.items() if k not in _STATE}),
        url=doc.get("Url", ""), failure_reason=doc.get("FailureReason", ""))


def dump(instance: NotebookInstance) -> dict[str, Any]:
    """DescribeNotebookInstance's document (and the stored one)."""
    doc: dict[str, Any] = {
        **instance.config, "NotebookInstanceName": instance.name,
        "NotebookInstanceArn": instance.arn, "NotebookInstanceStatus": instance.status.value,
        "CreationTime": instance.created, "LastModifiedTime": instance.modified}
    if instance.url:
        doc["Url"] = instance.url
    if instance.failure_reason:
        doc["FailureReason"] = instance.failure_reason
    return doc
