# %% [markdown]
# # Deploying with SDK v3: ModelBuilder, InferenceSpec and SchemaBuilder
#
# The v3 edition of tutorial 02: a scikit-learn model trained by `ModelTrainer`, deployed by
# `ModelBuilder` with an `InferenceSpec` (how to load and call the model) and a `SchemaBuilder`
# (sample input and output: JSON here), then asked for the test set.  Run it after
# `eval "$(cove env)"`.

# %%
import io
import json
import os
import tarfile
import tempfile

import numpy as np
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.resources import EndpointConfig
from sagemaker.core.training.configs import Compute, InputData, SourceCode
from sagemaker.serve.builder.schema_builder import SchemaBuilder
from sagemaker.serve.mode.function_pointers import Mode
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.serve.spec.inference_spec import InferenceSpec
from sagemaker.serve.utils.types import ModelServer
from sagemaker.train import ModelTrainer
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

session = Session()
bucket, prefix = session.default_bucket(), "tutorials-v3/regression-deploy"
s3 = session.boto_session.client("s3")
work = tempfile.mkdtemp()

# %%
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=1)
rows = np.column_stack([y_train, X_train])
s3.put_object(Bucket=bucket, Key=f"{prefix}/train/train.csv",
              Body="\n".join(",".join(f"{v:.6g}" for v in r) for r in rows).encode())

# %% [markdown]
# ## Train: a gradient-boosted regressor in script mode

# %%
os.makedirs(os.path.join(work, "src"))
with open(os.path.join(work, "src", "train.py"), "w") as script:
    script.write('''
import os, joblib, numpy as np
from sklearn.ensemble import GradientBoostingRegressor
data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
model = GradientBoostingRegressor(n_estimators=100, max_depth=2, learning_rate=0.05,
                                  random_state=0).fit(data[:, 1:], data[:, 0])
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
''')
trainer = ModelTrainer(
    training_image=image_uris.retrieve("sklearn", session.boto_region_name, version="1.2-1"),
    sagemaker_session=session, base_job_name="diab-gbr",
    source_code=SourceCode(source_dir=os.path.join(work, "src"), entry_script="train.py"),
    compute=Compute(instance_type="ml.m5.large", instance_count=1))
trainer.train(input_data_config=[InputData(channel_name="train",
                                           data_source=f"s3://{bucket}/{prefix}/train")],
              wait=True, logs=False)

# %% [markdown]
# ## The artifact, and how to serve it

# %%
artifact = trainer._latest_training_job.model_artifacts.s3_model_artifacts
model_dir = os.path.join(work, "model")
key = artifact.split("/", 3)[3]
with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
    tar.extractall(model_dir, filter="data")


class Regressor(InferenceSpec):
    def load(self, model_dir):
        import joblib
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def invoke(self, input_object, model):
        return model.predict(np.asarray(input_object, dtype=float)).tolist()


schema = SchemaBuilder(sample_input=X_test[:2].tolist(), sample_output=[150.0, 150.0])
builder = ModelBuilder(
    inference_spec=Regressor(), schema_builder=schema, model_path=model_dir,
    model_server=ModelServer.TORCHSERVE, mode=Mode.SAGEMAKER_ENDPOINT,
    image_uri=image_uris.retrieve("pytorch", session.boto_region_name, version="2.1",
                                  py_version="py310", instance_type="ml.m5.large",
                                  image_scope="inference"),
    instance_type="ml.m5.large", sagemaker_session=session,
    dependencies={"auto": False})  # the automatic capture runs with an emptied environment
builder.build()

# %% [markdown]
# ## Deploy, ask, delete

# %%
endpoint = builder.deploy(endpoint_name=f"diab-spec-{os.getpid()}", initial_instance_count=1,
                          wait=False)
try:
    endpoint.wait_for_status("InService", poll=2)  # deploy()'s own wait polls every 30 s
    reply = endpoint.invoke(body=json.dumps(X_test.tolist()), content_type="application/json",
                            accept="application/json")
    predicted = np.array(json.loads(reply.body.read()))
    rmse = float(np.sqrt(np.mean((predicted - y_test) ** 2)))
    print(f"RESULT rmse={rmse:.2f}")
finally:
    config = endpoint.endpoint_config_name
    endpoint.delete()
    EndpointConfig.get(config).delete()
    builder.built_model.delete()
