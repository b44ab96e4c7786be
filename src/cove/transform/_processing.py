"""``DataProcessing``: InputFilter, JoinSource and OutputFilter, on CSV and JSON records.

As SageMaker does it:

- A CSV record is the JSON array of its fields (strings, as written); a JSON or JSON Lines
  record is the JSON value on its line (or the whole object, ``SplitType`` None).
- ``InputFilter`` selects what the model gets; the result is written back in the record's
  format (a CSV row, a JSON value).
- ``JoinSource: Input`` joins each input record (unfiltered) with the model's output for it:
  CSV rows get the output's fields appended; a JSON object gets a ``SageMakerOutput`` member,
  any other JSON value becomes ``{"SageMakerInput": value, "SageMakerOutput": output}``.
- ``OutputFilter`` selects from the joined record (or, without a join, from the output), and
  the result is written in the input's format after a join, else in the output's.

The model's output for a record is read by the response's Content-Type: JSON types are parsed
(``SageMakerOutput`` holds the value, not its text), ``text/csv`` is split into its fields,
anything else is kept as text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from cove import errors
from cove.transform._jsonpath import JsonPath, JsonPathError, JsonPathSyntaxError, parse

CSV, JSON, TEXT = "csv", "json", "text"
JSON_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines",
              "application/json-lines")


class ProcessingError(ValueError):
    """A record (or the model's output for it) does not fit the filters or the join."""


def record_format(content_type: str | None) -> str:
    """csv, json or text, by a Content-Type (``text/csv; charset=utf-8`` is csv)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        return CSV
    return JSON if kind in JSON_TYPES else TEXT


@dataclass(frozen=True)
class DataProcessing:
    input_filter: JsonPath | None  # None: "$", the whole record
    output_filter: JsonPath | None
    join: bool
    input_format: str  # csv | json

    @property
    def per_record(self) -> bool:
        """Whether each record's output must be found in the response (join, OutputFilter)."""
        return self.join or self.output_filter is not None

    def filter_input(self, record: bytes | memoryview) -> bytes:
        if self.input_filter is None:
            return bytes(record)
        value = self._select(self.input_filter, self._read_input(record), "InputFilter")
        return _write(value, self.input_format).encode()

    def finish(self, record: bytes | memoryview, output: bytes,
               output_type: str | None) -> bytes:
        """The line written for one record: its output, joined and filtered."""
        kind = record_format(output_type)
        value = _read_output(output, kind, joined=self.join)
        if self.join:
            value = _join(self._read_input(record), value, self.input_format)
            kind = self.input_format
        if self.output_filter is not None:
            value = self._select(self.output_filter, value, "OutputFilter")
        return _write(value, kind).encode()

    def _read_input(self, record: bytes | memoryview) -> Any:
        text = _text(record, "record")
        if self.input_format == CSV:
            return csv_fields(text)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProcessingError(f"the record is not JSON ({exc})") from exc

    @staticmethod
    def _select(path: JsonPath, value: Any, what: str) -> Any:
        try:
            return path.apply(value)
        except JsonPathError as exc:
            raise ProcessingError(f"{what} {path.text}: {exc}") from exc


def data_processing(settings: dict[str, Any], content_type: str | None,
                    split_type: str) -> DataProcessing | None:
    """The job's DataProcessing, or None when it changes nothing; ValidationError if it cannot
    apply to this input."""
    paths = {}
    for key in ("InputFilter", "OutputFilter"):
        text = settings.get(key) or "$"
        try:
            paths[key] = parse(text)
        except JsonPathSyntaxError as exc:
            raise errors.ValidationError(f"DataProcessing.{key}: {exc}") from exc
    input_filter = None if paths["InputFilter"].is_root else paths["InputFilter"]
    output_filter = None if paths["OutputFilter"].is_root else paths["OutputFilter"]
    join = settings.get("JoinSource", "None") == "Input"
    if input_filter is None and output_filter is None and not join:
        return None
    fmt = record_format(content_type)
    if input_filter is not None or join:
        if fmt == TEXT:
            raise errors.ValidationError(
                "DataProcessing works on CSV and JSON records: set TransformInput.ContentType "
                f"to text/csv, application/json or application/jsonlines (it is "
                f"{content_type or 'not set'}).")
        if split_type == "RecordIO":
            raise errors.ValidationError("DataProcessing works on CSV and JSON records, not "
                                         "on RecordIO: use SplitType Line or None.")
    return DataProcessing(input_filter, output_filter, join, fmt)


def csv_fields(text: str) -> list[str]:
    """One CSV line's fields (quoted fields unquoted)."""
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text]))


def _read_output(output: bytes, kind: str, joined: bool) -> Any:
    text = _text(output, "model's output")
    if kind == JSON:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProcessingError(f"the model's output {text[:80]!r} is not JSON as its "
                                  f"content type says ({exc})") from exc
    if kind == CSV:
        fields = csv_fields(text)
        return fields[0] if joined and len(fields) == 1 else fields
    return text


def _join(record: Any, output: Any, input_format: str) -> Any:
    if input_format == CSV:
        return [*record, *output] if isinstance(output, list) else [*record, output]
    if isinstance(record, dict):
        return {**record, "SageMakerOutput": output}
    return {"SageMakerInput": record, "SageMakerOutput": output}


def _write(value: Any, kind: str) -> str:
    if kind == CSV:
        return _csv_line(value if isinstance(value, list) else [value])
    if kind == TEXT and isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _csv_line(values: list[Any]) -> str:
    fields = [v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
              for v in values]
    if not any(c in field for field in fields for c in ',"\r\n'):
        return ",".join(fields)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()[:-1]


def _text(data: bytes | memoryview, what: str) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise ProcessingError(f"the {what} is not UTF-8 text (byte {exc.start})") from exc
