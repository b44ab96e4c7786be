"""The sentiment function (runs as a Lambda function on cove): review text in, a verdict out.

API Gateway passes the browser's POST body (the raw review) in the proxy event; the function
encodes it exactly as the training data were encoded (``words.py`` and ``vocabulary.json`` ship
in the same zip) and asks the endpoint named by ``ENDPOINT_NAME``.

It answers JSON: ``{"verdict": "positive" | "negative" | "unknown", "score": ..., "message":
...}``. A review with no word the model knows is "unknown" (status 200: nothing went wrong);
an endpoint that is gone or answers something that is not a score is a 503 whose message says
so, never the gateway's bare 502.
"""

import base64
import json
import os
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from words import bag_of_words, libsvm_row, review_to_words

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vocabulary.json")) as f:
    VOCABULARY = json.load(f)
INDEX = {word: column for column, word in enumerate(VOCABULARY)}
RUNTIME = boto3.client("sagemaker-runtime")
HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Content-Type",
           "Access-Control-Allow-Methods": "OPTIONS,POST", "Content-Type": "application/json"}


def answer(status: int, verdict: str | None, message: str,
           score: float | None = None) -> dict[str, Any]:
    body = {"verdict": verdict, "score": score, "message": message}
    return {"statusCode": status, "headers": HEADERS, "body": json.dumps(body)}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    if not body.strip():
        return answer(400, None, "Send a review in the body.")
    # libsvm, as the model was trained: absent words are missing values, not zeros (a dense CSV
    # row's zeros would read as values the model never saw)
    bag = bag_of_words(review_to_words(body), INDEX)
    if not bag:
        return answer(200, "unknown", "Can't tell: none of these words is in the model's "
                      f"vocabulary ({len(VOCABULARY):,} words).")
    endpoint = os.environ["ENDPOINT_NAME"]
    try:
        response = RUNTIME.invoke_endpoint(EndpointName=endpoint, ContentType="text/libsvm",
                                           Body=libsvm_row(bag))
        text = response["Body"].read().decode("utf-8", "replace")
    except (ClientError, BotoCoreError) as exc:
        return answer(503, None, gone_message(endpoint, exc))
    try:
        score = float(text.replace("\n", ",").split(",")[0])
    except ValueError:
        return answer(503, None, f"The model's endpoint {endpoint} answered {text[:100]!r}, "
                      "not a score.")
    verdict = "positive" if score > 0.5 else "negative"
    return answer(200, verdict, f"Your review was {verdict.upper()}!", round(score, 4))


def gone_message(endpoint: str, exc: Exception) -> str:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in ("ValidationError", "ValidationException", "ResourceNotFound"):
        return (f"The model is gone: its endpoint {endpoint} no longer exists (the demo "
                "deletes it when it stops). Run `cove demo` again to bring it back.")
    return f"The model's endpoint {endpoint} could not answer: {exc}"
