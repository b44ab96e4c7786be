"""HTTP APIs through boto3's apigatewayv2 client, and requests through the public gateway."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.functions.conftest import ROLE, zip_of

ECHO = """
import base64, json

def handler(event, context):
    path = event.get("rawPath") or event.get("path", "")
    if path.endswith("/fail"):
        raise RuntimeError("failed on purpose")
    if path.endswith("/plain"):
        return {"plain": True}
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(b"\\x00\\x01\\xff").decode(), "isBase64Encoded": True}
    return {"statusCode": 201, "headers": {"content-type": "application/json", "x-echo": "yes"},
            "cookies": ["a=1", "b=2"], "body": json.dumps(event)}
"""


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def make_function(cove: CoveServer, source: str, **config: Any) -> str:
    name = f"gw-{uuid.uuid4().hex[:10]}"
    cove.client("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="f.handler",
        Code={"ZipFile": zip_of({"f.py": source})}, **config)
    return cove.client("lambda").get_function_configuration(FunctionName=name)["FunctionArn"]


@pytest.fixture
def gw(cove: CoveServer) -> Any:
    return cove.client("apigatewayv2")


def test_quick_create_and_payload_2(cove: CoveServer, gw: Any) -> None:
    arn = make_function(cove, ECHO)
    api = gw.create_api(Name="quick", ProtocolType="HTTP", Target=arn)
    assert api["ApiEndpoint"] == f"{cove.url}/gw/{api['ApiId']}"
    assert [r["RouteKey"] for r in gw.get_routes(ApiId=api["ApiId"])["Items"]] == ["$default"]
    stage = gw.get_stages(ApiId=api["ApiId"])["Items"][0]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    integration = gw.get_integrations(ApiId=api["ApiId"])["Items"][0]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"

    status, headers, body = http(
        "POST", api["ApiEndpoint"] + "/some/path?a=1&a=2&b=x", b'{"review": "great"}',
        {"content-type": "application/json", "cookie": "c1=v1; c2=v2", "x-multi": "m"})
    assert status == 201 and headers["x-echo"] == "yes"
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path" and event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "m"
    assert event["body"] == '{"review": "great"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/some/path"
    assert context["apiId"] == api["ApiId"] and context["stage"] == "$default"

    status, _, body = http("POST", api["ApiEndpoint"] + "/bin", b"\x00\xff\x10",
                           {"content-type": "application/octet-stream"})
    assert base64.b64decode(json.loads(body)["body"]) == b"\x00\xff\x10"
    assert json.loads(body)["isBase64Encoded"] is True
    status, headers, body = http("GET", api["ApiEndpoint"] + "/plain")
    assert status == 200 and json.loads(body) == {"plain": True}
    assert headers["content-type"] == "application/json"
    status, _, body = http("GET", api["ApiEndpoint"] + "/binary")
    assert status == 200 and body == b"\x00\x01\xff"
    status, _, body = http("GET", api["ApiEndpoint"] + "/fail")
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}


def _api_with_routes(cove: CoveServer, gw: Any, version: str, routes: list[str],
                     stage: str = "$default", **api: Any) -> tuple[dict[str, Any], str]:
    arn = make_function(cove, ECHO)
    created = gw.create_api(Name="routes", ProtocolType="HTTP", **api)
    integration = gw.create_integration(ApiId=created["ApiId"], IntegrationType="AWS_PROXY",
                                        IntegrationUri=arn, PayloadFormatVersion=version)
    for key in routes:
        gw.create_route(ApiId=created["ApiId"], RouteKey=key,
                        Target=f"integrations/{integration['IntegrationId']}")
    gw.create_stage(ApiId=created["ApiId"], StageName=stage, AutoDeploy=True)
    base = created["ApiEndpoint"] + ("" if stage == "$default" else f"/{stage}")
    return created, base


def test_routes_methods_precedence_and_payload_1(cove: CoveServer, gw: Any) -> None:
    api, base = _api_with_routes(cove, gw, "1.0",
                                 ["POST /sentiment", "ANY /{proxy+}", "GET /items/{id}"],
                                 stage="prod")
    status, _, body = http("POST", base + "/sentiment?x=1&x=2", b"text",
                           {"content-type": "text/plain"})
    event = json.loads(body)
    assert status == 201 and event["version"] == "1.0"
    assert event["resource"] == "/sentiment" and event["httpMethod"] == "POST"
    assert event["path"] == "/prod/sentiment" and event["body"] == "text"
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["stage"] == "prod"
    assert event["requestContext"]["resourceId"] == "POST /sentiment"
    assert event["pathParameters"] is None
    _, _, body = http("GET", base + "/items/42")
    assert json.loads(body)["pathParameters"] == {"id": "42"}
    _, _, body = http("GET", base + "/sentiment")  # not POST: the greedy route takes it
    assert json.loads(body)["requestContext"]["resourceId"] == "ANY /{proxy+}"
    assert json.loads(body)["pathParameters"] == {"proxy": "sentiment"}
    status, _, body = http("GET", api["ApiEndpoint"] + "/nostage/items/1")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    status, _, body = http("GET", f"{cove.url}/gw/nosuchapi/x")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}


def test_no_route_is_404_and_1_0_needs_status_code(cove: CoveServer, gw: Any) -> None:
    _, base = _api_with_routes(cove, gw, "1.0", ["GET /plain"])
    status, _, body = http("POST", base + "/other")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    status, _, body = http("GET", base + "/plain")  # no statusCode: malformed under 1.0
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}


def test_cors_preflight_and_headers(cove: CoveServer, gw: Any) -> None:
    cors = {"AllowOrigins": ["http://site.example"], "AllowMethods": ["POST", "GET"],
            "AllowHeaders": ["content-type"], "MaxAge": 300}
    _, base = _api_with_routes(cove, gw, "2.0", ["POST /sentiment"], CorsConfiguration=cors)
    status, headers, body = http("OPTIONS", base + "/sentiment", headers={
        "origin": "http://site.example", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == "http://site.example"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type"
    assert headers["access-control-max-age"] == "300"
    status, headers, _ = http("OPTIONS", base + "/sentiment", headers={
        "origin": "http://evil.example", "access-control-request-method": "POST"})
    assert status == 204 and "access-control-allow-origin" not in headers
    status, headers, _ = http("POST", base + "/sentiment", b"{}",
                              {"origin": "http://site.example"})
    assert status == 201 and headers["access-control-allow-origin"] == "http://site.example"


def test_throttling(cove: CoveServer, gw: Any) -> None:
    """End to end, independent of how long a round trip takes: a rate so low that no token
    comes back during the test, so the burst alone decides; the refill is the bucket's
    arithmetic (test_token_bucket_refills_at_its_rate, on an injected clock)."""
    arn = make_function(cove, ECHO)
    api = gw.create_api(Name="throttled", ProtocolType="HTTP", Target=arn)
    gw.update_stage(ApiId=api["ApiId"], StageName="$default", DefaultRouteSettings={
        "ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 0.001})
    statuses = [http("GET", api["ApiEndpoint"] + "/x")[0] for _ in range(4)]
    assert statuses == [201, 201, 429, 429]
    status, _, body = http("GET", api["ApiEndpoint"] + "/x")
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}
    gw.update_stage(ApiId=api["ApiId"], StageName="$default", DefaultRouteSettings={
        "ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 1000.0})  # new limits, new bucket
    assert http("GET", api["ApiEndpoint"] + "/x")[0] == 201


def test_token_bucket_refills_at_its_rate() -> None:
    from cove.gateway._throttle import TokenBucket

    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.4  # 0.8 of a token
    assert not bucket.take()
    now[0] += 0.1  # 1.0 token
    assert bucket.take() and not bucket.take()
    now[0] += 60  # never more than the burst saved up
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_timeout_and_missing_function(cove: CoveServer, gw: Any) -> None:
    arn = make_function(cove, "import time\ndef handler(e, c):\n    time.sleep(5)\n",
                        Timeout=1)
    api = gw.create_api(Name="slow", ProtocolType="HTTP", Target=arn)
    status, _, body = http("GET", api["ApiEndpoint"] + "/")
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}
    cove.client("lambda").delete_function(FunctionName=arn)
    status, _, body = http("GET", api["ApiEndpoint"] + "/")
    assert status == 502


def test_named_stage_without_auto_deploy_serves_its_deployment(cove: CoveServer,
                                                               gw: Any) -> None:
    arn = make_function(cove, ECHO)
    api = gw.create_api(Name="deployed", ProtocolType="HTTP")
    integration = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY",
                                        IntegrationUri=arn, PayloadFormatVersion="2.0")
    target = f"integrations/{integration['IntegrationId']}"
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /one", Target=target)
    gw.create_stage(ApiId=api["ApiId"], StageName="v1")
    assert http("GET", api["ApiEndpoint"] + "/v1/one")[0] == 404  # nothing deployed yet
    gw.create_deployment(ApiId=api["ApiId"], StageName="v1")
    assert http("GET", api["ApiEndpoint"] + "/v1/one")[0] == 201
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /two", Target=target)
    assert http("GET", api["ApiEndpoint"] + "/v1/two")[0] == 404  # until deployed again
    gw.create_deployment(ApiId=api["ApiId"], StageName="v1")
    assert http("GET", api["ApiEndpoint"] + "/v1/two")[0] == 201


def test_management_errors(cove: CoveServer, gw: Any) -> None:
    def code(call: Any, **kwargs: Any) -> tuple[str, int]:
        with pytest.raises(ClientError) as failed:
            call(**kwargs)
        error = failed.value.response
        return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]

    assert code(gw.get_api, ApiId="nope") == ("NotFoundException", 404)
    assert code(gw.create_api, Name="ws", ProtocolType="WEBSOCKET",
                RouteSelectionExpression="$request.body.action") == ("BadRequestException", 400)
    api = gw.create_api(Name="errors", ProtocolType="HTTP")
    assert code(gw.create_route, ApiId=api["ApiId"], RouteKey="FETCH /x") == (
        "BadRequestException", 400)
    assert code(gw.create_route, ApiId=api["ApiId"], RouteKey="GET /{a+}/b") == (
        "BadRequestException", 400)
    assert code(gw.create_route, ApiId=api["ApiId"], RouteKey="GET /x",
                Target="integrations/missing") == ("BadRequestException", 400)
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /x")
    assert code(gw.create_route, ApiId=api["ApiId"], RouteKey="GET /x") == (
        "ConflictException", 409)
    assert code(gw.create_integration, ApiId=api["ApiId"], IntegrationType="HTTP_PROXY",
                IntegrationUri="http://example.com", PayloadFormatVersion="1.0") == (
        "BadRequestException", 400)
    assert code(gw.create_integration, ApiId=api["ApiId"], IntegrationType="AWS_PROXY",
                IntegrationUri="arn:aws:lambda:us-east-1:123456789012:function:f") == (
        "BadRequestException", 400)
    gw.create_stage(ApiId=api["ApiId"], StageName="prod")
    assert code(gw.create_stage, ApiId=api["ApiId"], StageName="prod") == (
        "ConflictException", 409)
    gw.delete_api(ApiId=api["ApiId"])
    assert code(gw.get_routes, ApiId=api["ApiId"]) == ("NotFoundException", 404)


def test_gateway_is_public_but_management_is_signed(cove: CoveServer) -> None:
    status, _, body = http("GET", cove.url + "/v2/apis")
    assert status == 403
    status, _, _ = http("GET", cove.url + "/2015-03-31/functions")
    assert status == 403


def test_apis_survive_a_restart(fresh_cove: CoveServer) -> None:
    arn = make_function(fresh_cove, ECHO)
    gw = fresh_cove.client("apigatewayv2")
    api = gw.create_api(Name="durable", ProtocolType="HTTP", Target=arn,
                        RouteKey="POST /sentiment")
    fresh_cove.restart()
    gw = fresh_cove.client("apigatewayv2")
    again = gw.get_api(ApiId=api["ApiId"])
    assert again["Name"] == "durable" and again["ApiEndpoint"] == f"{fresh_cove.url}/gw/" \
        f"{api['ApiId']}"
    assert [a["ApiId"] for a in gw.get_apis()["Items"]] == [api["ApiId"]]
    status, _, _ = http("POST", again["ApiEndpoint"] + "/sentiment", b"{}")
    assert status == 201
