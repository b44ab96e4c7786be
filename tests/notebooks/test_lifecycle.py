"""The notebook instance lifecycle: a request or cove's own work moves an instance only along
its allowed transitions, with SageMaker's message when it may not."""

from __future__ import annotations

import pytest

from cove import errors
from cove.notebooks import NotebookInstanceStatus as Status
from cove.notebooks._lifecycle import DELETE_FROM, START_FROM, STOP_FROM

ARN = "arn:aws:sagemaker:us-east-1:000000000000:notebook-instance/nb"


def test_requests_start_only_from_their_statuses() -> None:
    assert Status.STOPPED.check(Status.PENDING, ARN, START_FROM) is Status.PENDING
    assert Status.IN_SERVICE.check(Status.STOPPING, ARN, STOP_FROM) is Status.STOPPING
    with pytest.raises(errors.ValidationError) as err:
        Status.IN_SERVICE.check(Status.DELETING, ARN, DELETE_FROM)
    assert err.value.message == (
        f"Status (InService) not in ([Stopped, Failed]). Unable to transition to (Deleting) "
        f"for Notebook Instance ({ARN}).")
    with pytest.raises(errors.ValidationError):  # InService may become Pending (a restart)
        Status.IN_SERVICE.check(Status.PENDING, ARN, START_FROM)  # but Start may not do it


def test_cove_moves_an_instance_only_along_its_lifecycle() -> None:
    assert Status.STOPPING.check(Status.STOPPED, ARN) is Status.STOPPED
    for illegal in (Status.IN_SERVICE, Status.DELETING, Status.PENDING):
        with pytest.raises(errors.ValidationError, match=r"Status \(Stopping\) not in"):
            Status.STOPPING.check(illegal, ARN)
    assert not Status.DELETING.can_become(Status.IN_SERVICE)
    assert [s for s in Status if s.runs()] == [Status.PENDING, Status.IN_SERVICE,
                                              Status.STOPPING]
