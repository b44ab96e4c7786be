"""Models, endpoint configurations and endpoints in the SageMaker API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select

from cove import errors
from cove.hosting._endpoints import Endpoints
from cove.meta.tables import endpoint_configs, endpoints, models
from cove.objects import LocalObjectStore
from cove.sagemaker import Tags, arn, paginate, parse_s3_uri, s3_location
from cove.training._runtimes import resolve_runtime
from cove.wire import Call

#: The container a model package deploys, for a ``ModelPackageName`` (the model registry's).
PackageResolver = Callable[[str], dict[str, Any]]


class HostingApi:
    def __init__(self, endpoints: Endpoints, store: LocalObjectStore, tags: Tags,
                 resolve_package: PackageResolver) -> None:
        self.endpoints, self.store, self.tags = endpoints, store, tags
        self.resolve_package = resolve_package
        self.db = endpoints.db
        tags.register(self._exists)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {
            "CreateModel": self.create_model, "DescribeModel": self.describe_model,
            "ListModels": self.list_models, "DeleteModel": self.delete_model,
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": self.describe_endpoint_config,
            "ListEndpointConfigs": self.list_endpoint_configs,
            "DeleteEndpointConfig": self.delete_endpoint_config,
            "CreateEndpoint": self.create_endpoint, "DescribeEndpoint": self.describe_endpoint,
            "ListEndpoints": self.list_endpoints, "UpdateEndpoint": self.update_endpoint,
            "UpdateEndpointWeightsAndCapacities": self.update_weights,
            "DeleteEndpoint": self.delete_endpoint,
        }

    # --- models -----------------------------------------------------------------------------

    def create_model(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = params["ModelName"]
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
        model_arn = arn(call.region, call.principal.account_id, "model", name)
        describe = {"ModelName": name, "ModelArn": model_arn, "CreationTime": time.time(),
                    "PrimaryContainer": {"Mode": "SingleModel", **container},
                    "ExecutionRoleArn": params.get("ExecutionRoleArn", ""),
                    "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation"))}
        self._insert(models, name, model_arn, describe, "model")
        self._tag(model_arn, params)
        return {"ModelArn": model_arn}

    def describe_model(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.endpoints.get(models, params["ModelName"], "model")

    def list_models(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = self._list(models, params, "ModelName")
        page = paginate(items, params)
        return page.response("Models", [
            {k: d[k] for k in ("ModelName", "ModelArn", "CreationTime")} for d in page.items])

    def delete_model(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe = self.endpoints.get(models, params["ModelName"], "model")
        self._delete(models, params["ModelName"], describe["ModelArn"])
        return {}

    def _from_package(self, container: dict[str, Any]) -> dict[str, Any]:
        """A container naming a model package runs the package's image and artifact, with the
        container's own Environment over the package's."""
        package = self.resolve_package(container["ModelPackageName"])
        environment = {**package.get("Environment", {}), **container.get("Environment", {})}
        return {**package, **container, "Environment": environment}

    # --- endpoint configurations ------------------------------------------------------------

    def create_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        variants = params["ProductionVariants"]
        names = [v["VariantName"] for v in variants]
        if len(names) != len(set(names)):
            raise errors.ValidationError("VariantName must be unique within an endpoint "
                                         "configuration.")
        for variant in variants:
            if "ModelName" not in variant:
                raise errors.ValidationError(f"Variant {variant['VariantName']} names no model.")
            self.endpoints.get(models, variant["ModelName"], "model")
        capture = params.get("DataCaptureConfig")
        if capture:
            parse_s3_uri(capture["DestinationS3Uri"], "DataCaptureConfig.DestinationS3Uri")
        config_arn = arn(call.region, call.principal.account_id, "endpoint-config", name)
        describe = {"EndpointConfigName": name, "EndpointConfigArn": config_arn,
                    "ProductionVariants": [{"InitialVariantWeight": 1.0, **v} for v in variants],
                    "CreationTime": time.time()}
        if capture:
            describe["DataCaptureConfig"] = capture
        self._insert(endpoint_configs, name, config_arn, describe, "endpoint configuration")
        self._tag(config_arn, params)
        return {"EndpointConfigArn": config_arn}

    def describe_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.endpoints.get(endpoint_configs, params["EndpointConfigName"],
                                  "endpoint configuration")

    def list_endpoint_configs(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = self._list(endpoint_configs, params, "EndpointConfigName")
        page = paginate(items, params)
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return page.response("EndpointConfigs", [{k: d[k] for k in keys} for d in page.items])

    def delete_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        describe = self.endpoints.get(endpoint_configs, name, "endpoint configuration")
        with self.db.read() as conn:
            users = [d["EndpointName"] for (d,) in conn.execute(select(endpoints.c.describe))
                     if d["EndpointConfigName"] == name and d["EndpointStatus"] in (
                         "Creating", "Updating")]
        if users:
            raise errors.ValidationError(
                f"Cannot delete endpoint configuration {name}: endpoint {users[0]} is being "
                "created or updated with it. Wait until it is InService.")
        self._delete(endpoint_configs, name, describe["EndpointConfigArn"])
        return {}

    # --- endpoints --------------------------------------------------------------------------

    def create_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        config = self.endpoints.get(endpoint_configs, config_name, "endpoint configuration")
        endpoint_arn = arn(call.region, call.principal.account_id, "endpoint", name)
        now = time.time()
        describe = {"EndpointName": name, "EndpointArn": endpoint_arn,
                    "EndpointConfigName": config_name, "EndpointStatus": "Creating",
                    "CreationTime": now, "LastModifiedTime": now}
        if config.get("DataCaptureConfig"):
            capture = config["DataCaptureConfig"]
            describe["DataCaptureConfig"] = {
                "EnableCapture": capture.get("EnableCapture", True),
                "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
                "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
                "DestinationS3Uri": capture["DestinationS3Uri"]}
        self.endpoints.create(describe)
        self._tag(endpoint_arn, params)
        return {"EndpointArn": endpoint_arn}

    def describe_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.endpoints.describe_endpoint(params["EndpointName"])

    def list_endpoints(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = self._list(endpoints, params, "EndpointName")
        if params.get("StatusEquals"):
            items = [d for d in items if d["EndpointStatus"] == params["StatusEquals"]]
        page = paginate(items, params)
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime",
                "EndpointStatus")
        return page.response("Endpoints", [{k: d[k] for k in keys} for d in page.items])

    def update_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.endpoints.update(params["EndpointName"], params["EndpointConfigName"])
        return {"EndpointArn": self.endpoints.describe_endpoint(
            params["EndpointName"])["EndpointArn"]}

    def update_weights(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.endpoints.update_weights(params["EndpointName"],
                                      params["DesiredWeightsAndCapacities"])
        return {"EndpointArn": self.endpoints.describe_endpoint(
            params["EndpointName"])["EndpointArn"]}

    def delete_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe = self.endpoints.describe_endpoint(params["EndpointName"])
        self.endpoints.delete(params["EndpointName"])
        self.tags.forget(describe["EndpointArn"])
        return {}

    # --- shared -----------------------------------------------------------------------------

    def _require_object(self, uri: str, what: str) -> None:
        bucket, key = s3_location(uri, what)
        try:
            self.store.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
            raise errors.ValidationError(f"Could not access model data at {uri}: the object "
                                         "does not exist.") from exc

    def _insert(self, table: Any, name: str, resource_arn: str, describe: dict[str, Any],
                kind: str) -> None:
        with self.db.write() as conn:
            if conn.execute(select(table.c.name).where(table.c.name == name)).first():
                raise errors.ValidationError(
                    f"Cannot create already existing {kind} \"{resource_arn}\".")
            conn.execute(insert(table).values(name=name, arn=resource_arn,
                                              creation_time=describe["CreationTime"],
                                              describe=describe))

    def _delete(self, table: Any, name: str, resource_arn: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(table).where(table.c.name == name))
        self.tags.forget(resource_arn)

    def _list(self, table: Any, params: dict[str, Any], name_key: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            items = [dict(d) for (d,) in conn.execute(select(table.c.describe))]
        if params.get("NameContains"):
            items = [d for d in items if params["NameContains"].lower() in d[name_key].lower()]
        key = name_key if params.get("SortBy") == "Name" else "CreationTime"
        items.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending")
                   == "Descending")
        return items

    def _tag(self, resource_arn: str, params: dict[str, Any]) -> None:
        if params.get("Tags"):
            self.tags.set(resource_arn, params["Tags"])

    def _exists(self, resource_arn: str) -> bool:
        with self.db.read() as conn:
            return any(conn.execute(select(t.c.name).where(t.c.arn == resource_arn)).first()
                       for t in (models, endpoint_configs, endpoints))
