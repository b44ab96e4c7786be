# %% [markdown]
# # Tuning with SDK v3: HyperparameterTuner over a ModelTrainer
#
# The v3 edition of tutorial 03: the course's XGBoost ranges searched by a Bayesian tuning job,
# the best training job deployed and asked with CSV.  Run it after
# `eval "$(cove env)"`.

# %%
import os

import numpy as np
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
from sagemaker.core.resources import Endpoint, EndpointConfig, Model, TrainingJob
from sagemaker.core.shapes import ContainerDefinition, ProductionVariant
from sagemaker.core.training.configs import Compute, InputData
from sagemaker.train import ModelTrainer
from sagemaker.train.tuner import HyperparameterTuner
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

SMALL = os.environ.get("COVE_TUTORIAL_SCALE") == "small"
session = Session()
bucket, prefix = session.default_bucket(), "tutorials-v3/regression-tuning"
s3 = session.boto_session.client("s3")

# %%
X, y = load_diabetes(return_X_y=True)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.33, random_state=1)
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.33, random_state=1)


def csv(features, labels=None):
    rows = features if labels is None else np.column_stack([labels, features])
    return "\n".join(",".join(f"{v:.6g}" for v in row) for row in rows)


for name, body in (("train", csv(X_train, y_train)), ("validation", csv(X_val, y_val))):
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}/{name}.csv", Body=body.encode())

# %% [markdown]
# ## The tuning job

# %%
image = image_uris.retrieve("xgboost", session.boto_region_name, version="1.7-1")
trainer = ModelTrainer(
    training_image=image, sagemaker_session=session,
    compute=Compute(instance_type="ml.m5.large", instance_count=1), base_job_name="diab-tune",
    hyperparameters={"max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6,
                     "subsample": 0.8, "objective": "reg:squarederror",
                     "early_stopping_rounds": 10, "num_round": 50 if SMALL else 200})
tuner = HyperparameterTuner(
    model_trainer=trainer, objective_metric_name="validation:rmse", objective_type="Minimize",
    max_jobs=4 if SMALL else 20, max_parallel_jobs=2 if SMALL else 3, strategy="Bayesian",
    hyperparameter_ranges={"max_depth": IntegerParameter(3, 12),
                           "eta": ContinuousParameter(0.05, 0.5),
                           "min_child_weight": IntegerParameter(2, 8),
                           "subsample": ContinuousParameter(0.5, 0.9),
                           "gamma": ContinuousParameter(0, 10)})
tuner.tune(inputs=[
    InputData(channel_name="train", data_source=f"s3://{bucket}/{prefix}/train",
              content_type="text/csv"),
    InputData(channel_name="validation", data_source=f"s3://{bucket}/{prefix}/validation",
              content_type="text/csv")], wait=True)
best = tuner.best_training_job()
print("best training job:", best)

# %% [markdown]
# ## Deploy the best model and ask it
#
# The best job is a `TrainingJob` resource; `sagemaker.core.resources` deploys its artifact
# (`ModelBuilder(model=TrainingJob)` is for fine-tuned models).

# %%
job = TrainingJob.get(best)
name = f"diab-tuned-{best[-8:]}"
Model.create(model_name=name, primary_container=ContainerDefinition(
    image=image, model_data_url=job.model_artifacts.s3_model_artifacts))
EndpointConfig.create(endpoint_config_name=name, production_variants=[ProductionVariant(
    variant_name="AllTraffic", model_name=name, initial_instance_count=1,
    instance_type="ml.m5.large")])
endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=name)
endpoint.wait_for_status("InService", poll=2)
reply = endpoint.invoke(body=csv(X_test), content_type="text/csv")
predicted = np.array([float(v) for v in reply.body.read().decode().replace(",", "\n").split()])
rmse = float(np.sqrt(np.mean((predicted - y_test) ** 2)))
print(f"RESULT rmse={rmse:.2f}")
endpoint.delete()
EndpointConfig.get(name).delete()
Model.get(name).delete()
