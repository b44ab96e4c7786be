"""Python 3.11 for code written against SageMaker's container toolkits.

The framework containers of 2018-2020 (PyTorch 0.4-1.3, scikit-learn 0.20, ...) gave user code
``sagemaker_containers`` on Python 3.6; cove installs the real package (and
``sagemaker_training``, ``sagemaker_inference``).  Two things it relies on are gone from Python
3.10 and protobuf 4: the ``collections`` ABC aliases (``collections.Mapping``), and protobuf
descriptors built directly, as its old generated ``record_pb2`` does, which only protobuf's
pure-Python implementation still accepts.  This module, first on the jobs' PYTHONPATH as
``sitecustomize``, restores the aliases and selects the pure-Python protobuf implementation
only when that old generated module is imported before protobuf itself.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

for _name in ("Callable", "Iterable", "Iterator", "Mapping", "MutableMapping",
              "MutableSequence", "MutableSet", "Sequence", "Set"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

_OLD_GENERATED = frozenset({"sagemaker_containers._recordio", "sagemaker_containers.record_pb2"})


class _OldProtobufFinder(importlib.abc.MetaPathFinder):
    """Finds nothing; notices the old generated module coming before protobuf is loaded."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in _OLD_GENERATED and "google.protobuf" not in sys.modules:
            os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        return None


sys.meta_path.insert(0, _OldProtobufFinder())
