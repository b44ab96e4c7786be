"""A notebook instance as a frozen record, and CreateNotebookInstance's rules.

The status is :class:`~cove.notebooks._lifecycle.NotebookInstanceStatus`; the record moves only
through :meth:`NotebookInstance.requested` (a Start/Stop/Delete request, from the statuses that
request allows) and :meth:`NotebookInstance.moved` (cove's own work), both along the lifecycle.
``config`` is what CreateNotebookInstance set (InstanceType, RoleArn, VolumeSizeInGB, ...),
with SageMaker's defaults filled in.  DescribeNotebookInstance's document is rendered from the
record by ``_rows.dump``, the one writer of the stored document too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.notebooks._lifecycle import NotebookInstanceStatus as Status
from cove.sagemaker import arn

#: Create parameters kept in the Describe document as given.
ECHOED = ("InstanceType", "RoleArn", "KmsKeyId", "SubnetId", "IpAddressType",
          "AcceleratorTypes", "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration")


@dataclass(frozen=True)
class NotebookInstance:
    name: str
    arn: str
    status: Status
    created: float
    modified: float
    #: CreateNotebookInstance's settings as Describe shows them (InstanceType, RoleArn, ...).
    config: Mapping[str, Any]
    url: str = ""  # while InService: where its JupyterLab listens
    failure_reason: str = ""

    @property
    def status_value(self) -> str:
        return self.status.value

    @property
    def role_arn(self) -> str:
        return str(self.config.get("RoleArn", ""))

    def touched(self, now: float) -> NotebookInstance:
        return replace(self, modified=now)

    def requested(self, to: Status, allowed: tuple[Status, ...]) -> NotebookInstance:
        """A request moves the instance: only from ``allowed``, only along its lifecycle.
        No request moves it to InService, so its URL and last failure go."""
        return replace(self, status=self.status.check(to, self.arn, allowed), url="",
                       failure_reason="")

    def moved(self, status: Status, url: str | None = None,
              failure: str | None = None) -> NotebookInstance:
        """cove's own work moves the instance, along its lifecycle (an illegal move raises);
        only an InService instance keeps a URL."""
        instance = replace(self, status=self.status.check(status, self.arn))
        if url is not None:
            instance = replace(instance, url=url)
        if status is not Status.IN_SERVICE:
            instance = replace(instance, url="")
        if failure is not None:
            instance = replace(instance, failure_reason=failure)
        return instance


def new_instance(params: dict[str, Any], region: str, account: str) -> NotebookInstance:
    """Validate a CreateNotebookInstance request and make the new (Pending) instance."""
    _check_supported(params)
    name = params["NotebookInstanceName"]
    config: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
    config.update({
        "DirectInternetAccess": params.get("DirectInternetAccess", "Enabled"),
        "VolumeSizeInGB": params.get("VolumeSizeInGB", 5),
        "RootAccess": params.get("RootAccess", "Enabled"),
        "PlatformIdentifier": params.get("PlatformIdentifier", "notebook-al2-v3"),
        "SecurityGroups": params.get("SecurityGroupIds", [])})
    now = time.time()
    return NotebookInstance(name, arn(region, account, "notebook-instance", name),
                            Status.PENDING, now, now, MappingProxyType(config))


def _check_supported(params: dict[str, Any]) -> None:
    if params.get("LifecycleConfigName"):
        raise errors.ValidationError(
            "Notebook instance lifecycle configurations are not supported by cove; leave "
            "LifecycleConfigName out and run set-up code from the notebook.")
    if params.get("DefaultCodeRepository"):
        raise errors.ValidationError(
            "DefaultCodeRepository is not supported by cove (an instance starts empty); leave "
            "it out and clone the repository from a terminal in JupyterLab.")
