"""The model registry's records: model package groups and the versioned packages in them.

Records are frozen; every change makes a new one (``dataclasses.replace``) inside a write
transaction.  Lifecycles are enums with their allowed transitions, so a status is never a
bare string in the code that decides.  What SageMaker's Describe calls return is rendered from
a record at the API seam (``_api.py``), never stored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cove import errors


class ApprovalStatus(enum.Enum):
    """``ModelApprovalStatus``: whether a version may be deployed."""

    APPROVED = "Approved"
    REJECTED = "Rejected"
    PENDING = "PendingManualApproval"

    @classmethod
    def parse(cls, value: object) -> ApprovalStatus:
        for status in cls:
            if status.value == value:
                return status
        allowed = ", ".join(s.value for s in cls)
        raise errors.ValidationError(
            f"Value {value!r} at 'modelApprovalStatus' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{allowed}]")


class PackageStatus(enum.Enum):
    """``ModelPackageStatus``.  cove validates a package when it is created (its artifact must
    exist), so a package is Completed as soon as CreateModelPackage answers, or refused."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    DELETING = "Deleting"

    def is_usable(self) -> bool:
        return self is PackageStatus.COMPLETED


class GroupStatus(enum.Enum):
    """``ModelPackageGroupStatus``."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ModelPackageGroup:
    name: str
    arn: str
    description: str
    created: float
    created_by: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))
    status: GroupStatus = GroupStatus.COMPLETED


@dataclass(frozen=True)
class Container:
    """One ``InferenceSpecification.Containers`` entry: what a model made from the package runs."""

    image: str
    model_data_url: str
    environment: Mapping[str, str]
    extra: Mapping[str, Any]  # members cove keeps and returns unread (Framework, NearestModelName…)

    @classmethod
    def from_wire(cls, doc: Mapping[str, Any]) -> Container:
        known = {"Image", "ModelDataUrl", "Environment"}
        return cls(str(doc.get("Image", "")), str(doc.get("ModelDataUrl", "")),
                   _frozen(doc.get("Environment")),
                   _frozen({k: v for k, v in doc.items() if k not in known}))

    def to_wire(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Image": self.image, **self.extra}
        if self.model_data_url:
            doc["ModelDataUrl"] = self.model_data_url
        if self.environment:
            doc["Environment"] = dict(self.environment)
        return doc


@dataclass(frozen=True)
class ModelPackage:
    """A model package: a version in a group (``group`` and ``version`` set) or, without a
    group, an unversioned package known by its own name."""

    name: str
    arn: str
    group: str | None
    version: int | None
    created: float
    modified: float
    status: PackageStatus
    approval: ApprovalStatus | None  # versions only (unversioned packages have none)
    description: str
    approval_description: str
    containers: tuple[Container, ...]
    #: The InferenceSpecification's other members (content types, instance types).
    inference_options: Mapping[str, Any]
    customer_metadata: Mapping[str, str]
    #: Sub-documents SageMaker stores and returns as given: ModelMetrics, MetadataProperties,
    #: DriftCheckBaselines, Domain, Task, SamplePayloadUrl, SourceUri, ...
    documents: Mapping[str, Any]
    #: CreateModelPackage's idempotency token: the same token creates no second package.
    client_token: str = ""

    @property
    def versioned(self) -> bool:
        return self.group is not None

    def deployable(self) -> bool:
        """SageMaker deploys a versioned package only once it is approved."""
        return self.status.is_usable() and (
            not self.versioned or self.approval is ApprovalStatus.APPROVED)
