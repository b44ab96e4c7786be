"""The API surface cove implements, pinned: per validated service, the operations it answers
and the required members of every structure their inputs reach, as the tested botocore line
marked them, plus what cove itself needs (``surface.json``).

The validator requires the union of these pins and whatever the installed botocore marks, so a
request lacking what cove needs is refused in AWS's wording even when a newer botocore stops
marking a member required (1.4x did so for CreateTrainingJob's AlgorithmSpecification and
ResourceConfig).  ``tests/wire/surface.py --write`` regenerates the file from the installed
botocore and the operations the server serves; a test fails when it is stale.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SURFACE_FILE = Path(__file__).with_name("surface.json")

#: Members cove needs that no botocore line marks required (by input shape).
COVE_REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "sagemaker": {"CreateTrainingJobRequest": ("AlgorithmSpecification", "ResourceConfig")},
}


@functools.cache
def _surface() -> dict[str, Any]:
    surface: dict[str, Any] = json.loads(SURFACE_FILE.read_text())
    return surface


def operations(service: str) -> frozenset[str]:
    """The operations of ``service`` cove implements (empty for a service it does not pin)."""
    return frozenset(_surface().get(service, {}).get("operations", ()))


def pinned_required(service: str) -> dict[str, frozenset[str]]:
    """Shape name -> the members cove requires in it, whatever botocore is installed."""
    pins = _surface().get(service, {}).get("required", {})
    return {shape: frozenset(members) for shape, members in pins.items()}


def required_of(model: dict[str, Any], names: list[str],
                extra: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """The required members of every structure the inputs of ``names`` reach in ``model`` (a
    botocore service-2 document), with ``extra`` added; for writing ``surface.json``."""
    shapes, found = model["shapes"], {}
    pending = [model["operations"][n]["input"]["shape"] for n in names
               if "input" in model["operations"][n]]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        raw = shapes[name]
        required = set(raw.get("required", ())) | set(extra.get(name, ()))
        if required:
            found[name] = sorted(required)
        refs = [m["shape"] for m in raw.get("members", {}).values()]
        refs += [raw[part]["shape"] for part in ("member", "key", "value") if part in raw]
        pending.extend(refs)
    return dict(sorted(found.items()))
