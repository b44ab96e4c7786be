"""The model registry in the SageMaker API: reads requests into the registry's terms and
renders its records as SageMaker's Describe, List and Search documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cove import errors
from cove.registry._records import ApprovalStatus, Container, ModelPackage, ModelPackageGroup
from cove.registry._registry import ModelRegistry, NewPackage, Owner, PackageChange
from cove.sagemaker import Tags, matches_filters, paginate
from cove.sagemaker._search import Search
from cove.wire import Call

#: CreateModelPackage members cove keeps and returns as given.
_DOCUMENTS = ("ModelMetrics", "MetadataProperties", "DriftCheckBaselines", "Domain", "Task",
              "SamplePayloadUrl", "SourceUri", "CertifyForMarketplace", "ValidationSpecification",
              "SourceAlgorithmSpecification", "AdditionalInferenceSpecifications",
              "SkipModelValidation", "ModelCard", "ModelLifeCycle", "SecurityConfig",
              "ModelPackageRegistrationType")
_UPDATABLE_DOCUMENTS = ("SourceUri", "ModelCard", "ModelLifeCycle",
                        "ModelPackageRegistrationType")


class RegistryApi:
    def __init__(self, registry: ModelRegistry, tags: Tags, search: Search) -> None:
        self.registry, self.tags = registry, tags
        tags.register(self._exists)
        search.register("ModelPackageGroup", self._search_groups)
        search.register("ModelPackage", self._search_packages)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {
            "CreateModelPackageGroup": self.create_group,
            "DescribeModelPackageGroup": self.describe_group,
            "ListModelPackageGroups": self.list_groups,
            "DeleteModelPackageGroup": self.delete_group,
            "CreateModelPackage": self.create_package,
            "DescribeModelPackage": self.describe_package,
            "ListModelPackages": self.list_packages,
            "UpdateModelPackage": self.update_package,
            "DeleteModelPackage": self.delete_package,
        }

    # --- groups -----------------------------------------------------------------------------

    def create_group(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group = self.registry.create_group(params["ModelPackageGroupName"],
                                           params.get("ModelPackageGroupDescription", ""),
                                           _owner(call))
        self._tag(group.arn, params)
        return {"ModelPackageGroupArn": group.arn}

    def describe_group(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return render_group(self.registry.group(params["ModelPackageGroupName"]))

    def list_groups(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        docs = [render_group(g) for g in self.registry.groups()]
        docs = [d for d in docs if matches_filters(d, params, "ModelPackageGroupName",
                                                   "ModelPackageGroupStatus")]
        _sort(docs, params, "ModelPackageGroupName")
        return paginate(docs, params).response("ModelPackageGroupSummaryList")

    def delete_group(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group = self.registry.delete_group(params["ModelPackageGroupName"])
        self.tags.forget(group.arn)
        return {}

    # --- packages ---------------------------------------------------------------------------

    def create_package(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        package = self.registry.create_package(_new_package(params), _owner(call))
        self._tag(package.arn, params)
        return {"ModelPackageArn": package.arn}

    def describe_package(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return render_package(self.registry.package(params["ModelPackageName"]))

    def list_packages(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        wanted = _package_filter(params)
        docs = [_summary(p) for p in self.registry.packages() if wanted(p)]
        docs = [d for d in docs if matches_filters(d, params, "ModelPackageName",
                                                   "ModelPackageStatus")]
        _sort(docs, params, "ModelPackageName")
        return paginate(docs, params).response("ModelPackageSummaryList")

    def update_package(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        package = self.registry.update_package(params["ModelPackageArn"], _change(params))
        return {"ModelPackageArn": package.arn}

    def delete_package(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        package = self.registry.delete_package(params["ModelPackageName"])
        self.tags.forget(package.arn)
        return {}

    def model_container(self, name_or_arn: str) -> dict[str, Any]:
        """The container a model created from this package runs (CreateModel's
        ``ModelPackageName``): the package must be deployable and have one container."""
        package = self.registry.deployable(name_or_arn)
        if len(package.containers) != 1:
            raise errors.ValidationError(
                f"Model package {package.arn} has {len(package.containers)} containers; cove "
                "runs single-container models.")
        return {**package.containers[0].to_wire(), "ModelPackageName": package.arn}

    # --- shared -----------------------------------------------------------------------------

    def _tag(self, resource_arn: str, params: dict[str, Any]) -> None:
        if params.get("Tags"):
            self.tags.set(resource_arn, params["Tags"])

    def _exists(self, resource_arn: str) -> bool:
        for lookup in (self.registry.group, self.registry.package):
            try:
                lookup(resource_arn)
            except errors.ValidationError:
                continue
            return True
        return False

    def _search_groups(self) -> Iterator[dict[str, Any]]:
        for group in self.registry.groups():
            yield {**render_group(group), "Tags": self.tags.get(group.arn)}

    def _search_packages(self) -> Iterator[dict[str, Any]]:
        for package in self.registry.packages():
            yield {**render_package(package), "Tags": self.tags.get(package.arn)}


# --- requests -------------------------------------------------------------------------------

def _owner(call: Call) -> Owner:
    return Owner(call.region, call.principal.account_id)


def _new_package(params: dict[str, Any]) -> NewPackage:
    spec = dict(params.get("InferenceSpecification") or {})
    approval = params.get("ModelApprovalStatus")
    return NewPackage(
        params.get("ModelPackageName"), params.get("ModelPackageGroupName"),
        params.get("ModelPackageDescription", ""),
        None if approval is None else ApprovalStatus.parse(approval),
        tuple(Container.from_wire(c) for c in spec.pop("Containers", [])), spec,
        params.get("CustomerMetadataProperties") or {},
        {k: params[k] for k in _DOCUMENTS if k in params}, params.get("ClientToken") or "")


def _change(params: dict[str, Any]) -> PackageChange:
    spec = params.get("InferenceSpecification")
    approval = params.get("ModelApprovalStatus")
    documents = {k: params[k] for k in _UPDATABLE_DOCUMENTS if k in params}
    return PackageChange(
        approval=None if approval is None else ApprovalStatus.parse(approval),
        approval_description=params.get("ApprovalDescription"),
        customer_metadata=params.get("CustomerMetadataProperties"),
        remove_metadata=tuple(params.get("CustomerMetadataPropertiesToRemove") or ()),
        containers=None if spec is None else tuple(
            Container.from_wire(c) for c in spec.get("Containers", [])),
        inference_options=None if spec is None else {
            k: v for k, v in spec.items() if k != "Containers"},
        documents=documents or None)


def _package_filter(params: dict[str, Any]) -> Callable[[ModelPackage], bool]:
    """ListModelPackages' group, type and approval filters.  As in SageMaker, only unversioned
    packages are listed unless a group or ``ModelPackageType`` says otherwise."""
    group = params.get("ModelPackageGroupName")
    kind = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
    approval = params.get("ModelApprovalStatus")

    def wanted(p: ModelPackage) -> bool:
        if group and (p.group or "").lower() != group.rsplit("/", 1)[-1].lower():
            return False
        if kind != "Both" and p.versioned != (kind == "Versioned"):
            return False
        return approval is None or (p.approval is not None and p.approval.value == approval)
    return wanted


def _sort(docs: list[dict[str, Any]], params: dict[str, Any], name_key: str) -> None:
    key = name_key if params.get("SortBy") == "Name" else "CreationTime"
    docs.sort(key=lambda d: (d[key], d.get("ModelPackageVersion", 0)),
              reverse=params.get("SortOrder", "Descending") == "Descending")


# --- responses ------------------------------------------------------------------------------

def render_group(group: ModelPackageGroup) -> dict[str, Any]:
    doc: dict[str, Any] = {"ModelPackageGroupName": group.name,
                           "ModelPackageGroupArn": group.arn, "CreationTime": group.created,
                           "ModelPackageGroupStatus": group.status.value}
    if group.description:
        doc["ModelPackageGroupDescription"] = group.description
    if group.created_by:
        doc["CreatedBy"] = dict(group.created_by)
    return doc


def render_package(package: ModelPackage) -> dict[str, Any]:
    doc = {**_summary(package), **dict(package.documents),
           "LastModifiedTime": package.modified,
           "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []}}
    if package.containers or package.inference_options:
        doc["InferenceSpecification"] = {
            "Containers": [c.to_wire() for c in package.containers],
            **dict(package.inference_options)}
    if package.customer_metadata:
        doc["CustomerMetadataProperties"] = dict(package.customer_metadata)
    if package.approval_description:
        doc["ApprovalDescription"] = package.approval_description
    return doc


def _summary(package: ModelPackage) -> dict[str, Any]:
    doc: dict[str, Any] = {"ModelPackageName": package.name,
                           "ModelPackageArn": package.arn, "CreationTime": package.created,
                           "ModelPackageStatus": package.status.value}
    if package.versioned:
        doc["ModelPackageGroupName"] = package.group
        doc["ModelPackageVersion"] = package.version
    if package.approval is not None:
        doc["ModelApprovalStatus"] = package.approval.value
    if package.description:
        doc["ModelPackageDescription"] = package.description
    return doc
