"""The pieces of batch transform on their own: JSONPath, splitting, packing, data processing,
gzip, output names, settings, and the engine with an in-process model (a real Invoker)."""

from __future__ import annotations

import asyncio
import gzip
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cove import errors
from cove.hosting import WorkerResponse, WorkerUnavailable
from cove.objects import Checksum, ObjectAttributes, ObjectInfo
from cove.transform import Engine, TransformFailed
from cove.transform._batches import Packing
from cove.transform._inputs import InputError, InputObject, gunzip, output_key, relative_key
from cove.transform._jsonpath import JsonPathError, JsonPathSyntaxError, parse
from cove.transform._plan import batch_environment, make_plan, workers_per_instance
from cove.transform._processing import ProcessingError, data_processing
from cove.transform._records import (
    RECORDIO_MAGIC,
    RecordTooLarge,
    SplitError,
    count_lines,
    recordio_frame,
    split,
    split_lines,
    split_recordio,
)

# --- JSONPath --------------------------------------------------------------------------------

ROW = ["7", "a", "b", "c"]
DOC = {"id": 7, "features": [1, 2, 3], "SageMakerOutput": {"score": 0.5}}


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("$", ROW, ROW),
    ("$[1:]", ROW, ["a", "b", "c"]),
    ("$[0,-1]", ROW, ["7", "c"]),
    ("$[0,2:]", ROW, ["7", "b", "c"]),
    ("$[:2]", ROW, ["7", "a"]),
    ("$[-1]", ROW, "c"),
    ("$[*]", ROW, ROW),
    ("$.features", DOC, [1, 2, 3]),
    ("$['features']", DOC, [1, 2, 3]),
    ("$.features[1:]", DOC, [2, 3]),
    ("$['id','SageMakerOutput']", DOC, {"id": 7, "SageMakerOutput": {"score": 0.5}}),
    ("$.SageMakerOutput.score", DOC, 0.5),
    ("$.SageMakerOutput.*", DOC, [0.5]),
    ("$.features.[0]", DOC, 1),
    ("$[*].score", [{"score": 1}, {"score": 2}], [1, 2]),
])
def test_jsonpath_selects_as_sagemaker_documents(path: str, value: Any, expected: Any) -> None:
    assert parse(path).apply(value) == expected


@pytest.mark.parametrize(("path", "why"), [
    ("features", "must start with"), ("$..id", "recursive descent"),
    ("$[?(@.id)]", "filter"), ("$[0:4:2]", "slice steps"), ("$[", "never closed"),
    ("$.", "member name"), ("$[]", "not an index"), ("$[x]", "not an index"),
    ("$['a',b]", "not a quoted member name"),
])
def test_jsonpath_outside_the_subset_is_refused(path: str, why: str) -> None:
    with pytest.raises(JsonPathSyntaxError, match=why):
        parse(path)


@pytest.mark.parametrize(("path", "value", "why"), [
    ("$[4]", ROW, "index 4 is outside the record's 4 elements"),
    ("$.nope", DOC, "no member 'nope'"), ("$.id.x", DOC, "needs an object"),
    ("$[0]", DOC, "needs an array"),
])
def test_jsonpath_that_does_not_fit_says_why(path: str, value: Any, why: str) -> None:
    with pytest.raises(JsonPathError, match=why):
        parse(path).apply(value)


# --- splitting -------------------------------------------------------------------------------

def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_lines_across_chunk_boundaries(size: int) -> None:
    data = b"a,b\r\n\n  \nc,d\ne"
    found = [(r, p) for records in split_lines(chunked(data, size))
             for r, p in zip(records.items, records.positions, strict=True)]
    assert found == [(b"a,b", 1), (b"c,d", 4), (b"e", 5)]


def test_counting_lines_finds_what_splitting_finds() -> None:
    rng = random.Random(4)
    alphabet = [b"a", b" ", b"\n", b"\r", b"\t", b"x,y"]
    for _ in range(500):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for size in (1, 3, 100):
            found = sum(len(r.items) for r in split_lines(chunked(data, size)))
            assert count_lines(chunked(data, size)) == found, data


def multipart(parts: list[bytes]) -> bytes:
    flags = [1] + [2] * (len(parts) - 2) + [3]
    return b"".join(struct.pack("<II", RECORDIO_MAGIC, (flag << 29) | len(part)) + part
                    + b"\0" * (-len(part) % 4) for flag, part in zip(flags, parts, strict=True))


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_recordio_records_whole_and_in_parts(size: int) -> None:
    split_record = multipart([b"xy", b"z", b"last"])
    data = recordio_frame(b"abc") + split_record + recordio_frame(b"") + recordio_frame(b"12345")
    found = [(r, p) for records in split_recordio(chunked(data, size))
             for r, p in zip(records.items, records.positions, strict=True)]
    assert [p for _, p in found] == [0, 12, 12 + len(split_record), 20 + len(split_record)]
    assert found[0][0] == recordio_frame(b"abc")[:11]  # without its last frame's padding
    assert found[1][0] == split_record  # "last" needs no padding
    assert found[3][0] == recordio_frame(b"12345")[:13]


def test_recordio_that_is_not_recordio_says_where() -> None:
    with pytest.raises(SplitError, match="no record header at byte 12"):
        list(split_recordio([recordio_frame(b"abc") + b"garbage!"]))
    with pytest.raises(SplitError, match="ends inside a record"):
        list(split_recordio([recordio_frame(b"abcdef")[:-3]]))
    with pytest.raises(SplitError, match="interrupts a record in parts"):
        list(split_recordio([multipart([b"ab", b"cd"])[:12] + recordio_frame(b"x")]))


def test_a_whole_object_over_the_limit_stops_reading() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 1000

    with pytest.raises(RecordTooLarge):
        list(split("None", endless(), limit=10_000))


# --- packing ---------------------------------------------------------------------------------

def batches(packing: Packing, data: bytes) -> list[Any]:
    return list(packing.batches(ITEM, split(packing.split_type, [data], packing.limit)))


ITEM = InputObject(ObjectInfo("b", "in/x.csv", 0, '""', 0.0, ObjectAttributes(), Checksum(), ()),
                   "x.csv")
LINES = b"".join(f"{i},{'v' * (i % 7)}\n".encode() for i in range(1, 200))


@pytest.mark.parametrize("limit", [12, 50, 333, 10_000])
def test_multirecord_fills_mini_batches_up_to_the_limit(limit: int) -> None:
    found = batches(Packing("Line", False, limit), LINES)
    assert b"\n".join(b.payload for b in found) + b"\n" == LINES  # every record, in order
    assert all(len(b.payload) < limit for b in found)  # each record counted with its newline
    for before, after in zip(found, found[1:], strict=False):  # the next record did not fit
        assert len(before.payload) + 1 + len(after.units[0]) + 1 > limit
    assert [b.last for b in found] == [False] * (len(found) - 1) + [True]
    assert [b.first for b in found] == [1 + sum(b.count for b in found[:i])
                                        for i in range(len(found))]


def test_singlerecord_sends_each_record_alone() -> None:
    found = batches(Packing("Line", True, 6 << 20), b"1,2\n\n3,4\r\n5,6")
    assert [(b.payload, b.positions) for b in found] == [
        (b"1,2", [1]), (b"3,4", [3]), (b"5,6", [4])]


def test_a_record_over_the_limit_is_named() -> None:
    with pytest.raises(RecordTooLarge) as raised:
        batches(Packing("Line", False, 8), b"1,2\n\n123456789\n")
    assert (raised.value.ordinal, raised.value.position, raised.value.size) == (2, 3, 10)


def test_recordio_mini_batches_are_recordio() -> None:
    data = recordio_frame(b"abc") + recordio_frame(b"defgh") + recordio_frame(b"i")
    multi = batches(Packing("RecordIO", False, 100), data)
    assert [b.payload for b in multi] == [data]
    single = batches(Packing("RecordIO", True, 100), data)
    assert [b.payload for b in single] == [recordio_frame(b"abc")[:11],
                                           recordio_frame(b"defgh")[:13], recordio_frame(b"i")[:9]]


def test_an_object_without_records_still_gets_its_output() -> None:
    (only,) = batches(Packing("Line", False, 100), b"\n \n")
    assert only.payload is None and only.last


def test_the_input_filter_applies_before_packing() -> None:
    processing = data_processing({"InputFilter": "$[1:]"}, "text/csv", "Line")
    (batch,) = batches(Packing("Line", False, 100, processing), b"id1,1,2\nid2,3,4\n")
    assert batch.payload == b"1,2\n3,4"
    assert batch.originals == [b"id1,1,2", b"id2,3,4"]


# --- data processing -------------------------------------------------------------------------

def test_csv_join_and_filters() -> None:
    p = data_processing({"InputFilter": "$[1:]", "JoinSource": "Input",
                         "OutputFilter": "$[0,-1]"}, "text/csv", "Line")
    assert p is not None and p.per_record
    assert p.filter_input(b'7,"a,b",2') == b'"a,b",2'
    assert p.finish(b"7,1.5,2.5", b"0.25", "text/csv") == b"7,0.25"
    joined = data_processing({"JoinSource": "Input"}, "text/csv; charset=utf-8", "Line")
    assert joined is not None
    assert joined.finish(b"7,1.5", b"0.25,0.75", "text/csv") == b"7,1.5,0.25,0.75"
    assert joined.finish(b"7", b'{"score": 1}', "application/json") == b'7,"{""score"":1}"'


def test_json_join_and_filters() -> None:
    p = data_processing({"InputFilter": "$.features", "JoinSource": "Input",
                         "OutputFilter": "$['id','SageMakerOutput']"}, "application/jsonlines",
                        "Line")
    assert p is not None
    record = b'{"id": 3, "features": [1, 2], "note": "x"}'
    assert p.filter_input(record) == b"[1,2]"
    assert p.finish(record, b'{"score": 0.5}', "application/jsonlines") == \
        b'{"id":3,"SageMakerOutput":{"score":0.5}}'
    wrapped = data_processing({"JoinSource": "Input"}, "application/json", "Line")
    assert wrapped is not None
    assert wrapped.finish(b"[1, 2]", b"0.5", "text/csv") == \
        b'{"SageMakerInput":[1,2],"SageMakerOutput":"0.5"}'


def test_output_filter_alone_selects_from_the_output() -> None:
    p = data_processing({"OutputFilter": "$[1]"}, None, "Line")
    assert p is not None and p.finish(b"ignored", b"0.2,0.8", "text/csv") == b"0.8"
    assert data_processing({"InputFilter": "$", "OutputFilter": "$"}, "text/csv", "Line") is None


def test_records_that_do_not_fit_the_filters() -> None:
    p = data_processing({"InputFilter": "$.features"}, "application/json", "Line")
    assert p is not None
    with pytest.raises(ProcessingError, match="not JSON"):
        p.filter_input(b"1,2,3")
    with pytest.raises(ProcessingError, match="no member 'features'"):
        p.filter_input(b'{"x": 1}')
    joined = data_processing({"JoinSource": "Input"}, "text/csv", "Line")
    assert joined is not None
    with pytest.raises(ProcessingError, match="is not JSON as its content type says"):
        joined.finish(b"1", b"{not json", "application/json")


@pytest.mark.parametrize(("settings", "content_type", "split_type", "why"), [
    ({"InputFilter": "$[1:]"}, "application/x-npy", "Line", "works on CSV and JSON records"),
    ({"JoinSource": "Input"}, None, "Line", "ContentType"),
    ({"JoinSource": "Input"}, "text/csv", "RecordIO", "not on RecordIO"),
    ({"OutputFilter": "$..x"}, "text/csv", "Line", "OutputFilter"),
])
def test_processing_that_cannot_apply_is_refused(settings: dict[str, str], content_type: str,
                                                 split_type: str, why: str) -> None:
    with pytest.raises(errors.ValidationError, match=why):
        data_processing(settings, content_type, split_type)


# --- objects ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "prefix", "relative"), [
    ("data/a/b.csv", "data/", "a/b.csv"), ("data/a/b.csv", "data", "a/b.csv"),
    ("data/part-1.csv", "data/part", "part-1.csv"), ("data/x.csv", "data/x.csv", "x.csv"),
    ("x.csv", "", "x.csv"),
])
def test_outputs_are_named_relative_to_the_prefix(key: str, prefix: str, relative: str) -> None:
    assert relative_key(key, prefix) == relative
    assert output_key("s3://out/scored/", relative) == ("out", f"scored/{relative}.out")
    assert output_key("s3://out", relative) == ("out", f"{relative}.out")


def test_gunzip_members_and_damage() -> None:
    data = gzip.compress(b"a\n" * 1000) + gzip.compress(b"b\n")
    for size in (1, 13, 1 << 20):
        assert b"".join(gunzip(chunked(data, size), "s3://b/k")) == b"a\n" * 1000 + b"b\n"
    with pytest.raises(InputError, match="is not gzip data"):
        list(gunzip([b"plain text"], "s3://b/k"))
    with pytest.raises(InputError, match="truncated"):
        list(gunzip([data[:30]], "s3://b/k"))


# --- settings --------------------------------------------------------------------------------

DESCRIBE: dict[str, Any] = {
    "TransformInput": {"DataSource": {}, "ContentType": "text/csv", "SplitType": "Line"},
    "TransformOutput": {"S3OutputPath": "s3://b/out"},
    "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
}


def test_batch_settings_come_from_request_then_container_then_defaults() -> None:
    offered = {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD",
               "MaxPayloadInMB": 1}
    plan = make_plan({**DESCRIBE, "MaxPayloadInMB": 2, "MaxConcurrentTransforms": 0}, offered)
    assert plan.settings == {"MaxConcurrentTransforms": (3, "the model's execution-parameters"),
                             "BatchStrategy": ("SingleRecord",
                                               "the model's execution-parameters"),
                             "MaxPayloadInMB": (2, "the request")}
    assert plan.concurrency == 6 and plan.packing.single and plan.packing.limit == 2 << 20
    plan = make_plan(DESCRIBE, {"MaxConcurrentTransforms": "many", "BatchStrategy": "BOTH"})
    assert {k: v for k, (v, _) in plan.settings.items()} == {
        "MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
    assert plan.timeout == 600 and plan.retries == 3 and plan.headers == {
        "content-type": "text/csv"}


def test_the_workers_environment() -> None:
    environment = batch_environment({**DESCRIBE, "Environment": {"A": "1"},
                                     "BatchStrategy": "SingleRecord", "MaxPayloadInMB": 4})
    assert environment == {"A": "1", "SAGEMAKER_BATCH": "true",
                           "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
                           "SAGEMAKER_MAX_PAYLOAD_IN_MB": "4"}
    assert workers_per_instance({"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}) == 3
    assert workers_per_instance({"SAGEMAKER_MODEL_SERVER_WORKERS": "lots"}) == 1


# --- the engine, with an in-process model ----------------------------------------------------

class SumModel:
    """A real Invoker in this process: each CSV line's sum, answered after a random delay (so
    answers come back out of order), failing as told: the first attempt of every
    ``drop_every``-th request is dropped; requests with a line starting ``fail_on`` get 500."""

    def __init__(self, seed: int, drop_every: int = 0, fail_on: str = "") -> None:
        self.rng = random.Random(seed)
        self.seen: set[bytes] = set()
        self.drop_every, self.fail_on = drop_every, fail_on

    async def invoke(self, body: bytes, headers: dict[str, str],
                     timeout: float) -> WorkerResponse:
        first = body not in self.seen
        self.seen.add(body)
        await asyncio.sleep(self.rng.random() / 200)
        if first and self.drop_every and len(self.seen) % self.drop_every == 0:
            raise WorkerUnavailable("the worker dropped the request")
        lines = body.decode().splitlines()
        if self.fail_on and any(line.startswith(self.fail_on) for line in lines):
            return WorkerResponse(500, {}, b"ValueError: cannot score that")
        sums = "".join(f"{sum(float(v) for v in line.split(','))}\n" for line in lines)
        return WorkerResponse(200, {"content-type": "text/csv"}, sums.encode())


@dataclass
class MemoryObjects:
    """Objects in memory (a real ObjectIO)."""

    inputs: dict[str, bytes]
    outputs: dict[str, bytes] = field(default_factory=dict)

    def chunks(self, item: InputObject, compression: str) -> Iterator[bytes]:
        return iter(chunked(self.inputs[item.relative], 100))

    def output(self, item: InputObject, output_path: str) -> Any:
        return MemoryOutput(self.outputs, item.relative)


@dataclass
class MemoryOutput:
    outputs: dict[str, bytes]
    key: str
    data: bytes = b""

    @property
    def uri(self) -> str:
        return f"memory://{self.key}.out"

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self, content_type: str) -> None:
        self.outputs[self.key] = self.data

    def abort(self) -> None:
        self.data = b""


class Events:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.records = 0

    def log(self, message: str) -> None:
        self.lines.append(message)

    def records_done(self, count: int) -> None:
        self.records += count

    def object_done(self, item: InputObject, output: str, records: int, seconds: float) -> None:
        self.lines.append(f"done {item.relative}")


def run_engine(inputs: dict[str, bytes], model: SumModel, **settings: Any) -> tuple[
        MemoryObjects, Events]:
    objects, events = MemoryObjects(inputs), Events()
    items = [InputObject(ITEM.info, name) for name in inputs]
    plan = make_plan({**DESCRIBE, **settings}, None)
    asyncio.run(Engine(plan, items, objects, model, events).run())
    return objects, events


def rows(start: int, count: int) -> bytes:
    return b"".join(f"{i},{i}\n".encode() for i in range(start, start + count))


def test_the_engine_keeps_every_record_in_order() -> None:
    inputs = {"a": rows(0, 300), "b": b"", "c": rows(300, 50)}
    for strategy in ("SingleRecord", "MultiRecord"):
        objects, events = run_engine(inputs, SumModel(1, drop_every=2),
                                     BatchStrategy=strategy, MaxConcurrentTransforms=8,
                                     MaxPayloadInMB=1)
        assert objects.outputs == {
            "a": b"".join(f"{2.0 * i}\n".encode() for i in range(300)), "b": b"",
            "c": b"".join(f"{2.0 * i}\n".encode() for i in range(300, 350))}
        assert events.records == 350
        assert any("retry 1 of 3" in line for line in events.lines)  # dropped ones came back


def test_the_engine_names_the_record_the_model_fails_on() -> None:
    inputs = {"a": rows(0, 20), "b": rows(20, 20)}
    with pytest.raises(TransformFailed, match=r"record 7 \(line 7\): the model answered 500"):
        run_engine(inputs, SumModel(2, fail_on="26,"), MaxConcurrentTransforms=4)
