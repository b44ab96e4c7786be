"""The SageMaker Python SDK v2's registry flow, unchanged: ``Model.register()`` (which creates
the group through Search when it is missing), approval, then ``ModelPackage(...).deploy()``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hosting.test_endpoints import XGB_IMAGE, xgb_model
from tests.training.helpers import ROLE, unique
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture


def test_register_approve_deploy(session: Any, bucket: str) -> None:  # noqa: F811
    import xgboost as xgb
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.model import Model, ModelPackage
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    s3 = session.boto_session.client("s3")
    url, booster, X = xgb_model(s3, bucket, seed=5)
    group = unique("sdkgrp")
    metrics = ModelMetrics(model_statistics=MetricsSource(
        content_type="application/json", s3_uri=f"s3://{bucket}/evaluation.json"))
    model = Model(image_uri=XGB_IMAGE, model_data=url, role=ROLE, sagemaker_session=session)
    registered = model.register(content_types=["text/csv"], response_types=["text/csv"],
                                inference_instances=["ml.m5.large"],
                                transform_instances=["ml.m5.large"],
                                model_package_group_name=group, model_metrics=metrics,
                                approval_status="PendingManualApproval")
    sm = session.sagemaker_client
    package = sm.describe_model_package(ModelPackageName=registered.model_package_arn)
    assert package["ModelPackageVersion"] == 1
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
        "evaluation.json")
    again = model.register(content_types=["text/csv"], response_types=["text/csv"],
                           inference_instances=["ml.m5.large"],
                           transform_instances=["ml.m5.large"],
                           model_package_group_name=group)  # the group exists: version 2
    assert again.model_package_arn.endswith(f"/{group}/2")

    deployable = ModelPackage(role=ROLE, model_package_arn=registered.model_package_arn,
                              sagemaker_session=session, predictor_cls=Predictor)
    name = unique("pkg-ep")
    # ModelPackage.deploy approves a pending version before it creates the model, as on AWS.
    predictor = deployable.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                                  endpoint_name=name)
    assert sm.describe_model_package(ModelPackageName=registered.model_package_arn)[
        "ModelApprovalStatus"] == "Approved"
    predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
    rows = predictor.predict(X[:5])
    got = np.array([float(v) for row in rows for v in row])
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X[:5])), rtol=1e-5)
    predictor.delete_endpoint()
