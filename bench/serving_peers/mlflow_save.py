"""Save the benchmark's booster as an MLflow model (the xgboost flavor), for `mlflow models serve`.

    python mlflow_save.py XGBOOST_MODEL_FILE OUT_DIR

Run with the MLflow virtual environment's interpreter.  The booster gets feature names f0..fN-1
(predictions are unchanged): MLflow's scoring server reads CSV with ``pandas.read_csv``, so a
request's first line is a header naming the columns, and the xgboost flavor passes the frame to
``xgboost.DMatrix``.
"""

from __future__ import annotations

import sys

import mlflow.xgboost
import xgboost


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    booster = xgboost.Booster()
    with open(source, "rb") as handle:  # UBJSON without the .ubj suffix
        booster.load_model(bytearray(handle.read()))
    booster.feature_names = [f"f{i}" for i in range(booster.num_features())]
    mlflow.xgboost.save_model(booster, out, model_format="ubj")


if __name__ == "__main__":
    main()
