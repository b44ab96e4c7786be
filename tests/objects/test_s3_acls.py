"""S3 ACLs, Object Ownership, anonymous requests and a second account, through boto3 and the
aws CLI: what AWS allows once a bucket's ownership enables ACLs, and every way around them an
attacker might try (unsigned writes, listings and reads of private objects, another account
reaching in, IAM bypassed by a public grant)."""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from cove.cli._client import cove_call
from tests.conftest import REGION, CoveServer
from tests.objects.test_awscli import AWS
from tests.objects.test_s3_role_actions import _role_client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def code(call: Any) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return str(err.value.response["Error"]["Code"])


def anonymous(cove: CoveServer) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=cove.url, region_name=REGION,
        config=BotoConfig(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"}))


def other_account(cove: CoveServer) -> tuple[Any, dict[str, Any]]:
    made = cove_call("CreateAccount", cove.home, {"Name": f"other-{uuid.uuid4().hex[:8]}"})
    client = boto3.session.Session().client(
        "s3", endpoint_url=cove.url, region_name=REGION,
        aws_access_key_id=made["AccessKeyId"], aws_secret_access_key=made["SecretAccessKey"],
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    return client, made


def acl_bucket(s3: Any, ownership: str = "ObjectWriter") -> str:
    name = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectOwnership=ownership)
    return name


def test_ownership_controls(s3: Any, bucket: str) -> None:
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]  # AWS's default
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    assert code(lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "Everyone"}]})) == "InvalidArgument"
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert code(lambda: s3.get_bucket_ownership_controls(Bucket=bucket)) == \
        "OwnershipControlsNotFoundError"
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")  # no controls: ACLs apply
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in grants


def test_default_buckets_stay_private_to_unsigned_requests(cove: CoveServer, s3: Any,
                                                           bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    assert code(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")) == \
        "AccessControlListNotSupported"
    anon = anonymous(cove)
    assert code(lambda: anon.get_object(Bucket=bucket, Key="k")) == "AccessDenied"
    assert code(lambda: anon.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert code(lambda: anon.put_object(Bucket=bucket, Key="k", Body=b"x")) == "AccessDenied"
    assert code(lambda: anon.list_buckets()) == "AccessDenied"
    assert code(lambda: anon.create_bucket(Bucket=f"anon-{uuid.uuid4().hex[:8]}")) == \
        "AccessDenied"
    assert code(lambda: anon.get_object(Bucket="no-such-bucket-here", Key="k")) == \
        "NoSuchBucket"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"


def test_public_read_object_in_a_private_bucket(cove: CoveServer, s3: Any) -> None:
    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="public", Body=b"hello", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    anon = anonymous(cove)
    assert anon.get_object(Bucket=bucket, Key="public")["Body"].read() == b"hello"
    assert anon.head_object(Bucket=bucket, Key="public")["ContentLength"] == 5
    # an unsigned link may not choose the answer's headers (text/html on cove's origin), as S3
    assert code(lambda: anon.get_object(Bucket=bucket, Key="public",
                                        ResponseContentType="text/html")) == "InvalidRequest"
    assert code(lambda: anon.get_object(Bucket=bucket, Key="private")) == "AccessDenied"
    assert code(lambda: anon.head_object(Bucket=bucket, Key="private")) == "403"
    # a key that is not there is not revealed to whom may not list
    assert code(lambda: anon.get_object(Bucket=bucket, Key="missing")) == "AccessDenied"
    assert code(lambda: anon.list_objects(Bucket=bucket)) == "AccessDenied"
    for write in (lambda: anon.put_object(Bucket=bucket, Key="public", Body=b"defaced"),
                  lambda: anon.put_object(Bucket=bucket, Key="new", Body=b"x"),
                  lambda: anon.delete_object(Bucket=bucket, Key="public"),
                  lambda: anon.delete_objects(Bucket=bucket,
                                              Delete={"Objects": [{"Key": "public"}]}),
                  lambda: anon.put_object_acl(Bucket=bucket, Key="private", ACL="public-read"),
                  lambda: anon.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
                  lambda: anon.get_object_acl(Bucket=bucket, Key="public"),
                  lambda: anon.put_bucket_versioning(
                      Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
                  lambda: anon.delete_public_access_block(Bucket=bucket),
                  lambda: anon.create_multipart_upload(Bucket=bucket, Key="m"),
                  lambda: anon.copy_object(Bucket=bucket, Key="c",
                                           CopySource={"Bucket": bucket, "Key": "private"}),
                  lambda: anon.delete_bucket(Bucket=bucket)):
        assert code(write) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["private", "public"]
    s3.put_object_acl(Bucket=bucket, Key="public", ACL="private")  # revoked at once
    assert code(lambda: anon.get_object(Bucket=bucket, Key="public")) == "AccessDenied"


def test_public_read_bucket_lists_but_does_not_open_private_objects(
        cove: CoveServer, s3: Any) -> None:
    bucket = acl_bucket(s3)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    anon = anonymous(cove)
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]] == ["private"]
    assert code(lambda: anon.get_object(Bucket=bucket, Key="private")) == "AccessDenied"
    assert code(lambda: anon.get_object(Bucket=bucket, Key="missing")) == "NoSuchKey"
    assert code(lambda: anon.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
    assert code(lambda: anon.get_bucket_acl(Bucket=bucket)) == "AccessDenied"
    assert code(lambda: anon.get_bucket_versioning(Bucket=bucket)) == "AccessDenied"


def test_public_read_write_bucket_takes_unsigned_writes(cove: CoveServer, s3: Any) -> None:
    bucket = acl_bucket(s3)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    anon = anonymous(cove)
    anon.put_object(Bucket=bucket, Key="dropped", Body=b"from anyone")
    assert code(lambda: anon.get_object(Bucket=bucket, Key="private")) == "AccessDenied"
    # what an unsigned write makes belongs to the bucket's owner
    assert s3.get_object(Bucket=bucket, Key="dropped")["Body"].read() == b"from anyone"
    assert s3.get_object_acl(Bucket=bucket, Key="dropped")["Owner"]["ID"] == "cove"
    anon.delete_object(Bucket=bucket, Key="private")  # WRITE on a bucket deletes, as on S3
    assert code(lambda: anon.delete_bucket(Bucket=bucket)) == "AccessDenied"


def test_public_access_block_refuses_and_ignores_public_acls(cove: CoveServer,
                                                             s3: Any) -> None:
    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    anon = anonymous(cove)
    assert anon.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True})
    assert code(lambda: anon.get_object(Bucket=bucket, Key="k")) == "AccessDenied"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True})
    assert anon.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    for public in (lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", ACL="public-read"),
                   lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
                   lambda: s3.put_object_acl(
                       Bucket=bucket, Key="k", GrantRead=f'uri="{ALL_USERS}"')):
        assert code(public) == "AccessDenied"
    assert code(lambda: s3.get_object(Bucket=bucket, Key="n")) == "NoSuchKey"


def test_a_public_grant_does_not_widen_a_role(cove: CoveServer, s3: Any) -> None:
    """IAM still decides for cove's own keys: a role without s3:GetObject is refused even an
    object everyone may read."""
    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    narrow = _role_client(cove, bucket, ["s3:ListBucket"])
    assert code(lambda: narrow.get_object(Bucket=bucket, Key="k")) == "AccessDenied"


def test_another_account(cove: CoveServer, s3: Any) -> None:
    other, made = other_account(cove)
    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"ours")
    # its own buckets only; ours are not its to take, read, list or configure
    theirs = f"theirs-{uuid.uuid4().hex[:8]}"
    other.create_bucket(Bucket=theirs)
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == [theirs]
    assert theirs not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert code(lambda: other.create_bucket(Bucket=bucket)) == "BucketAlreadyExists"
    assert code(lambda: s3.create_bucket(Bucket=theirs)) == "BucketAlreadyExists"
    for reach in (lambda: other.get_object(Bucket=bucket, Key="k"),
                  lambda: other.list_objects_v2(Bucket=bucket),
                  lambda: other.put_object(Bucket=bucket, Key="k", Body=b"mine"),
                  lambda: other.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
                  lambda: other.delete_bucket(Bucket=bucket),
                  lambda: other.copy_object(Bucket=theirs, Key="stolen",
                                            CopySource={"Bucket": bucket, "Key": "k"}),
                  lambda: s3.get_object(Bucket=theirs, Key="anything"),
                  lambda: s3.list_objects_v2(Bucket=theirs)):
        assert code(reach) == "AccessDenied"
    assert code(lambda: s3.list_objects_v2(Bucket=bucket,
                                           ExpectedBucketOwner=made["AccountId"])) == \
        "AccessDenied"
    ours = cove.client("sts").get_caller_identity()["Account"]
    source = {"Bucket": bucket, "Key": "k"}
    assert code(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource=source,
                                       ExpectedSourceBucketOwner=made["AccountId"])) == \
        "AccessDenied"
    s3.copy_object(Bucket=bucket, Key="c", CopySource=source, ExpectedSourceBucketOwner=ours,
                   ExpectedBucketOwner=ours)
    # it may use S3 only
    sagemaker = boto3.session.Session().client(
        "sagemaker", endpoint_url=cove.url, region_name=REGION,
        aws_access_key_id=made["AccessKeyId"], aws_secret_access_key=made["SecretAccessKey"])
    assert code(lambda: sagemaker.list_training_jobs()) == "AccessDeniedException"
    # a grant to its canonical id opens what it names, and nothing more
    s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{made["CanonicalUserId"]}"')
    assert other.get_object(Bucket=bucket, Key="k")["Body"].read() == b"ours"
    assert code(lambda: other.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert code(lambda: s3.put_object_acl(Bucket=bucket, Key="k",
                                          GrantRead='id="nobody-has-this-id"')) == \
        "InvalidArgument"
    assert code(lambda: s3.put_object_acl(Bucket=bucket, Key="k",
                                          GrantRead='emailAddress="a@example.com"')) == \
        "UnresolvableGrantByEmailAddress"


def test_object_writer_and_bucket_owner_preferred(cove: CoveServer, s3: Any) -> None:
    other, made = other_account(cove)
    writer = acl_bucket(s3)
    s3.put_bucket_acl(Bucket=writer, GrantWrite=f'id="{made["CanonicalUserId"]}"')
    other.put_object(Bucket=writer, Key="theirs", Body=b"x")
    upload = other.create_multipart_upload(Bucket=writer, Key="big")
    listed = s3.list_multipart_uploads(Bucket=writer)["Uploads"]
    assert [(u["Key"], u["Owner"]["ID"], u["Initiator"]["ID"]) for u in listed] == \
        [("big", made["CanonicalUserId"], made["CanonicalUserId"])]
    other.abort_multipart_upload(Bucket=writer, Key="big", UploadId=upload["UploadId"])
    # ObjectWriter: the writer owns it; the bucket owner may delete it, not read it
    assert code(lambda: s3.get_object(Bucket=writer, Key="theirs")) == "AccessDenied"
    assert other.get_object_acl(Bucket=writer, Key="theirs")["Owner"]["ID"] == \
        made["CanonicalUserId"]
    s3.delete_object(Bucket=writer, Key="theirs")

    preferred = acl_bucket(s3, "BucketOwnerPreferred")
    s3.put_bucket_acl(Bucket=preferred, GrantWrite=f'id="{made["CanonicalUserId"]}"')
    other.put_object(Bucket=preferred, Key="given", Body=b"y", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=preferred, Key="given")["Body"].read() == b"y"
    assert s3.get_object_acl(Bucket=preferred, Key="given")["Owner"]["ID"] == "cove"


def test_listings_and_list_parts_name_each_objects_owner(cove: CoveServer, s3: Any) -> None:
    """Owner in ListObjects(V2), ListObjectVersions and ListParts is the account that owns
    the object (the bucket owner, or under ObjectWriter the writer), as GetObjectAcl says."""
    other, made = other_account(cove)
    theirs = f"own-{uuid.uuid4().hex[:12]}"
    other.create_bucket(Bucket=theirs)
    other.put_object(Bucket=theirs, Key="k", Body=b"x")
    me = made["CanonicalUserId"]
    assert other.list_objects_v2(Bucket=theirs, FetchOwner=True)["Contents"][0]["Owner"][
        "ID"] == me
    assert other.list_objects(Bucket=theirs)["Contents"][0]["Owner"]["ID"] == me
    assert other.list_object_versions(Bucket=theirs)["Versions"][0]["Owner"]["ID"] == me
    assert "Owner" not in other.list_objects_v2(Bucket=theirs)["Contents"][0]
    upload = other.create_multipart_upload(Bucket=theirs, Key="big")["UploadId"]
    parts = other.list_parts(Bucket=theirs, Key="big", UploadId=upload)
    assert (parts["Initiator"]["ID"], parts["Owner"]["ID"]) == (me, me)
    other.abort_multipart_upload(Bucket=theirs, Key="big", UploadId=upload)

    writer = acl_bucket(s3)
    s3.put_bucket_acl(Bucket=writer, GrantWrite=f'id="{me}"')
    other.put_object(Bucket=writer, Key="theirs", Body=b"x")
    s3.put_object(Bucket=writer, Key="ours", Body=b"y")
    listed = s3.list_objects_v2(Bucket=writer, FetchOwner=True)["Contents"]
    assert {o["Key"]: o["Owner"]["ID"] for o in listed} == {"ours": "cove", "theirs": me}
    versions = s3.list_object_versions(Bucket=writer)["Versions"]
    assert {v["Key"]: v["Owner"]["ID"] for v in versions} == {"ours": "cove", "theirs": me}
    upload = other.create_multipart_upload(Bucket=writer, Key="big")["UploadId"]
    parts = s3.list_parts(Bucket=writer, Key="big", UploadId=upload)
    assert (parts["Initiator"]["ID"], parts["Owner"]["ID"]) == (me, me)
    s3.abort_multipart_upload(Bucket=writer, Key="big", UploadId=upload)


def test_aws_cli_reads_a_public_dataset_unsigned(cove: CoveServer, s3: Any) -> None:
    bucket = acl_bucket(s3)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"a,b\n1,2\n", ACL="public-read")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS")}
    env.update(AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AWS, *args, "--no-sign-request", "--endpoint-url", cove.url],
                              env=env, capture_output=True, text=True, timeout=60)

    listed = aws("s3", "ls", f"s3://{bucket}/data/")
    assert listed.returncode == 0 and "train.csv" in listed.stdout, listed.stderr
    copied = aws("s3", "cp", f"s3://{bucket}/data/train.csv", "-")
    assert copied.returncode == 0 and copied.stdout == "a,b\n1,2\n", copied.stderr
    refused = aws("s3", "cp", "-", f"s3://{bucket}/data/evil.csv")
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr


def test_acls_and_accounts_survive_a_restart(fresh_cove: CoveServer) -> None:
    s3 = fresh_cove.client("s3")
    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    other, made = other_account(fresh_cove)
    other.create_bucket(Bucket="theirs-after-restart")
    fresh_cove.restart()
    assert anonymous(fresh_cove).get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    other, _ = boto3.session.Session().client(
        "s3", endpoint_url=fresh_cove.url, region_name=REGION,
        aws_access_key_id=made["AccessKeyId"], aws_secret_access_key=made["SecretAccessKey"],
        config=BotoConfig(s3={"addressing_style": "path"})), None
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == ["theirs-after-restart"]


def test_a_bad_signature_is_refused_not_taken_as_anonymous(cove: CoveServer, s3: Any) -> None:
    import requests

    bucket = acl_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"public", ACL="public-read")
    url = f"{cove.url}/{bucket}/k"
    assert requests.get(url, timeout=30).content == b"public"  # unsigned: as everyone
    for attempt in ({"headers": {"Authorization": "AWS AKIAFAKE:c2lnbmF0dXJl"}},
                    {"params": {"X-Amz-Credential": "garbage", "X-Amz-Signature": "00"}},
                    {"params": {"AWSAccessKeyId": "AKIAFAKE", "Signature": "x",
                                "Expires": "9999999999"}}):
        answer = requests.get(url, timeout=30, **attempt)  # type: ignore[arg-type]
        assert answer.status_code in (400, 403) and b"public" not in answer.content
    # unsigned requests for the other services are refused as before
    answer = requests.post(cove.url + "/", data=b"{}", timeout=30, headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs",
        "Content-Type": "application/x-amz-json-1.1"})
    assert answer.status_code in (400, 403) and "TrainingJobSummaries" not in answer.text


def test_cli_creates_and_lists_accounts(cove: CoveServer) -> None:
    cove_bin = str(__import__("pathlib").Path(AWS).with_name("cove"))
    env = {**os.environ, "COVE_HOME": str(cove.home)}
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([cove_bin, "accounts", "create", name], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    keys = dict(line.removeprefix("export ").split("=", 1) for line in made.stdout.splitlines()
                if line.startswith("export "))
    other = boto3.session.Session().client(
        "s3", endpoint_url=cove.url, region_name=REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        config=BotoConfig(s3={"addressing_style": "path"}))
    assert other.list_buckets()["Buckets"] == []
    listed = subprocess.run([cove_bin, "accounts", "ls"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0 and name in listed.stdout and "cove" in listed.stdout
    again = subprocess.run([cove_bin, "accounts", "create", name], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "exists already" in again.stdout + again.stderr
    hostile = subprocess.run([cove_bin, "accounts", "create", "../x;rm -rf"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert hostile.returncode != 0 and "account name" in hostile.stdout + hostile.stderr


def test_a_database_from_before_acls_is_upgraded_with_its_uploads(tmp_path: Any) -> None:
    """An open multipart upload of an older cove (no acl column) is kept, and is the bucket
    owner's; the new tables are made."""
    from sqlalchemy import delete, inspect, select, text

    from cove.meta import Database
    from cove.meta import tables as t

    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url, migrate=True)
    with db.write() as conn:  # rebuild multipart_uploads as it was, with one upload in it
        conn.execute(text("DROP TABLE multipart_uploads"))
        conn.execute(text(
            "CREATE TABLE multipart_uploads (upload_id VARCHAR(64) PRIMARY KEY, bucket "
            "VARCHAR(63), key TEXT, initiated FLOAT, content_type TEXT, headers JSON, "
            "user_metadata JSON, checksum_algorithm VARCHAR(16), checksum_type VARCHAR(16))"))
        conn.execute(text("INSERT INTO multipart_uploads VALUES ('u1', 'b', 'k', 1.0, "
                          "'text/plain', '{}', '{}', '', '')"))
        for table in (t.object_acls, t.s3_accounts):
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version >= 10))
    db.close()
    db = Database(url, migrate=True)
    with db.read() as conn:
        assert conn.execute(select(t.multipart_uploads.c.upload_id,
                                   t.multipart_uploads.c.acl)).all() == [("u1", None)]
        tables = set(inspect(conn).get_table_names())
    assert {"object_acls", "s3_accounts"} <= tables
    db.close()
