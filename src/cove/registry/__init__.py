"""The model registry: model package groups, their numbered versions, approval, and models
made from approved packages (CreateModel with ``ModelPackageName``)."""

from cove.registry._api import RegistryApi, render_group, render_package
from cove.registry._records import (
    ApprovalStatus,
    Container,
    GroupStatus,
    ModelPackage,
    ModelPackageGroup,
    PackageStatus,
)
from cove.registry._registry import ModelRegistry, NewPackage, Owner, PackageChange, artifact_check

__all__ = ["ApprovalStatus", "Container", "GroupStatus", "ModelPackage", "ModelPackageGroup",
           "ModelRegistry", "NewPackage", "Owner", "PackageChange", "PackageStatus",
           "RegistryApi", "artifact_check", "render_group", "render_package"]
