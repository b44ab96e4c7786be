"""Models and endpoint configurations: CreateModel's and CreateEndpointConfig's rules, and
their records in the metadata database (stored by ``_rows``).

A model names an artifact that must exist and a runtime cove can serve; an endpoint
configuration names models that exist; a configuration an endpoint is being created or updated
with cannot be deleted.  Deleting either forgets its tags.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from sqlalchemy import Table, delete, insert, select

from cove import errors
from cove.hosting._records import EndpointConfig, EndpointStatus, Model
from cove.hosting._rows import dump_config, dump_model, load_config, load_endpoint, load_model
from cove.meta import Database
from cove.meta.tables import endpoint_configs, endpoints, models
from cove.objects import LocalObjectStore
from cove.sagemaker import Tags, arn, parse_s3_uri, s3_location
from cove.training._runtimes import resolve_runtime

#: The container a model package deploys, for a ``ModelPackageName`` (the model registry's).
PackageResolver = Callable[[str], dict[str, Any]]


class Catalog:
    """The models and endpoint configurations of this cove."""

    def __init__(self, db: Database, store: LocalObjectStore, tags: Tags) -> None:
        self.db, self.store, self.tags = db, store, tags
        #: Set by the registry's API (a container may name a model package).
        self.resolve_package: PackageResolver | None = None

    # --- models -----------------------------------------------------------------------------

    def create_model(self, params: dict[str, Any], region: str, account: str) -> Model:
        container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
        if container is None:
            raise errors.ValidationError("A model needs a PrimaryContainer (or Containers).")
        if container.get("ModelPackageName"):
            container = self._from_package(container)
        environment = container.get("Environment", {})
        resolve_runtime(container.get("Image", ""), {"sagemaker_program": "x"}
                        if environment.get("SAGEMAKER_PROGRAM") else {})
        if not container.get("ModelDataUrl"):
            raise errors.ValidationError("cove serves models from an artifact: set "
                                         "ModelDataUrl to the model.tar.gz a training job wrote.")
        self._require_object(container["ModelDataUrl"], "ModelDataUrl")
        name = params["ModelName"]
        model = Model(name, arn(region, account, "model", name), time.time(),
                      MappingProxyType({"Mode": "SingleModel", **container}),
                      params.get("ExecutionRoleArn", ""),
                      bool(params.get("EnableNetworkIsolation")))
        self._insert(models, model.name, model.arn, model.created, dump_model(model), "model")
        return model

    def model(self, name: str) -> Model:
        return load_model(self._get(models, name, "model"))

    def models(self) -> list[Model]:
        return [load_model(d) for d in self._all(models)]

    def delete_model(self, name: str) -> None:
        self._delete(models, self.model(name).arn, name)

    def _from_package(self, container: dict[str, Any]) -> dict[str, Any]:
        """A container naming a model package runs the package's image and artifact, with the
        container's own Environment over the package's."""
        if self.resolve_package is None:
            raise errors.ValidationError("This cove has no model registry.")
        package = self.resolve_package(container["ModelPackageName"])
        environment = {**package.get("Environment", {}), **container.get("Environment", {})}
        return {**package, **container, "Environment": environment}

    def _require_object(self, uri: str, what: str) -> None:
        bucket, key = s3_location(uri, what)
        try:
            self.store.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
            raise errors.ValidationError(f"Could not access model data at {uri}: the object "
                                         "does not exist.") from exc

    # --- endpoint configurations ------------------------------------------------------------

    def create_config(self, params: dict[str, Any], region: str, account: str
                      ) -> EndpointConfig:
        variants = params["ProductionVariants"]
        names = [v["VariantName"] for v in variants]
        if len(names) != len(set(names)):
            raise errors.ValidationError("VariantName must be unique within an endpoint "
                                         "configuration.")
        for variant in variants:
            if "ModelName" not in variant:
                raise errors.ValidationError(f"Variant {variant['VariantName']} names no model.")
            self.model(variant["ModelName"])
        capture = params.get("DataCaptureConfig")
        if capture:
            parse_s3_uri(capture["DestinationS3Uri"], "DataCaptureConfig.DestinationS3Uri")
        name = params["EndpointConfigName"]
        config = EndpointConfig(
            name, arn(region, account, "endpoint-config", name), time.time(),
            tuple(MappingProxyType({"InitialVariantWeight": 1.0, **v}) for v in variants),
            MappingProxyType(capture) if capture else None)
        self._insert(endpoint_configs, name, config.arn, config.created, dump_config(config),
                     "endpoint configuration")
        return config

    def config(self, name: str) -> EndpointConfig:
        return load_config(self._get(endpoint_configs, name, "endpoint configuration"))

    def configs(self) -> list[EndpointConfig]:
        return [load_config(d) for d in self._all(endpoint_configs)]

    def delete_config(self, name: str) -> None:
        config = self.config(name)
        users = [e.name for e in map(load_endpoint, self._all(endpoints))
                 if e.config_name == name and e.status.is_changing()]
        if users:
            raise errors.ValidationError(
                f"Cannot delete endpoint configuration {name}: endpoint {users[0]} is being "
                f"created or updated with it. Wait until it is "
                f"{EndpointStatus.IN_SERVICE.value}.")
        self._delete(endpoint_configs, config.arn, name)

    # --- rows -------------------------------------------------------------------------------

    def _get(self, table: Table, name: str, kind: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(table.c.describe).where(table.c.name == name)).first()
        if row is None:
            raise errors.ValidationError(f"Could not find {kind} \"{name}\".")
        return dict(row.describe)

    def _all(self, table: Table) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(d) for (d,) in conn.execute(select(table.c.describe))]

    def _insert(self, table: Table, name: str, resource_arn: str, created: float,
                doc: dict[str, Any], kind: str) -> None:
        with self.db.write() as conn:
            if conn.execute(select(table.c.name).where(table.c.name == name)).first():
                raise errors.ValidationError(
                    f"Cannot create already existing {kind} \"{resource_arn}\".")
            conn.execute(insert(table).values(name=name, arn=resource_arn,
                                              creation_time=created, describe=doc))

    def _delete(self, table: Table, resource_arn: str, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(table).where(table.c.name == name))
        self.tags.forget(resource_arn)
