"""The sentiment case study, step by step, against a running cove — exactly as against AWS:
prepare the reviews, upload them, train the built-in XGBoost with the SageMaker SDK, deploy it,
measure it on the test reviews, wrap it in a function behind an HTTP API, and publish the page.

Each step is a method of ``SentimentApp`` so ``cove demo``, the example script and the tests run
the same code.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import boto3

from cove.examples.sentiment import words
from cove.examples.sentiment.data import Reviews

ROLE = "arn:aws:iam::000000000000:role/CoveExecutionRole"
XGBOOST_VERSION = "1.7-1"
#: The tutorial's hyperparameters (its num_round is 500 with early stopping after 10).
HYPERPARAMETERS = {"max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6,
                   "subsample": 0.8, "objective": "binary:logistic", "early_stopping_rounds": 10,
                   "num_round": 500}
#: For the short generated everyday reviews: each carries a few words of a large lexicon, so
#: most words are seen in few reviews, too few for trees to split on (measured: 0.83 test
#: accuracy, 0.89 on the everyday list); XGBoost's linear booster gives every word a weight
#: (0.88 and 0.90) and trains in a second; it settles within 10 rounds (no early stopping:
#: XGBoost keeps no best iteration of a linear booster). One thread: the parallel (shotgun)
#: updater is not reproducible.
EVERYDAY_HYPERPARAMETERS = {"booster": "gblinear", "eta": 0.5, "lambda": 0.0001, "nthread": 1,
                            "objective": "binary:logistic", "num_round": 50}
# Training, evaluation and the function all use libsvm rows: a word a review lacks is a missing
# value there. (A dense CSV row would make it a 0, which a model trained on sparse rows never
# saw: it cannot tell 0 from 1 and answers the same for every review.)
SITE_FILES = ("index.html", "app.js", "style.css")


@dataclass
class Prepared:
    vocabulary: list[str]
    train: list[str]  # libsvm rows, label first
    validation: list[str]
    test: list[tuple[dict[int, int], int]]  # bag of words, label


@dataclass
class Deployed:
    training_job: str
    model_data: str
    endpoint: str


class SentimentApp:
    """The case study's resources on one cove (or AWS): names derive from ``name``."""

    def __init__(self, session: boto3.Session, bucket: str, name: str = "sentiment",
                 log: Callable[[str], None] = print) -> None:
        self.boto = session
        self.bucket, self.name, self.log = bucket, name, log
        self.s3 = session.client("s3")
        self.sm = session.client("sagemaker")

    # --- data -------------------------------------------------------------------------------

    @staticmethod
    def prepare(reviews: Reviews, vocabulary_size: int = 5000,
                validation_share: float = 0.2) -> Prepared:
        """Words → vocabulary (from the training reviews only) → bag-of-words rows."""
        train_words = [(words.review_to_words(text), label) for text, label in reviews.train]
        vocabulary = words.build_vocabulary((w for w, _ in train_words), vocabulary_size)
        index = {word: column for column, word in enumerate(vocabulary)}
        rows = [words.libsvm_row(words.bag_of_words(w, index), label)
                for w, label in train_words]
        cut = int(len(rows) * (1 - validation_share))
        test = [(words.bag_of_words(words.review_to_words(text), index), label)
                for text, label in reviews.test]
        return Prepared(vocabulary, rows[:cut], rows[cut:], test)

    def upload(self, prepared: Prepared) -> dict[str, str]:
        """The training and validation channels, as libsvm objects; returns their S3 URIs."""
        self._bucket(self.bucket)
        uris = {}
        for channel, rows in (("train", prepared.train), ("validation", prepared.validation)):
            key = f"{self.name}/data/{channel}/{channel}.libsvm"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body="\n".join(rows).encode())
            uris[channel] = f"s3://{self.bucket}/{self.name}/data/{channel}"
        return uris

    # --- training and hosting ---------------------------------------------------------------

    def estimator(self, rounds: int | None = None,
                  hyperparameters: dict[str, Any] | None = None) -> Any:
        from sagemaker import image_uris
        from sagemaker.estimator import Estimator
        from sagemaker.session import Session

        session = Session(boto_session=self.boto, default_bucket=self.bucket)
        estimator = Estimator(
            image_uri=image_uris.retrieve("xgboost", self.boto.region_name, XGBOOST_VERSION),
            role=ROLE, instance_count=1, instance_type="ml.m5.large",
            output_path=f"s3://{self.bucket}/{self.name}/output", sagemaker_session=session)
        estimator.set_hyperparameters(  # type: ignore[no-untyped-call]
            **{**(hyperparameters or HYPERPARAMETERS),
               **({"num_round": rounds} if rounds else {})})
        return estimator

    def train(self, uris: dict[str, str], rounds: int | None = None,
              on_log: Callable[[str], None] | None = None,
              hyperparameters: dict[str, Any] | None = None) -> tuple[str, str]:
        """Start the training job with the SDK, follow its log, return (job, model data)."""
        from sagemaker.inputs import TrainingInput

        estimator = self.estimator(rounds, hyperparameters)
        job = f"{self.name}-xgb-{time.strftime('%Y%m%d-%H%M%S')}"
        estimator.fit({channel: TrainingInput(uri, content_type="text/libsvm")
                       for channel, uri in uris.items()}, job_name=job, wait=False)
        described = self._follow_training(job, on_log)
        if described["TrainingJobStatus"] != "Completed":
            raise RuntimeError(f"training job {job} {described['TrainingJobStatus']}: "
                               f"{described.get('FailureReason', '')}")
        return job, described["ModelArtifacts"]["S3ModelArtifacts"]

    def _follow_training(self, job: str, on_log: Callable[[str], None] | None
                         ) -> dict[str, Any]:
        logs = self.boto.client("logs")
        token: str | None = None
        while True:
            described = self.sm.describe_training_job(TrainingJobName=job)
            if on_log is not None:
                token = self._new_log_lines(logs, job, token, on_log)
            if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                if on_log is not None:
                    self._new_log_lines(logs, job, token, on_log)
                return described  # type: ignore[no-any-return]
            time.sleep(0.5)

    @staticmethod
    def _new_log_lines(logs: Any, job: str, token: str | None,
                       on_log: Callable[[str], None]) -> str | None:
        try:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=f"{job}/")["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return token
        if not streams:
            return token
        params = {"logGroupName": "/aws/sagemaker/TrainingJobs", "startFromHead": True,
                  "logStreamName": streams[0]["logStreamName"]}
        if token:
            params["nextToken"] = token
        page = logs.get_log_events(**params)
        for event in page["events"]:
            on_log(event["message"].replace("#011", "  "))
        return page["nextForwardToken"]  # type: ignore[no-any-return]

    def deploy(self, model_data: str, timeout: float = 300) -> str:
        """Model → endpoint config → endpoint; returns the endpoint's name once InService."""
        from sagemaker import image_uris

        endpoint = f"{self.name}-endpoint"
        image = image_uris.retrieve("xgboost", self.boto.region_name, XGBOOST_VERSION)
        model = f"{self.name}-model-{time.strftime('%Y%m%d-%H%M%S')}"
        self.sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": image, "ModelDataUrl": model_data})
        self.sm.create_endpoint_config(EndpointConfigName=model, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
        try:
            status = self.sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        except self.sm.exceptions.ClientError:
            status = ""
        if status:  # the demo ran before: swap the new model in, with no downtime
            self.sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=model)
        else:
            self.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=model)
        self.sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 0.5, "MaxAttempts": int(timeout * 2)})
        return endpoint

    def accuracy(self, endpoint: str, prepared: Prepared, batch: int = 500) -> float:
        """Share of the test reviews the endpoint classifies right (libsvm in batches)."""
        runtime = self.boto.client("sagemaker-runtime")
        right = 0
        for start in range(0, len(prepared.test), batch):
            chunk = prepared.test[start:start + batch]
            body = "\n".join(words.libsvm_row(bag, 0) for bag, _ in chunk)
            answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/libsvm",
                                             Body=body.encode())["Body"].read().decode()
            scores = [float(v) for v in answer.replace("\n", ",").split(",") if v.strip()]
            right += sum((score > 0.5) == bool(label)
                         for score, (_, label) in zip(scores, chunk, strict=True))
        return right / len(prepared.test)

    # --- the function, the HTTP API and the page --------------------------------------------

    def function_zip(self, vocabulary: list[str]) -> bytes:
        package = resources.files("cove.examples.sentiment")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("lambda_function.py", package.joinpath("function.py").read_text())
            archive.writestr("words.py", package.joinpath("words.py").read_text())
            archive.writestr("vocabulary.json", json.dumps(vocabulary))
        return buffer.getvalue()

    def create_function(self, endpoint: str, vocabulary: list[str]) -> str:
        """The function that encodes a review and asks the endpoint; returns its ARN."""
        lam = self.boto.client("lambda")
        name = f"{self.name}-function"
        code = self.function_zip(vocabulary)
        settings = {"Runtime": "python3.11", "Handler": "lambda_function.lambda_handler",
                    "Role": ROLE, "Timeout": 30, "MemorySize": 512,
                    "Environment": {"Variables": {"ENDPOINT_NAME": endpoint}}}
        try:
            lam.get_function(FunctionName=name)
            lam.update_function_code(FunctionName=name, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
            lam.update_function_configuration(FunctionName=name, **settings)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            lam.create_function(FunctionName=name, Code={"ZipFile": code}, **settings)
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return str(lam.get_function_configuration(FunctionName=name)["FunctionArn"])

    def create_api(self, function_arn: str) -> str:
        """An HTTP API with ``POST /sentiment`` → the function (payload 2.0), CORS open to
        the page; returns the URL the page posts to."""
        gw = self.boto.client("apigatewayv2")
        name = f"{self.name}-api"
        for api in gw.get_apis().get("Items", []):
            if api["Name"] == name:
                gw.delete_api(ApiId=api["ApiId"])
        api = gw.create_api(Name=name, ProtocolType="HTTP", CorsConfiguration={
            "AllowOrigins": ["*"], "AllowMethods": ["POST", "OPTIONS"],
            "AllowHeaders": ["content-type"], "MaxAge": 300})
        integration = gw.create_integration(
            ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
            PayloadFormatVersion="2.0")
        gw.create_route(ApiId=api["ApiId"], RouteKey="POST /sentiment",
                        Target=f"integrations/{integration['IntegrationId']}")
        gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
        lam = self.boto.client("lambda")
        lam.add_permission(FunctionName=function_arn, StatementId=f"{name}-{api['ApiId']}",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
        return f"{api['ApiEndpoint'].rstrip('/')}/sentiment"

    def publish_site(self, api_url: str, endpoint_url: str) -> str:
        """The page, in a bucket served as a website; returns its URL."""
        site = f"{self.name}-site"
        self._bucket(site)
        package = resources.files("cove.examples.sentiment").joinpath("site")
        types = {"html": "text/html; charset=utf-8", "js": "text/javascript",
                 "css": "text/css"}
        for file in SITE_FILES:
            self.s3.put_object(Bucket=site, Key=file, Body=package.joinpath(file).read_bytes(),
                               ContentType=types[file.rsplit(".", 1)[1]])
        self.s3.put_object(Bucket=site, Key="config.js", ContentType="text/javascript",
                           Body=f"window.SENTIMENT_API = {json.dumps(api_url)};\n".encode())
        self.s3.put_bucket_website(Bucket=site, WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}})
        return f"{endpoint_url.rstrip('/')}/site/{site}/"

    def delete_endpoint(self, endpoint: str) -> None:
        self.sm.delete_endpoint(EndpointName=endpoint)

    def _bucket(self, name: str) -> None:
        try:
            self.s3.head_bucket(Bucket=name)
        except self.s3.exceptions.ClientError:
            self.s3.create_bucket(Bucket=name)


def site_directory() -> Path:
    """Where the page's files live (for reading them outside the demo)."""
    return Path(str(resources.files("cove.examples.sentiment").joinpath("site")))
