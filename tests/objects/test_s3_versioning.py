"""Bucket versioning through boto3: versions, delete markers, reads and deletes by version id,
copies of a version, suspension, listings and their pages, and a restart that keeps them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def _enable(s3: Any, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def _versions(s3: Any, bucket: str, **kwargs: Any) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker), in listing order."""
    answer = s3.list_object_versions(Bucket=bucket, **kwargs)
    return sorted(((v["Key"], v["VersionId"], v["IsLatest"], marker)
                   for marker, name in ((False, "Versions"), (True, "DeleteMarkers"))
                   for v in answer.get(name, [])), key=lambda v: (v[0], not v[2]))


def test_versions_and_delete_markers(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    _enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    old = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert old["Body"].read() == b"one" and old["VersionId"] == v1
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == 3
    assert _versions(s3, bucket) == [("k", v2, True, False), ("k", v1, False, False)]

    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    for read in (s3.get_object, s3.head_object):  # the latest version is a marker: 404
        with pytest.raises(ClientError) as err:
            read(Bucket=bucket, Key="k")
        meta = err.value.response["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 404
        assert meta["HTTPHeaders"]["x-amz-delete-marker"] == "true"
        assert meta["HTTPHeaders"]["x-amz-version-id"] == marker
    assert error_code(err) in ("NoSuchKey", "404")
    for read in (s3.get_object, s3.head_object):  # a delete marker has no bytes: 405
        with pytest.raises(ClientError) as err:
            read(Bucket=bucket, Key="k", VersionId=marker)
        meta = err.value.response["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 405
        assert meta["HTTPHeaders"]["x-amz-delete-marker"] == "true"
        assert meta["HTTPHeaders"]["x-amz-version-id"] == marker
        assert "last-modified" in meta["HTTPHeaders"]
    with pytest.raises(ClientError) as err:  # a key that never existed: no marker header
        s3.get_object(Bucket=bucket, Key="never")
    assert "x-amz-delete-marker" not in err.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert ("k", marker, True, True) in _versions(s3, bucket)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    # deleting the marker brings the newest version back; deleting a version is for good
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)["DeleteMarker"] is True
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _versions(s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)


def test_bad_and_unknown_version_ids(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bad in ("not-a-version", "../k", "A" * 32, "0" * 31):
        with pytest.raises(ClientError) as err:
            s3.get_object(Bucket=bucket, Key="k", VersionId=bad)
        assert error_code(err) == "InvalidArgument"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert error_code(err) == "NoSuchVersion"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="c",
                       CopySource={"Bucket": bucket, "Key": "k", "VersionId": "0" * 32})
    assert error_code(err) == "NoSuchVersion"
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Sometimes"})
    assert error_code(err) == "MalformedXML"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # a key that never had such a version: deleting it changes nothing
    s3.delete_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_copy_of_a_version_and_multi_delete(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=bucket, Key="dst",
                            CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"] != v1
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"first"
    every = [{"Key": k, "VersionId": v} for k, v, _, _ in _versions(s3, bucket)]
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": every})
    assert sorted((d["Key"], d["VersionId"]) for d in answer["Deleted"]) == \
        sorted((o["Key"], o["VersionId"]) for o in every)
    assert _versions(s3, bucket) == []
    marked = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "gone"}]})
    assert marked["Deleted"][0]["DeleteMarker"] is True
    assert marked["Deleted"][0]["DeleteMarkerVersionId"]


def test_one_multi_delete_applies_its_entries_in_order(s3: Any, bucket: str) -> None:
    """DeleteObjects deletes its entries in one transaction, each seeing the ones before it;
    the answer keeps the request's order, invalid entries failing on their own."""
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    keys = [f"many/{n:04d}" for n in range(997)]
    for key in keys[:3]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "k"},  # a delete marker over v1
        {"Key": "k", "VersionId": v1},  # then v1 itself: the marker is all that is left
        {"Key": "k", "VersionId": "not-a-version"},
        *({"Key": key} for key in keys)]})
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("k", "InvalidArgument")]
    deleted = answer["Deleted"]
    assert [d["Key"] for d in deleted] == ["k", "k", *keys]
    marker = deleted[0]["DeleteMarkerVersionId"]
    assert deleted[0]["DeleteMarker"] is True and deleted[1]["VersionId"] == v1
    assert "DeleteMarker" not in deleted[1]
    assert all(d["DeleteMarker"] is True for d in deleted[2:])  # each key a marker of its own
    left = _versions(s3, bucket)
    assert ("k", marker, True, True) in left and not [v for v in left if v[1] == v1]
    assert [v for v in left if v[0] == "many/0000" and not v[3]]  # kept, noncurrent
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(err) == "NoSuchKey"


def test_a_bucket_with_versions_is_not_empty(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")  # only a marker and a noncurrent version left
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(err) == "BucketNotEmpty"


def test_suspended_versioning_overwrites_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # version "null"
    _enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    _enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 1")["VersionId"] == "null"
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 2")
    assert put["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == "null"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    listed = _versions(s3, bucket)
    assert [(v, latest) for _, v, latest, _ in listed] == [("null", True), (kept, False)]
    deleted = s3.delete_object(Bucket=bucket, Key="other")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"suspended 2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"enabled"


def test_version_listing_pages_and_rolls_up(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    for key in ("a", "a", "b/1", "b/2", "c", "c", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    everything = _versions(s3, bucket)
    seen, kwargs = [], {"Bucket": bucket, "MaxKeys": 2}
    while True:
        page = s3.list_object_versions(**kwargs)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"],
                      VersionIdMarker=page["NextVersionIdMarker"])
    assert sorted(seen) == sorted((k, v) for k, v, _, _ in everything)
    assert len(seen) == 7
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    assert sorted({v["Key"] for v in rolled["Versions"]}) == ["a", "c"]


def test_versions_survive_a_restart(fresh_cove: Any) -> None:
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="kept")
    _enable(s3, "kept")
    v1 = s3.put_object(Bucket="kept", Key="k", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket="kept", Key="k", Body=b"new bytes")
    fresh_cove.kill()
    fresh_cove.start()  # the start-up sweep must not take a noncurrent version's blob
    s3 = fresh_cove.client("s3")
    assert s3.get_object(Bucket="kept", Key="k", VersionId=v1)["Body"].read() == b"old bytes"
    assert s3.get_bucket_versioning(Bucket="kept")["Status"] == "Enabled"


def test_a_database_from_before_versioning_is_upgraded_with_its_objects(tmp_path: Any) -> None:
    """The objects table of an older cove has no version_id: the migration adds it ("null")
    and keeps every row."""
    from sqlalchemy import delete, insert, select, text

    from cove.meta import Database
    from cove.meta import tables as t

    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url, migrate=True)
    with db.write() as conn:  # rebuild objects as it was, with one object in it
        conn.execute(text("DROP TABLE objects"))
        conn.execute(text(
            "CREATE TABLE objects (bucket VARCHAR(63), key TEXT, size BIGINT, etag VARCHAR(64),"
            " last_modified FLOAT, content_type TEXT, headers JSON, user_metadata JSON,"
            " checksum JSON, parts JSON, PRIMARY KEY (bucket, key))"))
        conn.execute(text(
            "INSERT INTO objects VALUES ('b', 'k', 1, '\"e\"', 1.0, 'text/plain', '{}', '{}',"
            " '{}', '[[\"blob\", 1]]')"))
        for table in (t.bucket_settings, t.object_versions):
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version >= 9))
    db.close()
    db = Database(url, migrate=True)  # the server does this at start
    with db.read() as conn:
        row = conn.execute(select(t.objects)).one()
    assert (row.key, row.version_id, row.parts) == ("k", "null", [["blob", 1]])
    with db.write() as conn:
        conn.execute(insert(t.object_versions).values(
            bucket="b", key="k", version_id="v", seq=1, delete_marker=True, size=0, etag="",
            last_modified=0.0, content_type="", headers={}, user_metadata={}, checksum={},
            parts=[]))
