"""The hosting records: the endpoint lifecycle refuses moves it does not allow, the stored
layout reads back as the same record, and DeleteEndpoint's rules (its tags go with it) live in
the service the API and the console both call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from cove import errors
from cove.hosting import EndpointConfig, EndpointStatus, describe_endpoint
from cove.hosting._records import Capture, DeployedVariant, Endpoint, PendingUpdate
from cove.hosting._rows import dump_config, dump_endpoint, load_config, load_endpoint


def _endpoint(status: EndpointStatus = EndpointStatus.CREATING) -> Endpoint:
    return Endpoint("ep", "arn:ep", "c1", status, 1.0, 1.0,
                    capture=Capture(True, 50, "s3://b/capture"))


def test_endpoint_lifecycle_allows_only_its_moves() -> None:
    serving = _endpoint().serving("c1", (DeployedVariant("v", "img", 2.0, 1.0, 1, 1),))
    assert serving.status is EndpointStatus.IN_SERVICE and serving.status.serves()
    updating = serving.moved(EndpointStatus.UPDATING, pending=PendingUpdate("c2", 3.0))
    assert updating.status.is_changing()
    rolled_back = updating.failed(EndpointStatus.IN_SERVICE, "rolled back")
    assert rolled_back.pending is None and rolled_back.failure_reason == "rolled back"
    failed = _endpoint().failed(EndpointStatus.FAILED, "no model")
    for illegal in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING,
                    EndpointStatus.OUT_OF_SERVICE):
        with pytest.raises(errors.ValidationError, match="is Failed; it cannot become"):
            failed.moved(illegal)
    assert failed.moved(EndpointStatus.DELETING).status is EndpointStatus.DELETING
    assert not any(EndpointStatus.DELETING.can_become(s) for s in EndpointStatus)
    with pytest.raises(errors.ValidationError):
        _endpoint(EndpointStatus.OUT_OF_SERVICE).moved(EndpointStatus.UPDATING)


def test_stored_hosting_layout_round_trips() -> None:
    endpoint = _endpoint().serving("c1", (DeployedVariant("v", "img", 2.0, 0.5, 1, 2),))
    endpoint = endpoint.moved(EndpointStatus.UPDATING, pending=PendingUpdate("c2", 3.0))
    assert load_endpoint(dump_endpoint(endpoint)) == endpoint
    assert load_endpoint(describe_endpoint(endpoint)) == endpoint  # what earlier cove stored
    config = EndpointConfig("c1", "arn:c1", 1.0, (MappingProxyType({"VariantName": "v",
                                                                   "ModelName": "m"}),))
    assert load_config(dump_config(config)) == config


def test_delete_endpoint_forgets_its_tags_in_the_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console deletes through this same service call: no copy of the rule elsewhere."""
    from cove.config import Config
    from cove.server import Platform, Runtime

    platform = Platform.open(Config(home=tmp_path / "home"),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        endpoints = platform.endpoints

        def broken(name: str, config_name: str) -> Any:
            raise errors.ValidationError("no fleets in this test")

        monkeypatch.setattr(endpoints, "build", broken)
        monkeypatch.setattr(endpoints, "_background", lambda target, *args: target(*args))
        monkeypatch.setattr(endpoints.catalog, "config",
                            lambda name: EndpointConfig(name, f"arn:{name}", time.time(), ()))
        endpoint = endpoints.create("ep", "c", "us-east-1", "000000000000")
        platform.tags.set(endpoint.arn, [{"Key": "team", "Value": "a"}])
        assert endpoints.endpoint("ep").status is EndpointStatus.FAILED
        endpoints.delete("ep")
        assert platform.tags.get(endpoint.arn) == []
        with pytest.raises(errors.ValidationError, match="Could not find endpoint"):
            endpoints.endpoint("ep")
    finally:
        platform.executor.shutdown()
        platform.db.close()
