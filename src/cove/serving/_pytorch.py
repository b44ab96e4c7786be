"""PyTorch script mode's defaults, as the SageMaker PyTorch inference toolkit has them.

``model_fn``: TorchScript ``model.pt`` (or the model directory's only ``.pt``/``.pth``) loaded
with ``torch.jit.load``; anything else needs the entry point's own ``model_fn``.  ``input_fn``:
the default decoders, then a float32 tensor for JSON and CSV (a one-row CSV is 1-D, as
``np.genfromtxt`` reads it) and ``torch.from_numpy`` otherwise.  ``predict_fn``: ``model(data)``
in eval mode under ``torch.no_grad()``.  ``output_fn``: a tensor becomes ``tolist()``, then the
default encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cove.serving import _codecs
from cove.serving._errors import ModelLoadError
from cove.serving._media import CSV, JSON, media_type
from cove.serving._script import Defaults

MODEL_FILE = "model.pt"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ModelLoadError("PyTorch is not installed in cove's environment: "
                             "pip install 'cove[pytorch]'.") from exc
    return torch


def model_fn(model_dir: str) -> Any:
    torch = _torch()
    directory = Path(model_dir)
    path = directory / MODEL_FILE
    if not path.is_file():
        candidates = sorted(p for p in directory.iterdir() if p.suffix in (".pt", ".pth"))
        if len(candidates) != 1:
            raise ModelLoadError(
                f"The inference code defines no model_fn, and the default one needs exactly one "
                f".pt or .pth TorchScript file in the model (found "
                f"{[p.name for p in candidates]}). Define model_fn(model_dir) in the entry point.")
        path = candidates[0]
    try:
        return torch.jit.load(str(path), map_location=torch.device("cpu"))
    except RuntimeError as exc:
        raise ModelLoadError(
            f"The default model_fn could not load {path.name} as TorchScript ({exc}). Save the "
            f"model with torch.jit.save, or define model_fn(model_dir) in the entry point."
        ) from exc


def input_fn(body: Any, content_type: str) -> Any:
    torch = _torch()
    data = _codecs.decode(body, content_type)
    if media_type(content_type) == CSV:
        data = np.squeeze(data)  # np.genfromtxt's shapes: one row is 1-D
    if media_type(content_type) in (CSV, JSON):
        return torch.FloatTensor(np.asarray(data, dtype=np.float32))
    if hasattr(data, "toarray"):  # scipy sparse (npz)
        data = data.toarray()
    return torch.from_numpy(data)


def predict_fn(data: Any, model: Any) -> Any:
    torch = _torch()
    with torch.no_grad():
        model.eval()
        return model(data)


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    torch = _torch()
    if type(prediction) is torch.Tensor:
        prediction = prediction.detach().cpu().numpy().tolist()
    return _codecs.encode(prediction, accept)


DEFAULTS = Defaults("pytorch", model_fn, input_fn, predict_fn, output_fn)
