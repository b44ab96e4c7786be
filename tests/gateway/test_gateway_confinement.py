"""What functions and bucket websites answer is content users control: it runs sandboxed, may
not set the console's cookie (a function's cookies stay under its API's path), and an API may
not open CORS with credentials to every origin."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.gateway.test_gateway import make_function

SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

COOKIES = """
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "text/html"},
            "cookies": ["cove_session=planted; Path=/ui; HttpOnly",
                        "Cove_Other=1; path=/ui/objects", "x=1; Path=/uix",
                        "cove_session=anywhere", "theirs=1; Path=/"],
            "multiValueHeaders": {"set-cookie": ["cove_session=again; Path=/"]},
            "body": "<script>document.title = 'ran'</script>"}
"""


@pytest.fixture
def gw(cove: CoveServer) -> Any:
    return cove.client("apigatewayv2")


def test_a_function_cannot_set_the_consoles_cookie(cove: CoveServer, gw: Any) -> None:
    api = gw.create_api(Name="cookies", ProtocolType="HTTP", Target=make_function(cove, COOKIES))
    answer = requests.get(api["ApiEndpoint"] + "/page", timeout=60)
    assert answer.status_code == 200
    root = f"/gw/{api['ApiId']}"  # Path=/ on an API's own host is the API's root here
    assert answer.raw.headers.getlist("set-cookie") == [f"x=1; Path={root}/uix",
                                                        f"theirs=1; Path={root}"]
    assert answer.headers["content-security-policy"] == SANDBOX


def test_cors_with_credentials_for_every_origin_is_refused(cove: CoveServer, gw: Any) -> None:
    wildcard = {"AllowOrigins": ["*"], "AllowCredentials": True, "AllowMethods": ["GET"]}
    with pytest.raises(ClientError) as refused:
        gw.create_api(Name="open", ProtocolType="HTTP", CorsConfiguration=wildcard)
    error = refused.value.response["Error"]
    assert error["Code"] == "BadRequestException"
    assert error["Message"] == "allow-credentials is not supported if 'allow-origin' is *"
    assert "open" not in [a["Name"] for a in gw.get_apis()["Items"]]
    api = gw.create_api(Name="narrow", ProtocolType="HTTP", CorsConfiguration={
        "AllowOrigins": ["http://app.example"], "AllowCredentials": True})
    with pytest.raises(ClientError) as refused:
        gw.update_api(ApiId=api["ApiId"], CorsConfiguration=wildcard)
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
    assert gw.get_api(ApiId=api["ApiId"])["CorsConfiguration"]["AllowOrigins"] == [
        "http://app.example"]


def test_a_sandboxed_page_reaches_an_api_open_to_every_origin(cove: CoveServer, gw: Any) -> None:
    """A sandboxed page's requests say ``Origin: null``; ``*`` lets them read the answer."""
    api = gw.create_api(Name="public", ProtocolType="HTTP", Target=make_function(cove, COOKIES),
                        CorsConfiguration={"AllowOrigins": ["*"], "AllowMethods": ["POST"]})
    answer = requests.post(api["ApiEndpoint"] + "/x", data="hi", timeout=60,
                           headers={"Origin": "null", "Content-Type": "text/plain"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_website_pages_and_objects_are_sandboxed(cove: CoveServer, bucket: str) -> None:
    s3 = cove.client("s3", signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>hi</h1>", ContentType="text/html")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}})
    page = requests.get(f"{cove.url}/site/{bucket}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-security-policy"] == SANDBOX
    missing = requests.get(f"{cove.url}/site/{bucket}/nope.html", timeout=30)
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == SANDBOX
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "index.html"})
    opened = requests.get(url, timeout=30)
    assert opened.content == b"<h1>hi</h1>"
    assert opened.headers["content-security-policy"] == SANDBOX
