# %% [markdown]
# # Regression with SDK v3: FrameworkProcessor, ModelTrainer, batch transform
#
# The v3 edition of tutorial 01: scikit-learn's diabetes data split by a processing job
# (`FrameworkProcessor`), the built-in XGBoost trained by `ModelTrainer`, scored by a batch
# transform.  Run it after `eval "$(cove env)"`; on SageMaker it runs as it is.

# %%
import os
import tempfile

import numpy as np
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.processing import FrameworkProcessor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.training.configs import Compute, InputData
from sagemaker.core.transformer import Transformer
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train import ModelTrainer
from sklearn.datasets import load_diabetes

SMALL = os.environ.get("COVE_TUTORIAL_SCALE") == "small"
session = Session()
bucket, prefix = session.default_bucket(), "tutorials-v3/regression-train"
region = session.boto_region_name

# %% [markdown]
# ## The raw data, and a processing job that splits it (label first, as XGBoost reads CSV)

# %%
work = tempfile.mkdtemp()
data = load_diabetes(as_frame=True).frame
raw = os.path.join(work, "diabetes.csv")
data.to_csv(raw, index=False)
raw_uri = session.upload_data(raw, bucket=bucket, key_prefix=f"{prefix}/raw")

os.makedirs(os.path.join(work, "prep"))
with open(os.path.join(work, "prep", "split.py"), "w") as script:
    script.write('''
import os
import pandas as pd
from sklearn.model_selection import train_test_split
base = "/opt/ml/processing"
frame = pd.read_csv(f"{base}/raw/diabetes.csv")
X, y = frame.drop(columns="target"), frame["target"]
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.33, random_state=1)
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.33, random_state=1)
for name, features, labels in (("train", X_train, y_train), ("validation", X_val, y_val)):
    os.makedirs(f"{base}/{name}", exist_ok=True)
    pd.concat([labels, features], axis=1).to_csv(f"{base}/{name}/{name}.csv", header=False,
                                                 index=False)
os.makedirs(f"{base}/test", exist_ok=True)
X_test.to_csv(f"{base}/test/test.csv", header=False, index=False)
y_test.to_csv(f"{base}/test/labels.csv", header=False, index=False)
''')

sklearn_image = image_uris.retrieve("sklearn", region, version="1.2-1")
processor = FrameworkProcessor(image_uri=sklearn_image, command=["python3"],
                               instance_type="ml.m5.large", instance_count=1,
                               sagemaker_session=session)
outputs = {name: f"s3://{bucket}/{prefix}/{name}" for name in ("train", "validation", "test")}
processor.run(code="split.py", source_dir=os.path.join(work, "prep"), logs=False,
              inputs=[ProcessingInput(input_name="raw", s3_input=ProcessingS3Input(
                  s3_uri=raw_uri, local_path="/opt/ml/processing/raw", s3_data_type="S3Prefix",
                  s3_input_mode="File"))],
              outputs=[ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
                  s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_upload_mode="EndOfJob"))
                  for name, uri in outputs.items()])

# %% [markdown]
# ## Train the built-in XGBoost with ModelTrainer

# %%
xgboost_image = image_uris.retrieve("xgboost", region, version="1.7-1")
trainer = ModelTrainer(
    training_image=xgboost_image, sagemaker_session=session,
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    base_job_name="diabetes-xgboost",
    hyperparameters={"max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6,
                     "subsample": 0.8, "objective": "reg:squarederror",
                     "early_stopping_rounds": 10, "num_round": 50 if SMALL else 200})
trainer.train(input_data_config=[
    InputData(channel_name="train", data_source=outputs["train"], content_type="text/csv"),
    InputData(channel_name="validation", data_source=outputs["validation"],
              content_type="text/csv")], wait=True, logs=False)

# %% [markdown]
# ## Score the test set with a batch transform

# %%
model = ModelBuilder(model=trainer, image_uri=xgboost_image,
                     sagemaker_session=session, instance_type="ml.m5.large").build()
transformer = Transformer(model_name=model.model_name, instance_count=1,
                          instance_type="ml.m5.large", output_path=f"s3://{bucket}/{prefix}/scored",
                          sagemaker_session=session)
transformer.transform(f"{outputs['test']}/test.csv", content_type="text/csv", split_type="Line",
                      wait=True, logs=False)

s3 = session.boto_session.client("s3")
scored = s3.get_object(Bucket=bucket, Key=f"{prefix}/scored/test.csv.out")["Body"].read()
labels = s3.get_object(Bucket=bucket, Key=f"{prefix}/test/labels.csv")["Body"].read()
predicted = np.array([float(v) for v in scored.decode().split()])
actual = np.array([float(v) for v in labels.decode().split()])
rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
print(f"RESULT rmse={rmse:.2f}")
model.delete()
