"""scikit-learn script mode's defaults, as the SageMaker scikit-learn container has them.

``model_fn``: the container requires one; cove loads ``model.joblib`` when the model directory
has it.  ``input_fn``: the default decoders, CSV and JSON cast to float32 (as the container
does; CSV is always 2-D rows).  ``predict_fn``: ``model.predict(data)``.  ``output_fn``: the
default encoders, numbers as numpy writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cove.serving import _codecs
from cove.serving._errors import ModelLoadError
from cove.serving._media import CSV, JSON, media_type
from cove.serving._script import Defaults

MODEL_FILE = "model.joblib"


def model_fn(model_dir: str) -> Any:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"The inference code defines no model_fn and the model has no {MODEL_FILE}. Define "
            f"model_fn(model_dir) in the entry point (or save the estimator with "
            f"joblib.dump(model, os.path.join(args.model_dir, '{MODEL_FILE}')).")
    import joblib

    return joblib.load(path)


def input_fn(body: Any, content_type: str) -> Any:
    data = _codecs.decode(body, content_type)
    if media_type(content_type) in (CSV, JSON):
        return np.asarray(data).astype(np.float32)
    return data


def predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    return _codecs.encode(prediction, accept)


DEFAULTS = Defaults("sklearn", model_fn, input_fn, predict_fn, output_fn)
