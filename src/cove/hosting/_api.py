"""Models, endpoint configurations and endpoints in the SageMaker API: each operation reads
the request, calls the catalog or the endpoint service, and renders the records (the only
place DescribeModel / DescribeEndpointConfig / DescribeEndpoint documents are made)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from cove.hosting._catalog import PackageResolver
from cove.hosting._endpoints import Endpoints
from cove.hosting._records import Endpoint, EndpointConfig, Model
from cove.hosting._rows import dump_config, dump_endpoint, dump_model
from cove.meta.tables import endpoint_configs, endpoints, models
from cove.sagemaker import Tags, paginate
from cove.wire import Call


class HostingApi:
    def __init__(self, endpoints: Endpoints, tags: Tags,
                 resolve_package: PackageResolver) -> None:
        self.endpoints, self.catalog, self.tags = endpoints, endpoints.catalog, tags
        self.catalog.resolve_package = resolve_package
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
        model = self.catalog.create_model(params, call.region, call.principal.account_id)
        self._tag(model.arn, params)
        return {"ModelArn": model.arn}

    def describe_model(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_model(self.catalog.model(params["ModelName"]))

    def list_models(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = _listed(map(describe_model, self.catalog.models()), params, "ModelName")
        page = paginate(items, params)
        return page.response("Models", [
            {k: d[k] for k in ("ModelName", "ModelArn", "CreationTime")} for d in page.items])

    def delete_model(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.catalog.delete_model(params["ModelName"])
        return {}

    # --- endpoint configurations ------------------------------------------------------------

    def create_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        config = self.catalog.create_config(params, call.region, call.principal.account_id)
        self._tag(config.arn, params)
        return {"EndpointConfigArn": config.arn}

    def describe_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_endpoint_config(self.catalog.config(params["EndpointConfigName"]))

    def list_endpoint_configs(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = _listed(map(describe_endpoint_config, self.catalog.configs()), params,
                        "EndpointConfigName")
        page = paginate(items, params)
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return page.response("EndpointConfigs", [{k: d[k] for k in keys} for d in page.items])

    def delete_endpoint_config(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.catalog.delete_config(params["EndpointConfigName"])
        return {}

    # --- endpoints --------------------------------------------------------------------------

    def create_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        endpoint = self.endpoints.create(params["EndpointName"], params["EndpointConfigName"],
                                         call.region, call.principal.account_id)
        self._tag(endpoint.arn, params)
        return {"EndpointArn": endpoint.arn}

    def describe_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_endpoint(self.endpoints.endpoint(params["EndpointName"]))

    def list_endpoints(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        items = _listed(map(describe_endpoint, self.endpoints.all()), params, "EndpointName")
        if params.get("StatusEquals"):
            items = [d for d in items if d["EndpointStatus"] == params["StatusEquals"]]
        page = paginate(items, params)
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime",
                "EndpointStatus")
        return page.response("Endpoints", [{k: d[k] for k in keys} for d in page.items])

    def update_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        endpoint = self.endpoints.update(params["EndpointName"], params["EndpointConfigName"])
        return {"EndpointArn": endpoint.arn}

    def update_weights(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        endpoint = self.endpoints.update_weights(params["EndpointName"],
                                                 params["DesiredWeightsAndCapacities"])
        return {"EndpointArn": endpoint.arn}

    def delete_endpoint(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.endpoints.delete(params["EndpointName"])
        return {}

    # --- shared -----------------------------------------------------------------------------

    def _tag(self, resource_arn: str, params: dict[str, Any]) -> None:
        if params.get("Tags"):
            self.tags.set(resource_arn, params["Tags"])

    def _exists(self, resource_arn: str) -> bool:
        with self.db.read() as conn:
            return any(conn.execute(select(t.c.name).where(t.c.arn == resource_arn)).first()
                       for t in (models, endpoint_configs, endpoints))


def describe_model(model: Model) -> dict[str, Any]:
    """DescribeModel's document: the stored one (see ``describe_endpoint``)."""
    return dump_model(model)


def describe_endpoint_config(config: EndpointConfig) -> dict[str, Any]:
    """DescribeEndpointConfig's document: the stored one (see ``describe_endpoint``)."""
    return dump_config(config)


def describe_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    """DescribeEndpoint's document: what is stored (endpoints kept the Describe document as
    their stored layout when they became records, so one function writes both)."""
    return dump_endpoint(endpoint)


def _listed(documents: Any, params: dict[str, Any], name_key: str) -> list[dict[str, Any]]:
    items = list(documents)
    if params.get("NameContains"):
        items = [d for d in items if params["NameContains"].lower() in d[name_key].lower()]
    key = name_key if params.get("SortBy") == "Name" else "CreationTime"
    items.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending")
               == "Descending")
    return items
