"""ModelDataUrl as S3 https URLs (virtual-hosted and path-style), as botocore's pattern and
SDK v3's ModelBuilder allow: the model deploys and answers; other URLs are refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from botocore.exceptions import ClientError

from cove import errors
from cove.sagemaker import s3_location
from tests.hosting.test_endpoints import csv_rows, deploy, xgb_model
from tests.training.helpers import ROLE, unique


def test_s3_locations() -> None:
    for uri in ("s3://b-1/dir/model.tar.gz", "https://b-1.s3.amazonaws.com/dir/model.tar.gz",
                "https://b-1.s3.eu-west-1.amazonaws.com/dir/model.tar.gz",
                "https://b-1.s3-eu-west-1.amazonaws.com/dir/model.tar.gz",
                "https://s3.amazonaws.com/b-1/dir/model.tar.gz",
                "https://s3.us-east-1.amazonaws.com/b-1/dir/model.tar.gz",
                "https://b-1.s3.cn-north-1.amazonaws.com.cn/dir/model.tar.gz"):
        assert s3_location(uri) == ("b-1", "dir/model.tar.gz"), uri
    assert s3_location("https://b-1.s3.amazonaws.com/a%20b/m%2B1.tar.gz") == (
        "b-1", "a b/m+1.tar.gz")
    for bad in ("https://evil.example.com/b/model.tar.gz", "http://b.s3.amazonaws.com/k",
                "https://b.s3.amazonaws.com.evil.com/k", "https://s3.amazonaws.com/b"):
        with pytest.raises(errors.ValidationError):
            s3_location(bad)


def test_https_model_data_urls_deploy(cove: Any, s3: Any, bucket: str) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    url, booster, X = xgb_model(s3, bucket)
    key = url.removeprefix(f"s3://{bucket}/")
    virtual = f"https://{bucket}.s3.us-east-1.amazonaws.com/{quote(key)}"
    path_style = f"https://s3.amazonaws.com/{bucket}/{key}"
    name = deploy(sm, [("Virtual", virtual, 1.0, 1), ("Path", path_style, 1.0, 1)])
    for variant in ("Virtual", "Path"):
        reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                        Body=csv_rows(X[:3]), TargetVariant=variant)
        got = [float(v) for v in reply["Body"].read().decode().replace("\n", ",").split(",") if v]
        import xgboost as xgb

        np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X[:3])), rtol=1e-5)
    model = sm.describe_model(ModelName=sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=name)["EndpointConfigName"])[
        "ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == virtual  # echoed as given
    sm.delete_endpoint(EndpointName=name)
    for bad in (f"https://example.com/{bucket}/{key}",
                f"https://{bucket}.s3.amazonaws.com/missing/model.tar.gz"):
        with pytest.raises(ClientError) as err:
            sm.create_model(ModelName=unique("bad"), ExecutionRoleArn=ROLE, PrimaryContainer={
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "ModelDataUrl": bad})
        assert err.value.response["Error"]["Code"] == "ValidationException"
