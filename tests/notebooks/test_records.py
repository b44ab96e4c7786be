"""Notebook instance records: every move of the lifecycle is allowed or refused as drawn in
``_lifecycle.py``, requests clear the URL and the last failure, and an instance stored before
records reads back as a record that renders the same Describe document."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from cove import errors
from cove.meta import Database
from cove.meta.tables import notebook_instances
from cove.notebooks import NotebookInstanceStatus as S
from cove.notebooks import describe_notebook_instance
from cove.notebooks._lifecycle import DELETE_FROM, START_FROM, STOP_FROM
from cove.notebooks._records import new_instance
from cove.notebooks._rows import dump, load
from cove.sagemaker import RecordRows

ARN = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/nb"
MOVES = {(S.PENDING, S.IN_SERVICE), (S.PENDING, S.FAILED), (S.PENDING, S.PENDING),
         (S.IN_SERVICE, S.STOPPING), (S.IN_SERVICE, S.FAILED), (S.IN_SERVICE, S.PENDING),
         (S.STOPPING, S.STOPPED), (S.STOPPING, S.FAILED),
         (S.STOPPED, S.PENDING), (S.STOPPED, S.DELETING),
         (S.FAILED, S.PENDING), (S.FAILED, S.DELETING),
         (S.DELETING, S.FAILED), (S.UPDATING, S.STOPPED), (S.UPDATING, S.FAILED)}
#: An InService instance as cove stored it before records.
STORED: dict[str, Any] = {
    "InstanceType": "ml.t3.medium", "RoleArn": "arn:aws:iam::123456789012:role/R",
    "NotebookInstanceName": "nb", "NotebookInstanceArn": ARN,
    "NotebookInstanceStatus": "InService", "DirectInternetAccess": "Enabled",
    "VolumeSizeInGB": 5, "RootAccess": "Enabled", "PlatformIdentifier": "notebook-al2-v3",
    "SecurityGroups": [], "CreationTime": 1000.0, "LastModifiedTime": 1010.0,
    "Url": "127.0.0.1:8888"}


@pytest.mark.parametrize("before", list(S))
@pytest.mark.parametrize("after", list(S))
def test_cove_moves_an_instance_only_along_its_lifecycle(before: S, after: S) -> None:
    instance = _instance(before, FailureReason="earlier")
    if (before, after) in MOVES:
        moved = instance.moved(after, failure="why" if after is S.FAILED else None)
        assert moved.status is after
        assert moved.url == ("127.0.0.1:8888" if after is S.IN_SERVICE else "")
        assert moved.failure_reason == ("why" if after is S.FAILED else "earlier")
    else:
        with pytest.raises(errors.ValidationError, match=f"Status \\({before.value}\\)"):
            instance.moved(after)


@pytest.mark.parametrize("before", list(S))
@pytest.mark.parametrize(("to", "allowed"), [(S.PENDING, START_FROM), (S.STOPPING, STOP_FROM),
                                             (S.DELETING, DELETE_FROM)])
def test_requests_move_an_instance_only_from_their_statuses(
        before: S, to: S, allowed: tuple[S, ...]) -> None:
    instance = _instance(before, FailureReason="earlier")
    if before in allowed:
        moved = instance.requested(to, allowed)
        assert (moved.status, moved.url, moved.failure_reason) == (to, "", "")
    else:
        with pytest.raises(errors.ValidationError, match="Unable to transition to"):
            instance.requested(to, allowed)


def test_create_refuses_what_cove_lacks_and_fills_in_defaults() -> None:
    with pytest.raises(errors.ValidationError, match="LifecycleConfigName"):
        new_instance({"NotebookInstanceName": "nb", "LifecycleConfigName": "x"}, "r", "1")
    instance = new_instance({"NotebookInstanceName": "nb", "InstanceType": "ml.t3.medium",
                             "RoleArn": "role", "SecurityGroupIds": ["sg"]}, "us-east-1",
                            "123456789012")
    assert (instance.status, instance.arn, instance.role_arn) == (S.PENDING, ARN, "role")
    doc = describe_notebook_instance(instance)
    assert (doc["VolumeSizeInGB"], doc["SecurityGroups"], "Url" in doc) == (5, ["sg"], False)


def test_a_row_stored_before_records_reads_back_unchanged(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    with db.write() as conn:
        conn.execute(insert(notebook_instances).values(
            name="nb", arn=ARN, status="InService", creation_time=1000.0,
            last_modified=1010.0, describe=STORED, token="t"))
    rows = RecordRows(db, notebook_instances, "notebook instance", load, dump)
    instance = rows.get("nb")
    assert (instance.status, instance.url, instance.role_arn) == (
        S.IN_SERVICE, "127.0.0.1:8888", STORED["RoleArn"])
    assert describe_notebook_instance(instance) == STORED
    stopped = rows.change("nb", lambda i: i.requested(S.STOPPING, STOP_FROM))
    assert describe_notebook_instance(rows.get("nb")) == {
        **{k: v for k, v in STORED.items() if k != "Url"},
        "NotebookInstanceStatus": "Stopping", "LastModifiedTime": stopped.modified}


def _instance(status: S, **extra: Any) -> Any:
    doc = copy.deepcopy(STORED)
    doc.update(NotebookInstanceStatus=status.value, **extra)
    return load(doc)
