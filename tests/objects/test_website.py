"""Static website hosting: the S3 website API through boto3, and the public site it serves."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

INDEX = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}}


def _site(cove: Any, bucket: str, path: str = "") -> str:
    return f"{cove.url}/site/{bucket}/{path}"


def test_website_serves_a_configured_bucket_only(cove: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>home</h1>",
                  ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="app.js", Body=b"console.log(1)")  # no content type given
    s3.put_object(Bucket=bucket, Key="docs/index.html", Body=b"<h1>docs</h1>")
    s3.put_object(Bucket=bucket, Key="404.html", Body=b"<h1>lost</h1>")
    assert requests.get(_site(cove, bucket)).status_code == 404  # not a website yet: private
    with pytest.raises(ClientError) as err:
        s3.get_bucket_website(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"

    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=INDEX)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "404.html"}
    home = requests.get(_site(cove, bucket))
    assert home.status_code == 200 and home.text == "<h1>home</h1>"
    assert home.headers["content-type"].startswith("text/html")
    script = requests.get(_site(cove, bucket, "app.js"))
    assert "javascript" in script.headers["content-type"]
    docs = requests.get(f"{cove.url}/site/{bucket}/docs", allow_redirects=True)
    assert docs.text == "<h1>docs</h1>"
    missing = requests.get(_site(cove, bucket, "nope.html"))
    assert missing.status_code == 404 and missing.text == "<h1>lost</h1>"
    assert requests.post(_site(cove, bucket), data=b"x").status_code == 405
    assert requests.head(_site(cove, bucket, "index.html")).headers["content-length"] == "13"

    s3.delete_bucket_website(Bucket=bucket)
    assert requests.get(_site(cove, bucket)).status_code == 404


def test_website_configuration_is_validated_and_dies_with_its_bucket(cove: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="site-lifecycle")
    with pytest.raises(ClientError) as err:
        s3.put_bucket_website(Bucket="site-lifecycle", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "a/b.html"}})
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as err:
        s3.put_bucket_website(Bucket="no-such-bucket-here", WebsiteConfiguration=INDEX)
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
    s3.put_bucket_website(Bucket="site-lifecycle", WebsiteConfiguration=INDEX)
    s3.delete_bucket(Bucket="site-lifecycle")
    s3.create_bucket(Bucket="site-lifecycle")  # a new bucket of that name is private again
    s3.put_object(Bucket="site-lifecycle", Key="index.html", Body=b"secret")
    assert requests.get(_site(cove, "site-lifecycle")).status_code == 404
    with pytest.raises(ClientError) as err:
        s3.get_bucket_website(Bucket="site-lifecycle")
    assert err.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
