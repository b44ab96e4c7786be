"""The conformance suite of the data-plane swap point (:class:`cove.training.DataPlane`): how a
training or processing host gets its channels and hands back its model, whether it runs beside
cove's disk (``LocalDataPlane``) or away from it, through the S3 API (``S3DataPlane``, on Ray).

Both must name files the same way (keys relative to the channel's prefix; one object under its
own name; a manifest's entries relative to its prefix), shard the same way, refuse keys that
would leave the channel directory, and report a missing object as a client error (a job's
FailureReason), writing nothing.  A new data plane adds a harness to
``test_data_plane_conformance.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import pytest

from cove import errors
from cove.training import DataPlane


class Harness(Protocol):
    plane: DataPlane
    #: A bucket of this test's own, already created.
    bucket: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and content type."""
        ...


def _channel(uri: str, kind: str = "S3Prefix") -> dict[str, Any]:
    return {"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3Uri": uri, "S3DataType": kind, "S3DataDistributionType": "FullyReplicated"}}}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


class DataPlaneConformance:
    """Subclass with a ``harness`` fixture."""

    def test_a_prefix_channel_lands_relative_to_its_prefix(self, harness: Harness,
                                                           tmp_path: Path) -> None:
        for key in ("data/train/a.csv", "data/train/sub/b.csv", "data/trainer.csv", "other"):
            harness.put(key, key.encode())
        count = harness.plane.fetch_channel(
            _channel(f"s3://{harness.bucket}/data/train/"), tmp_path / "in")
        assert count == 2
        assert _files(tmp_path / "in") == {"a.csv": b"data/train/a.csv",
                                           "sub/b.csv": b"data/train/sub/b.csv"}

    def test_a_uri_naming_one_object_gives_it_under_its_own_name(
            self, harness: Harness, tmp_path: Path) -> None:
        harness.put("models/model.tar.gz", b"tar")
        harness.plane.fetch_channel(_channel(f"s3://{harness.bucket}/models/model.tar.gz"),
                                    tmp_path / "in")
        assert _files(tmp_path / "in") == {"model.tar.gz": b"tar"}

    def test_shards_split_the_objects_by_key(self, harness: Harness, tmp_path: Path) -> None:
        for n in range(5):
            harness.put(f"s/{n}", str(n).encode())
        uri = f"s3://{harness.bucket}/s/"
        got = [_files(tmp_path / f"h{i}") if harness.plane.fetch_channel(
            _channel(uri), tmp_path / f"h{i}", (i, 2)) else {} for i in range(2)]
        assert got == [{"0": b"0", "2": b"2", "4": b"4"}, {"1": b"1", "3": b"3"}]

    def test_a_manifest_lists_objects_relative_to_its_prefix(self, harness: Harness,
                                                             tmp_path: Path) -> None:
        harness.put("m/x/1.csv", b"one")
        harness.put("m/x/2.csv", b"two")
        harness.put("m/x/unlisted", b"no")
        harness.put("manifest.json", json.dumps(
            [{"prefix": f"s3://{harness.bucket}/m/"}, "x/1.csv", "x/2.csv"]).encode())
        count = harness.plane.fetch_channel(
            _channel(f"s3://{harness.bucket}/manifest.json", "ManifestFile"), tmp_path / "in")
        assert count == 2 and _files(tmp_path / "in") == {"x/1.csv": b"one", "x/2.csv": b"two"}

    def test_a_malformed_manifest_is_a_validation_error(self, harness: Harness,
                                                        tmp_path: Path) -> None:
        harness.put("bad.json", b'{"not": "a list"}')
        with pytest.raises(errors.ValidationError, match="not a manifest file"):
            harness.plane.fetch_channel(
                _channel(f"s3://{harness.bucket}/bad.json", "ManifestFile"), tmp_path / "in")

    def test_a_key_that_would_leave_the_channel_is_refused(self, harness: Harness,
                                                           tmp_path: Path) -> None:
        harness.put("p/../../escape", b"x")
        with pytest.raises(errors.ValidationError):
            harness.plane.fetch_channel(_channel(f"s3://{harness.bucket}/p/"),
                                        tmp_path / "in" / "train")
        assert not (tmp_path / "escape").exists() and not (tmp_path / "in" / "escape").exists()

    def test_a_missing_object_is_a_client_error_and_writes_nothing(
            self, harness: Harness, tmp_path: Path) -> None:
        with pytest.raises(errors.ClientError):
            harness.plane.fetch_object(f"s3://{harness.bucket}/absent", tmp_path / "t")
        with pytest.raises(errors.ClientError):
            harness.plane.fetch_object("s3://no-such-bucket-conformance/k", tmp_path / "t")
        assert not (tmp_path / "t").exists()

    def test_fetch_upload_and_count(self, harness: Harness, tmp_path: Path) -> None:
        harness.put("one", b"1")
        harness.plane.fetch_object(f"s3://{harness.bucket}/one", tmp_path / "one")
        assert (tmp_path / "one").read_bytes() == b"1"
        model = tmp_path / "model.tar.gz"
        model.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 8)
        harness.plane.upload_file(model, f"s3://{harness.bucket}/out/job/model.tar.gz",
                                  "application/x-tar")
        assert harness.get("out/job/model.tar.gz") == (model.read_bytes(), "application/x-tar")
        assert harness.plane.count_objects(f"s3://{harness.bucket}/out/") == 1
        assert harness.plane.count_objects(f"s3://{harness.bucket}/nothing/") == 0
