"""The kernel of a notebook instance: ipykernel, started by the instance's JupyterLab.

SageMaker's SDK finds the notebook instance it runs in (and so ``get_execution_role()``) through
``/opt/ml/metadata/resource-metadata.json``.  In cove's bubblewrap sandbox the instance's
directory is mounted at ``/opt/ml`` and the file is there.  Without the sandbox nothing can be
mounted, so this launcher points the SDK's ``NOTEBOOK_METADATA_FILE`` at the instance's own
copy as the module that reads it is imported (v2's ``sagemaker.session``, v3's
``sagemaker.core.helper.session_helper``) — the notebook's code stays exactly as on SageMaker.

It lives outside ``cove.notebooks`` and imports nothing of cove's: a kernel must answer its
first heartbeat quickly, and the package pulls in the server's dependencies.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: Where SageMaker's SDK looks for the notebook instance's identity.
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
#: Where the instance's copy is, when the sandbox could not mount it at METADATA_FILE.
METADATA_VARIABLE = "COVE_NOTEBOOK_METADATA_FILE"
#: The SDK modules that read METADATA_FILE for ``get_execution_role()``: v2's, v3's.
METADATA_READERS = frozenset({"sagemaker.session", "sagemaker.core.helper.session_helper"})


class _MetadataFileFinder(importlib.abc.MetaPathFinder):
    """Finds the SDK's metadata readers as usual, and sets their metadata path once loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in METADATA_READERS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, metadata = spec.loader, self.path

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> ModuleType | None:
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                loader.exec_module(module)
                module.NOTEBOOK_METADATA_FILE = metadata  # type: ignore[attr-defined]

        spec.loader = _Loader()
        return spec


def main() -> None:
    metadata = os.environ.get(METADATA_VARIABLE)
    if metadata and metadata != METADATA_FILE and not os.path.exists(METADATA_FILE):
        sys.meta_path.insert(0, _MetadataFileFinder(metadata))
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
