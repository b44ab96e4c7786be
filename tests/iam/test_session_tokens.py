"""A temporary key is only half its credentials: every request it signs must carry its session
token (header or presigned query), or it is refused in each protocol's own words, as AWS refuses
it.  Covered for AssumeRole's keys here; the keys of jobs, workers, functions and notebooks
reach their code with a token too (their narrow-role tests call cove with nothing else)."""

from __future__ import annotations

import calendar
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cove import errors
from cove.edge._sigv4 import Verifier, WireRequest
from cove.identity import Principal
from tests.conftest import REGION, CoveServer
from tests.iam.test_iam_api import account_trust, name

#: (service, a call every key the default role holds may make, the protocol's refusals:
#: (code, status) without the token, and with a wrong one)
CALLS: list[tuple[str, Any, tuple[str, int], tuple[str, int]]] = [
    ("s3", lambda c: c.list_buckets(), ("InvalidAccessKeyId", 403), ("InvalidToken", 400)),
    ("sagemaker", lambda c: c.list_models(), ("UnrecognizedClientException", 403),
     ("UnrecognizedClientException", 400)),
    ("logs", lambda c: c.describe_log_groups(), ("UnrecognizedClientException", 403),
     ("UnrecognizedClientException", 400)),
    ("lambda", lambda c: c.list_functions(), ("UnrecognizedClientException", 403),
     ("UnrecognizedClientException", 403)),
    ("sts", lambda c: c.get_caller_identity(), ("InvalidClientTokenId", 403),
     ("InvalidClientTokenId", 403)),
    ("iam", lambda c: c.list_roles(), ("InvalidClientTokenId", 403),
     ("InvalidClientTokenId", 403)),
]

WRONG = {"s3": "The provided token is malformed or otherwise invalid."}


def assumed(cove: CoveServer, session: str = "tokens") -> dict[str, Any]:
    """Keys of a role that may do everything the default role may."""
    iam, sts = cove.client("iam"), cove.client("sts")
    account = sts.get_caller_identity()["Account"]
    role = name("tokens")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(account_trust(account)))
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    creds: dict[str, Any] = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                                            RoleSessionName=session)["Credentials"]
    return creds


def client(cove: CoveServer, service: str, key: str, secret: str, token: str | None,
           **s3: Any) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=cove.url, region_name=REGION, aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token,
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **s3))


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"].get("Message", ""))


@pytest.mark.parametrize(("service", "call", "missing", "wrong"), CALLS,
                         ids=[c[0] for c in CALLS])
def test_a_temporary_key_needs_its_own_token(cove: CoveServer, service: str, call: Any,
                                             missing: tuple[str, int],
                                             wrong: tuple[str, int]) -> None:
    creds, other = assumed(cove), assumed(cove, "other")
    key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    call(client(cove, service, key, secret, token))  # with its token, it works

    code, status, message = refusal(lambda: call(client(cove, service, key, secret, None)))
    assert (code, status) == missing
    assert "session token" in message
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                other["SessionToken"], "", "x" * 5000):
        code, status, message = refusal(
            lambda bad=bad: call(client(cove, service, key, secret, bad)))
        if bad == "":  # botocore sends no header for an empty token: that is a missing one
            assert (code, status) == missing
            continue
        assert (code, status) == wrong, bad[:20]
        assert message == WRONG.get(service,
                                    "The security token included in the request is invalid.")


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])  # SigV4, SigV2 (boto3's default)
def test_presigned_urls_carry_the_token_in_their_query(cove: CoveServer,
                                                       signature_version: str | None) -> None:
    cove.client("s3").create_bucket(Bucket=(bucket := name("presign")))
    cove.client("s3").put_object(Bucket=bucket, Key="k", Body=b"private")
    creds = assumed(cove)
    s3 = client(cove, "s3", creds["AccessKeyId"], creds["SecretAccessKey"],
                creds["SessionToken"], signature_version=signature_version)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert requests.get(url, timeout=30).content == b"private"

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    token_name = next(k for k, _ in query if k.lower() == "x-amz-security-token")
    stripped = urlunsplit(parts._replace(query=urlencode(
        [(k, v) for k, v in query if k != token_name])))
    answer = requests.get(stripped, timeout=30)
    assert answer.status_code == 403 and b"<Code>InvalidAccessKeyId</Code>" in answer.content
    swapped = urlunsplit(parts._replace(query=urlencode(
        [(k, assumed(cove, "thief")["SessionToken"] if k == token_name else v)
         for k, v in query])))
    answer = requests.get(swapped, timeout=30)
    assert answer.status_code == 400 and b"<Code>InvalidToken</Code>" in answer.content


def test_an_unsigned_token_header_is_refused(cove: CoveServer) -> None:
    """The token header must be covered by the signature, like every x-amz-* header."""
    creds = assumed(cove)
    request = AWSRequest("POST", cove.url + "/", data="Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]), "sts",
              REGION).add_auth(request)
    headers = {**dict(request.headers), "X-Amz-Security-Token": creds["SessionToken"]}
    answer = requests.post(cove.url + "/", data=request.body, headers=headers, timeout=30)
    assert answer.status_code == 403 and b"<Code>IncompleteSignature</Code>" in answer.content
    del headers["X-Amz-Security-Token"]
    request = AWSRequest("POST", cove.url + "/", data=request.body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                          creds["SessionToken"]), "sts", REGION).add_auth(request)
    answer = requests.post(cove.url + "/", data=request.body, headers=dict(request.headers),
                           timeout=30)
    assert answer.status_code == 200 and b"assumed-role/" in answer.content


def test_the_root_key_needs_no_token(cove: CoveServer) -> None:
    """cove's own long-term key pair is not temporary; a stale AWS_SESSION_TOKEN from a real AWS
    session in the shell does not break it."""
    root = cove.credentials
    s3 = client(cove, "s3", root["access_key_id"], root["secret_access_key"], "stale-token")
    assert "Buckets" in s3.list_buckets()


SECRET = "temporary-secret"
TOKEN = "its-token"
NOW = calendar.timegm(time.strptime("20260101T000000Z", "%Y%m%dT%H%M%SZ"))


@pytest.mark.parametrize(("service", "protocol", "code", "status", "message"), [
    ("s3", "rest-xml", "ExpiredToken", 400, "The provided token has expired."),
    ("sagemaker", "json", "ExpiredTokenException", 400,
     "The security token included in the request is expired"),
    ("lambda", "rest-json", "ExpiredTokenException", 403,
     "The security token included in the request is expired"),
    ("sts", "query", "ExpiredToken", 403,
     "The security token included in the request is expired"),
])
def test_an_expired_key_says_so(service: str, protocol: str, code: str, status: int,
                                message: str) -> None:
    """AssumeRole's keys end at their Expiration with AWS's ExpiredToken (the verifier's clock
    is injected: the shortest session is 15 minutes)."""
    principal = Principal("ASIAEXPIRED", SECRET, "123456789012", "arn:aws:sts::1:x/y/z",
                          TOKEN, expires=NOW - 1)
    verifier = Verifier(lambda k: principal if k == "ASIAEXPIRED" else None, clock=lambda: NOW)
    date = time.strftime("%Y%m%d", time.gmtime(NOW))
    headers = [("host", "cove.test"), ("x-amz-date", f"{date}T000000Z"),
               ("x-amz-security-token", TOKEN),
               ("authorization", f"AWS4-HMAC-SHA256 Credential=ASIAEXPIRED/{date}/{REGION}/"
                                 f"{service}/aws4_request, SignedHeaders=host;x-amz-date;"
                                 f"x-amz-security-token, Signature={'0' * 64}")]
    with pytest.raises(errors.ExpiredToken) as info:
        verifier.verify(WireRequest("GET", "/", "", headers), lambda: "UNSIGNED-PAYLOAD")
    assert (info.value.code_for(protocol), info.value.status_for(protocol),
            info.value.message) == (code, status, message)
