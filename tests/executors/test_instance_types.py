"""Instance types against the nodes a cluster has: the infeasibility check and the operator's
mapping (COVE_INSTANCE_TYPES).  The end-to-end run on a loopback Ray cluster is
test_infeasible.py; here Ray's node table is given as Ray reports it (``ray.nodes()``), so the
arithmetic is checked without a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cove.executors import instance_resources, map_instance_types, parse_instance_types
from cove.executors._ray import RayExecutor

GIB = 1 << 30


@pytest.fixture(autouse=True)
def _unmapped() -> Iterator[None]:
    yield
    map_instance_types({})


class _Nodes:
    """``ray.nodes()`` of a cluster of 2-CPU, 8 GiB nodes (and a dead bigger one)."""

    def nodes(self) -> list[dict[str, Any]]:
        return [{"Alive": True, "Resources": {"CPU": 2.0, "memory": 8.0 * GIB}},
                {"Alive": True, "Resources": {"CPU": 2.0, "memory": 6.0 * GIB}},
                {"Alive": False, "Resources": {"CPU": 64.0, "memory": 256.0 * GIB}}]


def _executor() -> RayExecutor:
    executor = RayExecutor.__new__(RayExecutor)  # no cluster: only the node table is asked
    executor.ray = _Nodes()
    return executor


def test_an_instance_type_bigger_than_every_live_node_is_infeasible() -> None:
    why = _executor().infeasible(instance_resources("ml.m4.xlarge"))  # 4 vCPUs, 16 GiB
    assert why == ("no node of the Ray cluster can ever hold it: the largest has 2 CPUs, "
                   "8 GiB memory")
    assert _executor().infeasible(instance_resources("ml.m5.large")) == ""  # 2 CPUs, 8 GiB


def test_a_mapped_instance_type_asks_for_what_the_nodes_have() -> None:
    map_instance_types(parse_instance_types("ml.m4.xlarge=2:8, ml.g5.xlarge=1:4:1"))
    assert instance_resources("ml.m4.xlarge").cpus == 2
    assert instance_resources("ml.m4.xlarge").memory_bytes == 8 * GIB
    assert _executor().infeasible(instance_resources("ml.m4.xlarge")) == ""
    assert instance_resources("ml.g5.xlarge").gpus == 1
    assert _executor().infeasible(instance_resources("ml.g5.xlarge")).endswith("8 GiB memory")


@pytest.mark.parametrize("text", ["m4.xlarge=2:8", "ml.m4.xlarge=2", "ml.m4.xlarge=two:8",
                                  "ml.m4.xlarge=2:8:1:1"])
def test_a_malformed_mapping_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ml.TYPE=CPUS:GIB"):
        parse_instance_types(text)
