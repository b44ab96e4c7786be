"""Data capture: sampled request/response pairs of an endpoint, written as JSON Lines under
the configured S3 URI in SageMaker's capture format
(``{dest}/{endpoint}/{variant}/yyyy/mm/dd/hh/<file>.jsonl``), one object per flush."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cove import errors
from cove.objects import Checksum, LocalObjectStore, ObjectAttributes
from cove.sagemaker import parse_s3_uri

TEXT_TYPES = {"text/csv": "CSV", "application/json": "JSON", "application/jsonlines": "JSON"}


@dataclass
class CapturePolicy:
    destination: str
    percentage: float
    modes: tuple[str, ...]  # Input, Output
    csv_types: tuple[str, ...] = ()
    json_types: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CapturePolicy | None:
        if not config or not config.get("EnableCapture", True):
            return None
        header = config.get("CaptureContentTypeHeader", {})
        return cls(config["DestinationS3Uri"].rstrip("/"),
                   float(config.get("InitialSamplingPercentage", 100)),
                   tuple(o["CaptureMode"] for o in config.get("CaptureOptions", [])) or (
                       "Input", "Output"),
                   tuple(header.get("CsvContentTypes", [])),
                   tuple(header.get("JsonContentTypes", [])))

    def encoding(self, content_type: str) -> str:
        base = content_type.split(";")[0].strip().lower()
        if base in self.csv_types:
            return "CSV"
        if base in self.json_types:
            return "JSON"
        return TEXT_TYPES.get(base, "BASE64")


@dataclass
class Capturer:
    store: LocalObjectStore
    pending: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, policy: CapturePolicy, endpoint: str, variant: str,
               request: tuple[str, bytes], response: tuple[str, bytes]) -> None:
        if self.rng.uniform(0, 100) >= policy.percentage:
            return
        data: dict[str, Any] = {}
        if "Input" in policy.modes:
            data["endpointInput"] = _payload(policy, "INPUT", *request)
        if "Output" in policy.modes:
            data["endpointOutput"] = _payload(policy, "OUTPUT", *response)
        now = time.time()
        line = json.dumps({"captureData": data, "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"},
            "eventVersion": "0"})
        with self.lock:
            self.pending.setdefault((policy.destination, endpoint, variant), []).append(line)

    def flush(self) -> None:
        """Write what was captured, one object per destination and variant.  A destination
        that cannot be written (its bucket was deleted) loses its lines, as SageMaker's
        capture does, and the others are still written; the first such error is raised after."""
        with self.lock:
            pending, self.pending = self.pending, {}
        failed: list[errors.CoveError] = []
        for (destination, endpoint, variant), lines in pending.items():
            try:
                self._write(destination, endpoint, variant, lines)
            except errors.CoveError as exc:
                failed.append(exc)
        if failed:
            raise failed[0]

    def _write(self, destination: str, endpoint: str, variant: str, lines: list[str]) -> None:
        bucket, prefix = parse_s3_uri(destination, "DestinationS3Uri")
        hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
        name = f"{time.strftime('%M-%S', time.gmtime())}-{uuid.uuid4().hex[:8]}.jsonl"
        key = "/".join(p for p in (prefix, endpoint, variant, hour, name) if p)
        writer = self.store.blobs.writer()
        writer.write(("\n".join(lines) + "\n").encode())
        self.store.put_object(bucket, key, writer.finish(),
                              ObjectAttributes("application/jsonlines"), Checksum())


def _payload(policy: CapturePolicy, mode: str, content_type: str, body: bytes) -> dict[str, str]:
    encoding = policy.encoding(content_type)
    text = body.decode("utf-8", "replace") if encoding != "BASE64" else base64.b64encode(
        body).decode()
    return {"observedContentType": content_type, "mode": mode, "data": text,
            "encoding": encoding}
