"""Both data planes against the one conformance suite
(:mod:`tests.training.data_plane_conformance`): the local one on a store in this process, the
S3 one against a real cove server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cove.meta import Database
from cove.objects import LocalObjectStore
from cove.training import DataPlane, LocalDataPlane
from cove.training._data import S3DataPlane
from tests.conftest import REGION, CoveServer
from tests.training.data_plane_conformance import DataPlaneConformance

_numbers = itertools.count()


class LocalHarness:
    def __init__(self, place: Path) -> None:
        self.store = LocalObjectStore(Database(f"sqlite:///{place / 'cove.db'}", migrate=True),
                                      place / "objects")
        self.bucket = "conformance"
        self.store.create_bucket(self.bucket, REGION)
        self.plane: DataPlane = LocalDataPlane(self.store)

    def put(self, key: str, data: bytes) -> None:
        source = Path(self.store.blobs.root.parent / "upload.tmp")
        source.write_bytes(data)
        self.store.put_file(self.bucket, key, source)
        source.unlink()

    def get(self, key: str) -> tuple[bytes, str]:
        info = self.store.head_object(self.bucket, key)
        return self.store.read(info, 0, info.size), info.attributes.content_type


class S3Harness:
    def __init__(self, cove: CoveServer) -> None:
        self.s3 = cove.client("s3")
        self.bucket = f"plane-conformance-{next(_numbers)}"
        self.s3.create_bucket(Bucket=self.bucket)
        c = cove.credentials
        self.plane = S3DataPlane({"AWS_ENDPOINT_URL": cove.url, "AWS_REGION": REGION,
                                  "AWS_ACCESS_KEY_ID": c["access_key_id"],
                                  "AWS_SECRET_ACCESS_KEY": c["secret_access_key"]})

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> tuple[bytes, str]:
        answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        return answer["Body"].read(), answer["ContentType"]


class TestDataPlane(DataPlaneConformance):
    @pytest.fixture(params=["local", "s3"])
    def harness(self, request: Any, tmp_path: Path) -> Iterator[Any]:
        if request.param == "local":
            harness = LocalHarness(tmp_path)
            yield harness
            harness.store.db.close()
        else:
            yield S3Harness(request.getfixturevalue("cove"))
