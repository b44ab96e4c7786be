"""Rows of ``model_package_groups`` and ``model_packages`` to records and back."""

from __future__ import annotations

from typing import Any

from cove.registry._records import (
    ApprovalStatus,
    Container,
    GroupStatus,
    ModelPackage,
    ModelPackageGroup,
    PackageStatus,
)


def group_row(group: ModelPackageGroup) -> dict[str, Any]:
    return {"name": group.name, "arn": group.arn, "creation_time": group.created,
            "status": group.status.value,
            "record": {"description": group.description, "created_by": dict(group.created_by)}}


def group_from_row(row: Any) -> ModelPackageGroup:
    record = row.record
    return ModelPackageGroup(row.name, row.arn, record["description"], row.creation_time,
                             record["created_by"], GroupStatus(row.status))


def package_row(package: ModelPackage) -> dict[str, Any]:
    return {
        "arn": package.arn, "name": package.name, "group_name": package.group,
        "version": package.version, "creation_time": package.created,
        "status": package.status.value,
        "approval": package.approval.value if package.approval else None,
        "record": {
            "modified": package.modified, "description": package.description,
            "approval_description": package.approval_description,
            "containers": [c.to_wire() for c in package.containers],
            "inference_options": dict(package.inference_options),
            "customer_metadata": dict(package.customer_metadata),
            "documents": dict(package.documents), "client_token": package.client_token},
    }


def package_from_row(row: Any) -> ModelPackage:
    record = row.record
    return ModelPackage(
        row.name, row.arn, row.group_name, row.version, row.creation_time, record["modified"],
        PackageStatus(row.status), ApprovalStatus(row.approval) if row.approval else None,
        record["description"], record["approval_description"],
        tuple(Container.from_wire(c) for c in record["containers"]),
        record["inference_options"], record["customer_metadata"], record["documents"],
        record.get("client_token", ""))
