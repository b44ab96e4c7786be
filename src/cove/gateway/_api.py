"""The API Gateway v2 management API (rest-json, ``/v2/apis...``) for HTTP APIs."""

from __future__ import annotations

import re
import time
from typing import Any

from cove import errors
from cove.gateway._gateway import Gateway, new_id
from cove.gateway._routes import parse_route_key
from cove.sagemaker._common import paginate
from cove.wire import Call, RestJsonService

_FUNCTION_ARN = re.compile(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+"
                           r"(:\$LATEST)?")
_STAGE_NAME = re.compile(r"\$default|[A-Za-z0-9_-]{1,128}")
_API_FIELDS = ("Name", "Description", "CorsConfiguration", "Version", "Tags",
               "DisableExecuteApiEndpoint", "RouteSelectionExpression")


def function_arn(uri: str) -> str:
    """The function an AWS_PROXY integration invokes: its ARN, alone or inside the
    ``arn:aws:apigateway:...:lambda:path/2015-03-31/functions/<arn>/invocations`` form."""
    found = _FUNCTION_ARN.search(uri)
    if found is None:
        raise errors.BadRequest(f"Invalid integration URI specified {uri}: cove integrates "
                                "Lambda functions (a function ARN).")
    return found[0].removesuffix(":$LATEST")


class GatewayApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def service(self) -> RestJsonService:
        return RestJsonService("apigatewayv2", ("/v2/apis",), {
            "CreateApi": self.create_api, "GetApi": self.get_api, "GetApis": self.get_apis,
            "UpdateApi": self.update_api, "DeleteApi": self.delete_api,
            "CreateIntegration": self.create_integration,
            "GetIntegration": self.get_integration, "GetIntegrations": self.get_integrations,
            "DeleteIntegration": self.delete_integration,
            "CreateRoute": self.create_route, "GetRoute": self.get_route,
            "GetRoutes": self.get_routes, "DeleteRoute": self.delete_route,
            "CreateStage": self.create_stage, "GetStage": self.get_stage,
            "GetStages": self.get_stages, "UpdateStage": self.update_stage,
            "DeleteStage": self.delete_stage,
            "CreateDeployment": self.create_deployment, "GetDeployments": self.get_deployments,
        }, errors.BadRequest)

    # --- APIs -------------------------------------------------------------------------------

    def create_api(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        if params["ProtocolType"] != "HTTP":
            raise errors.BadRequest("cove's gateway serves HTTP APIs (ProtocolType HTTP), not "
                                    f"{params['ProtocolType']}.")
        if params.get("RouteKey") and not params.get("Target"):
            raise errors.BadRequest("RouteKey is only allowed with Target (quick create).")
        if params.get("RouteKey"):
            parse_route_key(params["RouteKey"])
        _check_cors(params.get("CorsConfiguration"))
        target = function_arn(params["Target"]) if params.get("Target") else None
        doc = {"ProtocolType": "HTTP", "ApiKeySelectionExpression":
               "$request.header.x-api-key", "RouteSelectionExpression":
               "${request.method} ${request.path}", "DisableExecuteApiEndpoint": False,
               **{k: params[k] for k in _API_FIELDS if k in params}}
        api = self.gateway.create_api(doc)
        if target is not None:
            self._quick_create(api["ApiId"], target, params.get("RouteKey") or "$default")
        return api

    def _quick_create(self, api_id: str, target: str, route_key: str) -> None:
        integration = self._integration_doc({"IntegrationType": "AWS_PROXY",
                                             "IntegrationUri": target,
                                             "PayloadFormatVersion": "2.0"})
        integration["ApiGatewayManaged"] = True
        self.gateway.add(api_id, "integration", integration["IntegrationId"], integration)
        route_id = new_id(7)
        self.gateway.add(api_id, "route", route_id, {
            "RouteId": route_id, "RouteKey": route_key, "ApiGatewayManaged": True,
            "AuthorizationType": "NONE", "ApiKeyRequired": False,
            "Target": f"integrations/{integration['IntegrationId']}"})
        self.gateway.add(api_id, "stage", "$default", self._stage_doc(
            {"StageName": "$default", "AutoDeploy": True}) | {"ApiGatewayManaged": True})

    def get_api(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.gateway.api(params["ApiId"])

    def get_apis(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return _page(self.gateway.apis(), params)

    def update_api(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        _check_cors(params.get("CorsConfiguration"))
        return self.gateway.update_api(params["ApiId"], {
            k: params[k] for k in _API_FIELDS if k in params})

    def delete_api(self, params: dict[str, Any], call: Call) -> None:
        self.gateway.delete_api(params["ApiId"])

    # --- integrations -----------------------------------------------------------------------

    def create_integration(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        doc = self._integration_doc(params)
        return self.gateway.add(params["ApiId"], "integration", doc["IntegrationId"], doc)

    def _integration_doc(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["IntegrationType"] != "AWS_PROXY":
            raise errors.BadRequest("cove's gateway supports AWS_PROXY integrations with Lambda "
                                    f"functions, not {params['IntegrationType']}.")
        version = params.get("PayloadFormatVersion")
        if version not in ("1.0", "2.0"):
            raise errors.BadRequest("PayloadFormatVersion must be 1.0 or 2.0 for a Lambda "
                                    f"proxy integration, not {version!r}.")
        timeout = params.get("TimeoutInMillis", 30000)
        if not 50 <= timeout <= 30000:
            raise errors.BadRequest("TimeoutInMillis must be between 50 and 30000.")
        function_arn(params.get("IntegrationUri", ""))
        doc = {"IntegrationId": new_id(7), "IntegrationType": "AWS_PROXY",
               "IntegrationUri": params["IntegrationUri"], "IntegrationMethod": "POST",
               "ConnectionType": "INTERNET", "PayloadFormatVersion": version,
               "TimeoutInMillis": timeout}
        if params.get("Description"):
            doc["Description"] = params["Description"]
        return doc

    def get_integration(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.gateway.part(params["ApiId"], "integration", params["IntegrationId"])

    def get_integrations(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return _page(self.gateway.parts(params["ApiId"], "integration"), params)

    def delete_integration(self, params: dict[str, Any], call: Call) -> None:
        self.gateway.remove(params["ApiId"], "integration", params["IntegrationId"])

    # --- routes -----------------------------------------------------------------------------

    def create_route(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        api_id, key = params["ApiId"], params["RouteKey"]
        parse_route_key(key)
        if params.get("AuthorizationType", "NONE") != "NONE":
            raise errors.BadRequest("cove's gateway has no authorizers: AuthorizationType "
                                    "must be NONE.")
        if any(r["RouteKey"] == key for r in self.gateway.parts(api_id, "route")):
            raise errors.Conflict(f"Unable to create Route, a route with route key '{key}' "
                                  "already exists.")
        doc = {"RouteId": new_id(7), "RouteKey": key, "AuthorizationType": "NONE",
               "ApiKeyRequired": False}
        if params.get("Target"):
            integration = params["Target"].removeprefix("integrations/")
            try:
                self.gateway.part(api_id, "integration", integration)
            except errors.NotFound as exc:
                raise errors.BadRequest(f"Invalid integration identifier specified "
                                        f"{integration}") from exc
            doc["Target"] = f"integrations/{integration}"
        return self.gateway.add(api_id, "route", doc["RouteId"], doc)

    def get_route(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.gateway.part(params["ApiId"], "route", params["RouteId"])

    def get_routes(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return _page(self.gateway.parts(params["ApiId"], "route"), params)

    def delete_route(self, params: dict[str, Any], call: Call) -> None:
        self.gateway.remove(params["ApiId"], "route", params["RouteId"])

    # --- stages and deployments -------------------------------------------------------------

    def create_stage(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        api_id, name = params["ApiId"], params["StageName"]
        if not _STAGE_NAME.fullmatch(name):
            raise errors.BadRequest(f"Stage name {name!r} must be $default or letters, digits, "
                                    "- and _.")
        if any(s["StageName"] == name for s in self.gateway.parts(api_id, "stage")):
            raise errors.Conflict(f"Stage already exists: {name}")
        return self.gateway.add(api_id, "stage", name, self._stage_doc(params))

    def _stage_doc(self, params: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        doc = {"StageName": params["StageName"], "AutoDeploy": params.get("AutoDeploy", False),
               "CreatedDate": now, "LastUpdatedDate": now,
               "DefaultRouteSettings": {"DetailedMetricsEnabled": False,
                                        **params.get("DefaultRouteSettings", {})},
               "RouteSettings": params.get("RouteSettings", {}),
               "StageVariables": params.get("StageVariables", {}),
               "Tags": params.get("Tags", {})}
        for key in ("Description", "DeploymentId"):
            if params.get(key):
                doc[key] = params[key]
        _check_throttle(doc["DefaultRouteSettings"])
        for settings in doc["RouteSettings"].values():
            _check_throttle(settings)
        return doc

    def get_stage(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.gateway.part(params["ApiId"], "stage", params["StageName"])

    def get_stages(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return _page(self.gateway.parts(params["ApiId"], "stage"), params)

    def update_stage(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        api_id, name = params["ApiId"], params["StageName"]
        current = self.gateway.part(api_id, "stage", name)
        doc = {**current, **{k: v for k, v in params.items() if k not in ("ApiId",)},
               "LastUpdatedDate": time.time()}
        doc["DefaultRouteSettings"] = {**current.get("DefaultRouteSettings", {}),
                                       **params.get("DefaultRouteSettings", {})}
        _check_throttle(doc["DefaultRouteSettings"])
        self.gateway.replace(api_id, "stage", name, doc)
        return doc

    def delete_stage(self, params: dict[str, Any], call: Call) -> None:
        self.gateway.remove(params["ApiId"], "stage", params["StageName"])

    def create_deployment(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        api_id = params["ApiId"]
        doc = {"DeploymentId": new_id(6), "DeploymentStatus": "DEPLOYED", "AutoDeployed": False,
               "CreatedDate": time.time(), "Description": params.get("Description", ""),
               "Snapshot": self.gateway.snapshot(api_id)}
        if params.get("StageName"):
            stage = self.gateway.part(api_id, "stage", params["StageName"])
            self.gateway.add(api_id, "deployment", doc["DeploymentId"], doc)
            self.gateway.replace(api_id, "stage", params["StageName"],
                                 {**stage, "DeploymentId": doc["DeploymentId"],
                                  "LastUpdatedDate": time.time()})
        else:
            self.gateway.add(api_id, "deployment", doc["DeploymentId"], doc)
        return doc

    def get_deployments(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return _page(self.gateway.parts(params["ApiId"], "deployment"), params)


def _check_cors(cors: dict[str, Any] | None) -> None:
    """A browser would send its cookies to any site's requests; API Gateway refuses that."""
    if cors and cors.get("AllowCredentials") and "*" in (cors.get("AllowOrigins") or []):
        raise errors.BadRequest("allow-credentials is not supported if 'allow-origin' is *")


def _check_throttle(settings: dict[str, Any]) -> None:
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    if rate is not None and rate < 0 or burst is not None and burst < 0:
        raise errors.BadRequest("Throttling limits must not be negative.")


def _page(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    page = paginate(items, params, default_max=100, limit=500)
    return page.response("Items")
