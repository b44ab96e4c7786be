"""The model registry's rules: groups hold numbered versions; a version is deployable once
approved; a group with versions in it cannot be deleted.

Rows keep the columns lists filter and sort on, and the record itself as JSON; ``_rows``
converts between the two so the rest of the package sees only records.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cove import errors
from cove.meta import Database
from cove.meta.tables import model_package_groups, model_packages
from cove.objects import LocalObjectStore
from cove.registry._records import (
    ApprovalStatus,
    Container,
    ModelPackage,
    ModelPackageGroup,
    PackageStatus,
)
from cove.registry._rows import group_from_row, group_row, package_from_row, package_row
from cove.sagemaker import arn, parse_s3_uri

#: Checks that a container's artifact can be read (raises ValidationError if not).
ArtifactCheck = Callable[[str], None]


def artifact_check(store: LocalObjectStore) -> ArtifactCheck:
    """Model data in cove's own store must exist; other URLs (https://…) are checked when a
    model is created from the package."""
    def check(uri: str) -> None:
        if not uri.startswith("s3://"):
            return
        bucket, key = parse_s3_uri(uri, "ModelDataUrl")
        try:
            store.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
            raise errors.ValidationError(f"Could not access model data at {uri}: the object "
                                         "does not exist.") from exc
    return check


@dataclass(frozen=True)
class Owner:
    """Where a new resource lives: its ARN's region and account."""

    region: str
    account: str


@dataclass(frozen=True)
class NewPackage:
    """What CreateModelPackage asks for, already read off the wire."""

    name: str | None
    group: str | None
    description: str
    approval: ApprovalStatus | None
    containers: tuple[Container, ...]
    inference_options: Mapping[str, Any]
    customer_metadata: Mapping[str, str]
    documents: Mapping[str, Any]
    client_token: str = ""


@dataclass(frozen=True)
class PackageChange:
    """What UpdateModelPackage asks for; ``None`` leaves a field as it is."""

    approval: ApprovalStatus | None = None
    approval_description: str | None = None
    customer_metadata: Mapping[str, str] | None = None
    remove_metadata: tuple[str, ...] = ()
    containers: tuple[Container, ...] | None = None
    inference_options: Mapping[str, Any] | None = None
    documents: Mapping[str, Any] | None = None


class ModelRegistry:
    def __init__(self, db: Database, check_artifact: ArtifactCheck,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.check_artifact, self.clock = db, check_artifact, clock

    # --- groups -----------------------------------------------------------------------------

    def create_group(self, name: str, description: str, owner: Owner) -> ModelPackageGroup:
        group = ModelPackageGroup(name, arn(owner.region, owner.account, "model-package-group",
                                            name), description, self.clock())
        with self.db.write() as conn:
            if self._group_row(conn, name) is not None:
                raise errors.ValidationError(
                    f"Model Package Group already exists: {group.arn}")
            conn.execute(insert(model_package_groups).values(**group_row(group)))
        return group

    def group(self, name_or_arn: str) -> ModelPackageGroup:
        with self.db.read() as conn:
            row = self._group_row(conn, _last_name(name_or_arn))
        if row is None:
            raise _missing_group(name_or_arn)
        return group_from_row(row)

    def groups(self) -> list[ModelPackageGroup]:
        with self.db.read() as conn:
            return [group_from_row(r) for r in conn.execute(select(model_package_groups))]

    def delete_group(self, name_or_arn: str) -> ModelPackageGroup:
        group = self.group(name_or_arn)
        with self.db.write() as conn:
            count = conn.execute(select(func.count()).select_from(model_packages).where(
                model_packages.c.group_name == group.name)).scalar()
            if count:
                raise errors.Conflict(
                    f"Model Package Group {group.name} has {count} model package version(s); "
                    "delete them (DeleteModelPackage) before the group.")
            conn.execute(delete(model_package_groups).where(
                model_package_groups.c.name == group.name))
        return group

    # --- packages ---------------------------------------------------------------------------

    def create_package(self, new: NewPackage, owner: Owner) -> ModelPackage:
        if (new.name is None) == (new.group is None):
            raise errors.ValidationError(
                "Specify exactly one of ModelPackageName (an unversioned package) and "
                "ModelPackageGroupName (a new version in that group).")
        for container in new.containers:
            if container.model_data_url:
                self.check_artifact(container.model_data_url)
        with self.db.write() as conn:
            made = self._made_with(conn, new)
            if made is not None:  # the same request again (a client's or a step's retry)
                return made
            package = self._new_package(conn, new, owner)
            conn.execute(insert(model_packages).values(**package_row(package)))
        return package

    def package(self, name_or_arn: str) -> ModelPackage:
        with self.db.read() as conn:
            row = self._package_row(conn, name_or_arn)
        if row is None:
            raise _missing_package(name_or_arn)
        return package_from_row(row)

    def packages(self) -> list[ModelPackage]:
        with self.db.read() as conn:
            return [package_from_row(r) for r in conn.execute(select(model_packages))]

    def update_package(self, package_arn: str, change: PackageChange) -> ModelPackage:
        with self.db.write() as conn:
            row = self._package_row(conn, package_arn)
            if row is None:
                raise _missing_package(package_arn)
            package = _apply(package_from_row(row), change, self.clock())
            conn.execute(update(model_packages).where(model_packages.c.arn == package.arn)
                         .values(**package_row(package)))
        return package

    def delete_package(self, name_or_arn: str) -> ModelPackage:
        package = self.package(name_or_arn)
        with self.db.write() as conn:
            conn.execute(delete(model_packages).where(model_packages.c.arn == package.arn))
        return package

    def deployable(self, name_or_arn: str) -> ModelPackage:
        """The package a model is created from (``ModelPackageName`` in its container)."""
        package = self.package(name_or_arn)
        if not package.containers:
            raise errors.ValidationError(
                f"Model package {package.arn} has no InferenceSpecification: there is nothing "
                "to deploy.")
        if not package.deployable():
            raise errors.ValidationError(
                f"Model package {package.arn} is {_approval(package)}: "
                "only an Approved version can be deployed; approve it with "
                "UpdateModelPackage(ModelApprovalStatus='Approved').")
        return package

    # --- inside transactions ----------------------------------------------------------------

    @staticmethod
    def _made_with(conn: Connection, new: NewPackage) -> ModelPackage | None:
        """The package an earlier CreateModelPackage with the same ClientToken made in the
        same group (or among unversioned packages): a group's versions are few, so they are
        read rather than indexed."""
        if not new.client_token:
            return None
        where = (model_packages.c.group_name.is_(None) if new.group is None else
                 func.lower(model_packages.c.group_name) == _last_name(new.group).lower())
        for row in conn.execute(select(model_packages).where(where)):
            if row.record.get("client_token") == new.client_token:
                return package_from_row(row)
        return None

    def _new_package(self, conn: Connection, new: NewPackage, owner: Owner) -> ModelPackage:
        approval = new.approval
        if new.group is not None:
            group = self._group_row(conn, _last_name(new.group))
            if group is None:
                raise _missing_group(new.group)
            version: int | None = 1 + (conn.execute(select(func.max(model_packages.c.version))
                                                    .where(model_packages.c.group_name ==
                                                           group.name)).scalar() or 0)
            name, group_name = group.name, group.name
            package_arn = arn(owner.region, owner.account, "model-package",
                              f"{group.name}/{version}")
            approval = approval or ApprovalStatus.PENDING
        else:
            assert new.name is not None
            name, group_name, version = new.name, None, None
            package_arn = arn(owner.region, owner.account, "model-package", name)
            if conn.execute(select(model_packages.c.arn).where(
                    model_packages.c.arn == package_arn)).first():
                raise errors.Conflict(f"Model package {package_arn} already exists.")
        now = self.clock()
        return ModelPackage(name, package_arn, group_name, version, now, now,
                            PackageStatus.COMPLETED, approval, new.description, "",
                            new.containers, new.inference_options, new.customer_metadata,
                            new.documents, new.client_token)

    @staticmethod
    def _group_row(conn: Connection, name: str) -> Any:
        return conn.execute(select(model_package_groups).where(
            func.lower(model_package_groups.c.name) == name.lower())).first()

    @staticmethod
    def _package_row(conn: Connection, name_or_arn: str) -> Any:
        c = model_packages.c
        if name_or_arn.startswith("arn:"):  # cove's ARNs carry lower-cased names
            return conn.execute(select(model_packages).where(
                c.arn == name_or_arn.lower())).first()
        return conn.execute(select(model_packages).where(
            c.name == name_or_arn, c.version.is_(None))).first()


def _apply(package: ModelPackage, change: PackageChange, now: float) -> ModelPackage:
    metadata = dict(package.customer_metadata)
    metadata.update(change.customer_metadata or {})
    for key in change.remove_metadata:
        metadata.pop(key, None)
    documents = {**package.documents, **(change.documents or {})}
    return dataclasses.replace(
        package, modified=now,
        approval=change.approval or package.approval,
        approval_description=(package.approval_description if change.approval_description
                              is None else change.approval_description),
        customer_metadata=metadata, documents=documents,
        containers=package.containers if change.containers is None else change.containers,
        inference_options=(package.inference_options if change.inference_options is None
                           else change.inference_options))


def _last_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _approval(package: ModelPackage) -> str:
    return package.approval.value if package.approval else "not approved"


def _missing_group(name: str) -> errors.ValidationError:
    return errors.ValidationError(f"Could not find model package group '{name}'.")


def _missing_package(name: str) -> errors.ValidationError:
    return errors.ValidationError(f"Could not find model package '{name}'.")
