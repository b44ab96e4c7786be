"""What cove serves, read from a real server's services, and ``surface.json`` written from it:
``python -m tests.wire.surface --write`` after adding an operation or moving botocore."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from botocore.loaders import create_loader

from cove.wire._surface import COVE_REQUIRED, SURFACE_FILE, required_of


def served() -> dict[str, list[str]]:
    """botocore model name -> the operations cove validates against it (every service whose
    requests a ShapeValidator checks)."""
    from cove.config import Config
    from cove.server import Platform, Runtime, build_app
    from cove.wire import ShapeValidator

    loop = asyncio.new_event_loop()
    home = Path(tempfile.mkdtemp(prefix="cove-surface-"))
    platform = Platform.open(Config(home=home), Runtime("http://127.0.0.1:1", loop))
    try:
        edge, _ = build_app(platform, "http://127.0.0.1:1")
        found: dict[str, list[str]] = {}
        for service in edge.services:
            validator = getattr(service, "validator", None)
            if isinstance(validator, ShapeValidator):
                operations: dict[str, Any] = getattr(service, "operations")  # noqa: B009
                found.setdefault(validator.service, []).extend(operations)
        return {name: sorted(set(ops)) for name, ops in sorted(found.items())}
    finally:
        platform.executor.shutdown()
        platform.db.close()
        loop.close()


def surface(operations: dict[str, list[str]]) -> dict[str, Any]:
    loader = create_loader()
    return {service: {"operations": names,
                      "required": required_of(loader.load_service_model(service, "service-2"),
                                              names, dict(COVE_REQUIRED.get(service, {})))}
            for service, names in operations.items()}


if __name__ == "__main__":
    text = json.dumps(surface(served()), indent=1, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        SURFACE_FILE.write_text(text)
        print(f"wrote {SURFACE_FILE}")
    else:
        print(text)
