"""A function that calls a real cove endpoint with boto3's sagemaker-runtime client, as the
case study's function does."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import csv_rows, deploy, xgb_model

CALLER = """
import os
import boto3

runtime = boto3.client("sagemaker-runtime")

def handler(event, context):
    answer = runtime.invoke_endpoint(EndpointName=os.environ["ENDPOINT"],
                                     ContentType="text/csv", Body=event["rows"])
    return answer["Body"].read().decode()
"""


def test_function_invokes_an_endpoint(cove: CoveServer, s3: Any, bucket: str,
                                      make_function: Any) -> None:
    import xgboost as xgb

    sm = cove.client("sagemaker")
    url, booster, X = xgb_model(s3, bucket)
    endpoint = deploy(sm, [("AllTraffic", url, 1.0, 1)])
    try:
        name = make_function(CALLER, Environment={"Variables": {"ENDPOINT": endpoint}},
                             Timeout=30)
        lam = cove.client("lambda")
        response = lam.invoke(FunctionName=name,
                              Payload=json.dumps({"rows": csv_rows(X[:5]).decode()}))
        assert "FunctionError" not in response
        body = json.loads(response["Payload"].read())
        got = np.array([float(v) for v in body.replace("\n", ",").strip(",").split(",")])
        expected = booster.predict(xgb.DMatrix(X[:5]))
        assert np.allclose(got, expected, atol=1e-5)
    finally:
        sm.delete_endpoint(EndpointName=endpoint)
