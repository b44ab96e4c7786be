"""The kernel of a notebook instance: ipykernel, started by the instance's JupyterLab.

SageMaker's SDK finds the notebook instance it runs in (and so ``get_execution_role()``) through
``/opt/ml/metadata/resource-metadata.json``.  In cove's bubblewrap sandbox the instance's
directory is mounted at ``/opt/ml`` and the file is there.  Without the sandbox nothing can be
mounted, so this launcher points the SDK's ``NOTEBOOK_METADATA_FILE`` at the instance's own
copy as the module that reads it is imported (v2's ``sagemaker.session``, v3's
``sagemaker.core.helper.session_helper``) — the notebook's code stays exactly as on SageMaker.

As the SDK is imported its waits are also made to look each second (``cove._sdk_polls``): the
kernel reaches only cove, which starts jobs and endpoints in seconds, not minutes.

It lives outside ``cove.notebooks`` and imports nothing of cove's but ``_sdk_polls`` (standard
library only): a kernel must answer its first heartbeat quickly, and the package pulls in the
server's dependencies.  Both kernels run this file by its path (the SDK v3 environment may not
have cove installed), and it loads ``_sdk_polls`` from beside itself by its path too.  So the
kernel never imports ``cove`` and never has cove's package directory on ``sys.path``: a user's
``cove.py``, ``errors.py`` or ``config.py`` beside the notebook is the one the notebook imports,
as on SageMaker (``tests/notebooks/test_kernel_launcher.py``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

#: Where SageMaker's SDK looks for the notebook instance's identity.
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
#: Where the instance's copy is, when the sandbox could not mount it at METADATA_FILE.
METADATA_VARIABLE = "COVE_NOTEBOOK_METADATA_FILE"
#: The SDK modules that read METADATA_FILE for ``get_execution_role()``: v2's, v3's.
METADATA_READERS = frozenset({"sagemaker.session", "sagemaker.core.helper.session_helper"})


def _sdk_polls() -> ModuleType:
    """``cove._sdk_polls``, loaded from beside this file by its path and kept out of
    ``sys.modules``: ``import cove._sdk_polls`` would import a user's ``cove.py`` from the
    notebook's directory (the first entry of the kernel's ``sys.path``) and fail."""
    where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sdk_polls.py")
    spec = importlib.util.spec_from_file_location("cove_sdk_polls", where)
    assert spec is not None and spec.loader is not None
    polls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(polls)
    return polls


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds the named modules as usual, and runs a function on each once it has loaded."""

    def __init__(self, after: dict[str, Callable[[ModuleType], None]]) -> None:
        self.after = after

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.after:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self.after[fullname]

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> ModuleType | None:
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                loader.exec_module(module)
                then(module)

        spec.loader = _Loader()
        return spec


def main() -> None:
    polls = _sdk_polls()
    after: dict[str, Callable[[ModuleType], None]] = dict.fromkeys(
        polls.SESSION_MODULES, polls.shorten_module)  # the SDK's waits look each second
    metadata = os.environ.get(METADATA_VARIABLE)
    if metadata and metadata != METADATA_FILE and not os.path.exists(METADATA_FILE):
        def point_at_metadata(module: ModuleType) -> None:
            if module.__name__ in polls.SESSION_MODULES:
                polls.shorten_module(module)
            module.NOTEBOOK_METADATA_FILE = metadata  # type: ignore[attr-defined]

        after.update(dict.fromkeys(METADATA_READERS, point_at_metadata))
    sys.meta_path.insert(0, _AfterImport(after))
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
