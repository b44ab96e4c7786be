"""What an ``ml.*`` instance type asks of a cluster: CPUs, memory and GPUs per host.

The figures are those of the AWS instance types (vCPUs, GiB).  The Ray executor asks Ray for
them (``num_cpus``, ``memory``, ``num_gpus``), so a job waits for, and lands on, a node that has
them free; the local executor ignores them (it counts slots).  An instance type not listed
here gets the ``ml.m5.large`` figures.  Ray's resources are logical: give a node more CPUs
(``ray start --num-cpus``) to pack more hosts on it, or map an instance type onto what your
nodes have with ``COVE_INSTANCE_TYPES`` (:func:`parse_instance_types`).
"""

from __future__ import annotations

from cove.executors._base import Resources

GIB = 1 << 30

#: instance type -> (vCPUs, memory GiB, GPUs)
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {
    "ml.t3.medium": (2, 4, 0),
    "ml.t3.large": (2, 8, 0),
    "ml.t3.xlarge": (4, 16, 0),
    "ml.m4.xlarge": (4, 16, 0),
    "ml.m5.large": (2, 8, 0),
    "ml.m5.xlarge": (4, 16, 0),
    "ml.m5.2xlarge": (8, 32, 0),
    "ml.m5.4xlarge": (16, 64, 0),
    "ml.m5.12xlarge": (48, 192, 0),
    "ml.c4.xlarge": (4, 7, 0),
    "ml.c5.large": (2, 4, 0),
    "ml.c5.xlarge": (4, 8, 0),
    "ml.c5.2xlarge": (8, 16, 0),
    "ml.c5.4xlarge": (16, 32, 0),
    "ml.r5.large": (2, 16, 0),
    "ml.r5.xlarge": (4, 32, 0),
    "ml.g4dn.xlarge": (4, 16, 1),
    "ml.g4dn.2xlarge": (8, 32, 1),
    "ml.g5.xlarge": (4, 16, 1),
    "ml.p3.2xlarge": (8, 61, 1),
}
DEFAULT_TYPE = "ml.m5.large"


#: The operator's own figures (``COVE_INSTANCE_TYPES``), over :data:`INSTANCE_TYPES`.
_MAPPED: dict[str, tuple[int, int, int]] = {}


def instance_resources(instance_type: str) -> Resources:
    cpus, memory, gpus = _MAPPED.get(instance_type) or INSTANCE_TYPES.get(
        instance_type, INSTANCE_TYPES[DEFAULT_TYPE])
    return Resources(float(cpus), memory * GIB, float(gpus))


def describe_resources(resources: Resources) -> str:
    gpus = f", {resources.gpus:g} GPU(s)" if resources.gpus else ""
    return f"{resources.cpus:g} CPUs, {resources.memory_bytes / GIB:g} GiB memory{gpus}"


def parse_instance_types(text: str) -> dict[str, tuple[int, int, int]]:
    """``ml.m4.xlarge=2:8,ml.g5.xlarge=4:16:1`` (type=CPUs:GiB[:GPUs]) as a table; what a
    cluster's nodes can hold, for instance types bigger than any of them."""
    table: dict[str, tuple[int, int, int]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, figures = item.partition("=")
        numbers = figures.split(":")
        if not name.startswith("ml.") or len(numbers) not in (2, 3) or not all(
                n.strip().isdigit() for n in numbers):
            raise ValueError(f"instance_types entry {item!r} is not ml.TYPE=CPUS:GIB[:GPUS] "
                             "(e.g. ml.m4.xlarge=2:8)")
        cpus, memory, gpus = (int(n) for n in [*numbers, "0"][:3])
        table[name.strip()] = (cpus, memory, gpus)
    return table


def map_instance_types(table: dict[str, tuple[int, int, int]]) -> None:
    """Use ``table``'s figures for its instance types (the server calls this once, at start)."""
    _MAPPED.clear()
    _MAPPED.update(table)
