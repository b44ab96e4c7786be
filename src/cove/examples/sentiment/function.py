"""The sentiment function (runs as a Lambda function on cove): review text in, "1"/"0" out.

API Gateway passes the browser's POST body (the raw review) in the proxy event; the function
encodes it exactly as the training data were encoded (``words.py`` and ``vocabulary.json`` ship
in the same zip) and asks the endpoint named by ``ENDPOINT_NAME``.
"""

import base64
import json
import os
from typing import Any

import boto3
from words import bag_of_words, libsvm_row, review_to_words

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vocabulary.json")) as f:
    VOCABULARY = json.load(f)
INDEX = {word: column for column, word in enumerate(VOCABULARY)}
RUNTIME = boto3.client("sagemaker-runtime")
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Allow-Methods": "OPTIONS,POST", "Content-Type": "text/plain"}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    if not body.strip():
        return {"statusCode": 400, "headers": CORS, "body": "Send a review in the body."}
    # libsvm, as the model was trained: absent words are missing values, not zeros (a dense CSV
    # row's zeros would read as values the model never saw)
    row = libsvm_row(bag_of_words(review_to_words(body), INDEX))
    response = RUNTIME.invoke_endpoint(EndpointName=os.environ["ENDPOINT_NAME"],
                                       ContentType="text/libsvm", Body=row)
    score = float(response["Body"].read().decode().split(",")[0])
    return {"statusCode": 200, "headers": CORS, "body": "1" if score > 0.5 else "0"}
