"""The transform engine: objects in, mini-batches to the workers, ``.out`` objects back, in order.

One dispatcher reads the input objects one after another, splits and packs them
(:mod:`~cove.transform._batches`) and sends each mini-batch as soon as one of ``concurrency``
request slots is free; one assembler takes the answers *in the order the batches were made*, so
every output keeps its records' order exactly, writes them to the object's output and commits it
after its last batch.  Sending runs ahead of writing by at most twice the slots, which bounds
memory.  Batches of the next object go out while the last ones of the previous are still in
flight, so the workers stay busy across object boundaries.

A failed request is retried (``InvocationsMaxRetries``) unless the model rejected it (4xx); a
mini-batch that still fails is taken apart, its records sent one by one, to name the record the
model fails on.  Any failure ends the job (:class:`TransformFailed`): objects written until then
stay, the one being written is dropped.  Nothing here knows where the workers run: they are an
:class:`Invoker`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from cove.hosting import WorkerResponse, WorkerUnavailable
from cove.transform._batches import BadRecord, MiniBatch
from cove.transform._inputs import InputError, InputObject, OutputObject
from cove.transform._plan import MIB, Plan
from cove.transform._processing import ProcessingError
from cove.transform._records import RecordTooLarge, SplitError, count_lines, split


class TransformFailed(Exception):
    """The job cannot go on; ``reason`` names the object (and record) and says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Invoker(Protocol):
    """Model workers that answer ``POST /invocations``, wherever they run.

    ``invoke`` returns the worker's answer whatever its status; it raises TimeoutError when
    none came within ``timeout`` seconds and WorkerUnavailable when no worker could take or
    finish the request (both are retried by the engine).
    """

    async def invoke(self, body: bytes, headers: dict[str, str],
                     timeout: float) -> WorkerResponse: ...


class ObjectIO(Protocol):
    """Where input objects are read and outputs written (:class:`~._inputs.LocalObjects`)."""

    def chunks(self, item: InputObject, compression: str) -> Iterator[bytes]: ...

    def output(self, item: InputObject, output_path: str) -> OutputObject: ...


class Events(Protocol):
    """What the engine reports as it goes (the job records it)."""

    def log(self, message: str) -> None: ...

    def records_done(self, count: int) -> None: ...

    def object_done(self, item: InputObject, output: str, records: int,
                    seconds: float) -> None: ...


#: Dispatcher to assembler: batches with their answers to come, in order; a failure that
#: stops the dispatcher; None at the end.
Queue = asyncio.Queue[
    "tuple[MiniBatch, asyncio.Task[WorkerResponse | TransformFailed | None]] | TransformFailed "
    "| None"]


@dataclass(frozen=True)
class Problem:
    status: int | None  # the model's HTTP status; None: no answer at all
    message: str


class Engine:
    def __init__(self, plan: Plan, items: list[InputObject], objects: ObjectIO,
                 invoker: Invoker, events: Events) -> None:
        self.plan, self.items, self.objects = plan, items, objects
        self.invoker, self.events = invoker, events

    async def run(self) -> None:
        """Transform every object; TransformFailed if one cannot be."""
        slots = asyncio.Semaphore(self.plan.concurrency)
        queue: Queue = asyncio.Queue(maxsize=2 * self.plan.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._dispatch(group, queue, slots))
                group.create_task(self._assemble(queue))
        except BaseExceptionGroup as failures:
            raise _first(failures) from None

    # --- sending ----------------------------------------------------------------------------

    async def _dispatch(self, group: asyncio.TaskGroup, queue: Queue,
                        slots: asyncio.Semaphore) -> None:
        try:
            for batch in self._batches():
                await slots.acquire()
                task = group.create_task(self._answer(batch, slots))
                await queue.put((batch, task))
        except TransformFailed as failure:  # after what was sent before it is written
            await queue.put(failure)
        await queue.put(None)

    def _batches(self) -> Iterator[MiniBatch]:
        plan = self.plan
        for item in self.items:
            chunks = self.objects.chunks(item, plan.compression)
            records = split(plan.splitter, chunks, plan.packing.limit)
            try:
                yield from plan.packing.batches(item, records)
            except (SplitError, InputError) as exc:
                raise TransformFailed(f"Cannot split {item.uri}: {exc}") from exc
            except RecordTooLarge as exc:
                raise TransformFailed(self._too_large(item, exc)) from exc
            except BadRecord as exc:
                raise TransformFailed(f"{item.uri}, {self._record(exc.ordinal, exc.position)}: "
                                      f"{exc.reason}") from exc

    async def _answer(self, batch: MiniBatch,
                      slots: asyncio.Semaphore) -> WorkerResponse | TransformFailed | None:
        """The model's answer; a failure is returned, not raised, so that the batches before
        this one are written before the job ends."""
        try:
            if batch.payload is None:
                return None
            answer = await self._call(batch.payload, self.plan.retries, batch)
            if isinstance(answer, WorkerResponse):
                return answer
            detail = answer.message
            if answer.status is not None and batch.count > 1:
                await self._find_failing_record(batch)
                detail += (" (each of its records alone was answered: the mini-batch as a whole "
                           "failed; try a smaller MaxPayloadInMB or BatchStrategy SingleRecord)")
            return TransformFailed(f"{batch.item.uri}, {self._records(batch)}: {detail}")
        except TransformFailed as failure:
            return failure
        finally:
            slots.release()

    async def _call(self, body: bytes, retries: int,
                    batch: MiniBatch) -> WorkerResponse | Problem:
        problem = Problem(None, "no attempt was made")
        for attempt in range(retries + 1):
            if _cancelling():
                raise asyncio.CancelledError  # a cancel an answer arriving at once swallowed
            if attempt:
                self.events.log(f"{batch.item.uri}, {self._records(batch)}: {problem.message}; "
                                f"retry {attempt} of {retries}")
            try:
                response = await self.invoker.invoke(body, self.plan.headers, self.plan.timeout)
            except TimeoutError:
                problem = Problem(None, f"the model did not answer within "
                                        f"{self.plan.timeout:g} s (ModelClientConfig."
                                        "InvocationsTimeoutInSeconds)")
                continue
            except WorkerUnavailable as exc:
                problem = Problem(None, exc.message)
                continue
            if response.status < 300:
                return response
            text = response.body.decode("utf-8", "replace").strip()[:400]
            problem = Problem(response.status, f"the model answered {response.status}: {text}")
            if response.status < 500:
                break  # the model rejects this request: sending it again changes nothing
        return problem

    async def _find_failing_record(self, batch: MiniBatch) -> None:
        """Send the batch's records one at a time; TransformFailed naming the first that fails."""
        self.events.log(f"{batch.item.uri}, {self._records(batch)}: the mini-batch failed; "
                        "sending its records one by one to find the failing one")
        for index, unit in enumerate(batch.units):
            answer = await self._call(bytes(unit), 0, batch)
            if isinstance(answer, Problem):
                ordinal = batch.first + index
                raise TransformFailed(f"{batch.item.uri}, "
                                      f"{self._record(ordinal, batch.positions[index])}: "
                                      f"{answer.message}")

    # --- writing ----------------------------------------------------------------------------

    async def _assemble(self, queue: Queue) -> None:
        output: OutputObject | None = None
        started, records, content_type = 0.0, 0, ""
        try:
            while (entry := await queue.get()) is not None:
                if isinstance(entry, TransformFailed):
                    raise entry
                batch, task = entry
                # shield: a cancel must reach this coroutine even if the request it waits for
                # finishes at that instant (and swallows it, as wait_for does in Python 3.11)
                response = await asyncio.shield(task)
                if isinstance(response, TransformFailed):
                    raise response
                if output is None:
                    output = self.objects.output(batch.item, self.plan.output_path)
                    started, records = time.monotonic(), 0
                if response is not None:
                    content_type = content_type or response.headers.get("content-type", "")
                    data = self._output(batch, response)
                    if data:
                        output.write(data)
                records += batch.count
                self.events.records_done(batch.count)
                if batch.last:
                    output.commit(self.plan.accept or content_type or "application/octet-stream")
                    self.events.object_done(batch.item, output.uri, records,
                                            time.monotonic() - started)
                    output = None
        finally:
            if output is not None:
                output.abort()

    def _output(self, batch: MiniBatch, response: WorkerResponse) -> bytes:
        body, processing = response.body, self.plan.processing
        ending = b"\n" if self.plan.assemble_lines else b""
        if processing is None or not processing.per_record:
            if ending and body and not body.endswith(b"\n"):
                return body + ending
            return body
        outputs = self._per_record(batch, body)
        output_type = response.headers.get("content-type") or self.plan.accept
        lines = []
        for index, (original, output) in enumerate(zip(batch.originals, outputs, strict=True)):
            try:
                lines.append(processing.finish(original, output, output_type))
            except ProcessingError as exc:
                where = self._record(batch.first + index, batch.positions[index])
                raise TransformFailed(f"{batch.item.uri}, {where}: {exc}") from exc
        return ending.join(lines) + ending

    def _per_record(self, batch: MiniBatch, body: bytes) -> list[bytes]:
        """The model's output for each record of the batch: one line each (or all of it for a
        batch of one record)."""
        if batch.count == 1:
            return [body[:-1] if body.endswith(b"\n") else body]
        lines = body.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        if len(lines) != batch.count:
            raise TransformFailed(
                f"{batch.item.uri}, {self._records(batch)}: the model answered {len(lines)} "
                f"line(s) for the mini-batch's {batch.count} records. JoinSource and "
                "OutputFilter need one output line per input record: use BatchStrategy "
                "SingleRecord, or a model that answers one line per record.")
        return [line[:-1] if line.endswith(b"\r") else line for line in lines]

    # --- messages ---------------------------------------------------------------------------

    def _record(self, ordinal: int, position: int) -> str:
        if self.plan.splitter == "Line":
            return f"record {ordinal} (line {position})"
        if self.plan.splitter == "RecordIO":
            return f"record {ordinal} (byte {position})"
        return "the whole object"

    def _records(self, batch: MiniBatch) -> str:
        if batch.count == 1:
            return self._record(batch.first, batch.positions[0])
        if self.plan.splitter == "None":
            return "the whole object"
        last = batch.first + batch.count - 1
        where = "lines" if self.plan.splitter == "Line" else "bytes"
        return (f"records {batch.first}-{last} ({where} {batch.positions[0]}-"
                f"{batch.positions[-1]})")

    def _too_large(self, item: InputObject, exc: RecordTooLarge) -> str:
        limit = f"MaxPayloadInMB ({exc.limit // MIB} MB = {exc.limit:,} bytes)"
        if exc.ordinal == 0 or self.plan.splitter == "None":
            return (f"{item.uri} is over {limit} and SplitType is None, so it would be sent "
                    f"whole: split it into records (SplitType Line or RecordIO) or raise "
                    "MaxPayloadInMB (at most 100).")
        return (f"{item.uri}, {self._record(exc.ordinal, exc.position)} is {exc.size:,} bytes, "
                f"over {limit}: a record must fit in one request. Raise MaxPayloadInMB (at "
                "most 100) or make the record smaller.")


def count_records(item: InputObject, objects: ObjectIO, plan: Plan) -> int:
    """How many records an object has (for progress), by splitting it as the engine does."""
    if plan.splitter == "None":
        return 1
    chunks = objects.chunks(item, plan.compression)
    if plan.splitter == "Line":
        return count_lines(chunks)
    return sum(len(records.items) for records in split(plan.splitter, chunks))


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure behind a task group's: TransformFailed first, else the first one."""
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    return next((e for e in leaves if isinstance(e, TransformFailed)), leaves[0])
