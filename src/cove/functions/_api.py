"""The Lambda API (rest-json, ``/2015-03-31/functions...``): the operations boto3's ``lambda``
client uses to deploy and invoke functions.  Each reads the request and calls the service;
FunctionConfiguration documents are rendered from the records by ``_rows.configuration``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cove import errors
from cove.functions._functions import Functions, tail
from cove.functions._rows import configuration
from cove.sagemaker._common import paginate
from cove.wire import Call, RestJsonService

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_EVENT_PAYLOAD = 256 * 1024


class LambdaApi:
    def __init__(self, functions: Functions) -> None:
        self.functions = functions

    def service(self) -> RestJsonService:
        return RestJsonService("lambda", ("/2015-03-31/functions",), {
            "CreateFunction": self.create_function,
            "GetFunction": self.get_function,
            "GetFunctionConfiguration": self.get_function_configuration,
            "ListFunctions": self.list_functions,
            "UpdateFunctionCode": self.update_function_code,
            "UpdateFunctionConfiguration": self.update_function_configuration,
            "DeleteFunction": self.delete_function,
            "Invoke": self.invoke,
            "AddPermission": self.add_permission,
            "GetPolicy": self.get_policy,
        }, errors.InvalidParameterValue)

    def create_function(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return configuration(self.functions.create(params))

    def get_function(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = self._name(params)
        return {"Configuration": configuration(self.functions.get(name)),
                "Code": {"RepositoryType": "S3"}}

    def get_function_configuration(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return configuration(self.functions.get(self._name(params)))

    def list_functions(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        documents = [configuration(f) for f in self.functions.all()]
        page = paginate(documents, {"NextToken": params.get("Marker"),
                                    "MaxResults": params.get("MaxItems")},
                        default_max=50, limit=10000)
        return page.response("Functions", token_key="NextMarker")

    def update_function_code(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return configuration(self.functions.update_code(params))

    def update_function_configuration(self, params: dict[str, Any],
                                      call: Call) -> dict[str, Any]:
        return configuration(self.functions.update_configuration(params))

    def delete_function(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.functions.delete(self._name(params))
        return {"StatusCode": 204}

    async def invoke(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = self._name(params)
        kind = params.get("InvocationType", "RequestResponse")
        payload: bytes = params.get("Payload") or b""
        limit = MAX_EVENT_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise errors.RequestTooLarge(f"Request must be smaller than {limit} bytes for the "
                                         "InvokeFunction operation", Type="User")
        if payload.strip():
            try:
                json.loads(payload)
            except (ValueError, RecursionError) as exc:  # too deep to parse is not JSON here
                raise errors.InvalidRequestContent(
                    f"Could not parse request body into json: {exc}", Type="User") from exc
        if kind == "DryRun":
            await asyncio.to_thread(self.functions.get, name)  # SQL: off the event loop
            return {"StatusCode": 204}
        if kind == "Event":
            await asyncio.to_thread(self.functions.get, name)
            self.functions.invoke_later(name, payload)
            return {"StatusCode": 202}
        outcome = await self.functions.invoke(name, payload, wait=False)
        result: dict[str, Any] = {"StatusCode": 200, "Payload": outcome.payload,
                                  "ExecutedVersion": "$LATEST"}
        if outcome.error:
            result["FunctionError"] = "Unhandled"
        if params.get("LogType") == "Tail":
            result["LogResult"] = tail(outcome.log)
        return result

    def add_permission(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = self._name(params)
        principal = params["Principal"]
        statement: dict[str, Any] = {
            "Sid": params["StatementId"], "Effect": "Allow",
            "Principal": {"Service": principal} if "." in principal else {"AWS": principal},
            "Action": params["Action"], "Resource": self.functions.arn(name)}
        if params.get("SourceArn"):
            statement["Condition"] = {"ArnLike": {"AWS:SourceArn": params["SourceArn"]}}
        self.functions.add_permission(name, statement)
        return {"Statement": json.dumps(statement)}

    def get_policy(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = self._name(params)
        statements = self.functions.policy(name)
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {"Policy": json.dumps(policy),
                "RevisionId": self.functions.get(name).revision_id}

    def _name(self, params: dict[str, Any]) -> str:
        name = self.functions.name_of(params["FunctionName"])
        qualifier = params.get("Qualifier")
        if qualifier not in (None, "$LATEST"):
            raise errors.ResourceNotFoundException(
                f"Function not found: {self.functions.arn(name)}:{qualifier}", Type="User")
        return name
