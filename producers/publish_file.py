"""Publish a file of CloudEvents JSON lines through :class:`bus.Publisher` (the logic of ``lgsp publish``).

What happens to each line:

- blank: skipped;
- longer than ``max_line_bytes`` (the ingress's largest body, ``ingress.max_body_bytes``): **failed** with
  rule ``max-bytes``, read past in pieces without being held (a file with no newline, ``/dev/zero``, is a
  stream of such lines, not a process that grows until it is killed);
- not JSON, not an object, an unknown ``type`` or an event that breaks the contract: **failed**, reported at
  once with its line number, field and rule; with ``stop_on_error`` reading stops there (the good lines
  before it are still published), otherwise it goes on;
- valid: queued as a record (:class:`~bus.events.record.EventRecord`; a canonical line, as ``to_json``
  writes it, is read without a model by :func:`bus.cloudevents_record.structured_record`, any other goes
  through ``from_structured``, which names what is wrong); every ``batch_size`` valid lines (or when input
  pauses, for a pipe) are published with one ``publish_records``, which runs while the next batch is read
  (one batch in flight, so file order holds).
  A line whose values do not fit the Avro schema fails alone; the rest of its batch is published. Kafka or
  registry failures are not a line's fault: the run **stops**, the lines Kafka did not confirm are reported
  failed, and the lines after them are not published (``lines_read`` says how far reading got).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final, Protocol

from bus.cloudevents import from_structured
from bus.cloudevents_record import structured_record
from bus.errors import LgspError, PublishError, UnknownEventTypeError, ValidationError
from bus.events import EVENT_TYPES
from bus.events.record import EventRecord, record_of
from bus.publisher import Delivery, EventEncodingError
from bus.settings import IngressSettings
from producers.json_input import JsonInputError, loads_strict

DEFAULT_BATCH_SIZE: Final = 500
PIPE_FLUSH_S: Final = 0.2
"""For a pipe, publish what has been read after this long without a new line (so ``tail -f |`` flows)."""
UNKNOWN_TYPE: Final = "(unknown)"
MAX_LINE_BYTES: Final[int] = IngressSettings.model_fields["max_body_bytes"].default
"""The default longest line: the largest JSON body the ingress reads, so an event goes in either way or
neither."""
_BLOCK_BYTES: Final = 1024 * 1024
READ_AHEAD_BYTES: Final = 16 * 1024 * 1024
"""Lines a pipe's reader thread has read and the publisher not yet taken, at most (one chunk always passes);
a file's chunk is one read (``_BLOCK_BYTES``)."""
_READ_AHEAD_CHUNKS: Final = 64


class BatchPublisher(Protocol):
    async def publish_records(self, records: Sequence[EventRecord]) -> list[Delivery]: ...


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line (or a run of consecutive lines, to ``last``) was not published."""

    line: int
    field: str | None
    rule: str
    message: str
    type: str = UNKNOWN_TYPE
    last: int | None = None
    """The run's last line, when Kafka or the registry failed a whole batch (one report, not one per line)."""

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        message = self.message.removeprefix(where) if where else self.message
        lines = f"line {self.line}" if self.last is None else f"lines {self.line}-{self.last}"
        return f"{lines}: {where}{self.rule}: {message}"


@dataclass
class PublishSummary:
    """What a run did, per CloudEvents type."""

    published: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    lines_read: int = 0
    stopped_at_line: int | None = None
    fatal: str | None = None
    """Why the run stopped early because of Kafka or the registry (None if it did not)."""

    @property
    def total_published(self) -> int:
        return sum(self.published.values())

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())

    @property
    def ok(self) -> bool:
        return self.total_failed == 0 and self.fatal is None

    def to_json(self) -> dict[str, Any]:
        types = sorted(set(self.published) | set(self.failed))
        return {
            "published": self.total_published,
            "failed": self.total_failed,
            "lines_read": self.lines_read,
            "stopped_at_line": self.stopped_at_line,
            "fatal": self.fatal,
            "by_type": {t: {"published": self.published[t], "failed": self.failed[t]} for t in types},
        }


@dataclass(frozen=True, slots=True)
class _Pending:
    line: int
    record: EventRecord


class FilePublisher:
    """Reads lines, validates each, publishes valid ones in batches; reports through callbacks."""

    def __init__(
        self,
        publisher: BatchPublisher,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        stop_on_error: bool = False,
        on_error: Callable[[LineError], None] = lambda _e: None,
        on_progress: Callable[[int], None] = lambda _n: None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self._max_line_bytes = max_line_bytes
        self._publisher = publisher
        self._batch_size = batch_size
        self._stop_on_error = stop_on_error
        self._on_error = on_error
        self._on_progress = on_progress
        self.summary = PublishSummary()
        self._in_flight: asyncio.Task[None] | None = None

    async def run(self, stream: IO[bytes]) -> PublishSummary:
        """Publish every line of ``stream``; the summary (also on ``self.summary``)."""
        pending: list[_Pending] = []
        try:
            async for chunk in _line_chunks(stream, self._batch_size, self._max_line_bytes):
                read = 0  # progress once per chunk: a progress bar's update costs more than parsing a line
                for number, raw, size in chunk:
                    self.summary.lines_read = number
                    read += size
                    outcome = _parse(number, raw) if raw is not None else self._too_long(number, size)
                    if isinstance(outcome, _Pending):
                        pending.append(outcome)
                    elif outcome is not None:
                        self._record(outcome)
                    if self.summary.stopped_at_line is not None or len(pending) >= self._batch_size:
                        await self._hand_over(pending)
                        pending = []
                    if self.summary.stopped_at_line is not None:
                        self._on_progress(read)
                        await self._drain()
                        return self.summary
                if read:
                    self._on_progress(read)
                if pending and _is_pause(chunk):
                    await self._hand_over(pending)
                    pending = []
            await self._hand_over(pending)
            await self._drain()
        except _FatalError:
            pass
        finally:
            if self._in_flight is not None and not self._in_flight.done():
                self._in_flight.cancel()
        return self.summary

    async def _hand_over(self, batch: list[_Pending]) -> None:
        """Publish ``batch`` while the next one is read: one batch in flight at most, in file order."""
        await self._drain()
        stopped = self.summary.stopped_at_line
        if stopped is not None:  # a line of the batch in flight failed: publish nothing read after it
            batch = [p for p in batch if p.line < stopped]
        if batch:
            self._in_flight = asyncio.create_task(self._publish(batch))

    async def _drain(self) -> None:
        if self._in_flight is not None:
            task, self._in_flight = self._in_flight, None
            await task

    def _too_long(self, number: int, size: int) -> LineError:
        limit = self._max_line_bytes
        message = f"the line is over {limit} bytes ({size} read), the most one event may be"
        return LineError(number, None, "max-bytes", message)

    def _record(self, error: LineError) -> None:
        self.summary.failed[error.type] += 1
        self._on_error(error)
        if self._stop_on_error and self.summary.stopped_at_line is None:
            self.summary.stopped_at_line = error.line

    async def _publish(self, batch: list[_Pending]) -> None:
        """Publish ``batch``, dropping lines that do not encode; ``_FatalError`` when Kafka fails."""
        while batch:
            try:
                await self._publisher.publish_records([p.record for p in batch])
            except EventEncodingError as exc:
                bad = batch.pop(exc.index)
                self._record(LineError(bad.line, None, "avro-schema", str(exc), bad.record.name))
                continue
            except PublishError as exc:
                self._unconfirmed(batch, exc)
                raise _FatalError from exc
            except LgspError as exc:
                self._record_runs(batch, "publish", str(exc))
                self.summary.fatal = str(exc)
                raise _FatalError from exc
            self.summary.published.update(p.record.name for p in batch)
            return

    def _record_runs(self, failed: list[_Pending], rule: str, message: str) -> None:
        """Count every line of ``failed`` (in file order); report each run of consecutive lines once."""
        self.summary.failed.update(p.record.name for p in failed)
        # consecutive lines keep the same difference between line number and position
        for _, numbered in itertools.groupby(enumerate(failed), key=lambda item: item[1].line - item[0]):
            run = [pending for _, pending in numbered]
            first, last = run[0], run[-1]
            ending = None if last is first else last.line
            self._on_error(LineError(first.line, None, rule, message, first.record.name, last=ending))

    def _unconfirmed(self, batch: list[_Pending], exc: PublishError) -> None:
        unconfirmed = set(exc.unconfirmed)
        lost = [p for p in batch if p.record.event_id in unconfirmed]
        self.summary.published.update(p.record.name for p in batch if p.record.event_id not in unconfirmed)
        self._record_runs(lost, "not-confirmed", "Kafka did not confirm it")
        self.summary.fatal = str(exc)


def _parse(number: int, raw: bytes) -> _Pending | LineError | None:
    """One line as an event, a reason it is not one, or None for a blank line."""
    text = raw.strip()
    if not text:
        return None
    try:
        obj = loads_strict(text)
    except JsonInputError as exc:
        return LineError(number, None, exc.rule, f"not acceptable JSON: {exc}")
    if not isinstance(obj, dict):
        return LineError(number, None, "json.object", "a line must be one JSON object")
    record = structured_record(obj)  # a canonical line, as the model path would read it
    if record is not None:
        return _Pending(number, record)
    type_name = obj.get("type")
    label = type_name if isinstance(type_name, str) and type_name in EVENT_TYPES else UNKNOWN_TYPE
    try:
        return _Pending(number, record_of(from_structured(obj)))
    except UnknownEventTypeError as exc:
        return LineError(number, "type", "known-type", str(exc), label)
    except ValidationError as exc:
        return LineError(number, exc.field, exc.rule or "invalid", str(exc), label)
    except OverflowError as exc:  # a date at the edge of the calendar that the models fail to convert
        return LineError(number, None, "value.range", f"a value is out of range: {exc}", label)


class _FatalError(Exception):
    """Internal: Kafka or the registry failed; the summary says why."""


# --- reading lines -----------------------------------------------------------------------------------------

_Line = tuple[int, bytes | None, int]
"""(line number, raw bytes or None for a line over the limit, bytes consumed)."""
_PAUSE: Final[list[_Line]] = []


def _is_pause(chunk: list[_Line]) -> bool:
    return chunk is _PAUSE


async def _line_chunks(stream: IO[bytes], size: int, limit: int) -> AsyncIterator[list[_Line]]:
    """Lines in chunks; a regular file is read directly, a pipe in a thread with pauses marked."""
    if _is_regular_file(stream):
        for chunk in _chunks(stream, size, limit):
            yield chunk
        return
    async for item in _threaded_lines(stream, limit, size):
        yield item


def _chunks(stream: IO[bytes], size: int, limit: int) -> Iterator[list[_Line]]:
    """The lines of each read of :func:`_read_lines`, in lists of at most ``size``: a chunk never holds more
    than one read's bytes (``_BLOCK_BYTES``)."""
    for lines in _read_lines(stream, limit):
        for at in range(0, len(lines), size):
            yield lines[at : at + size]


def _read_lines(stream: IO[bytes], limit: int) -> Iterator[list[_Line]]:
    """The lines of ``stream``, a list per read of up to ``_BLOCK_BYTES``: a pipe's read returns what it
    has at hand, so a fast writer's lines come in large lists and a trickle's line by line, without waiting.

    A line is at most ``limit`` bytes, its newline not counted; a longer one comes as None with its size,
    read past without being held (nor anything but its last block: a file with no newline is a stream of
    blocks, not one growing line)."""
    read = getattr(stream, "read1", stream.read)
    number = 0
    partial: list[bytes] = []  # the current line's pieces from earlier reads
    held = 0  # their bytes, or those of an over-limit line read past so far
    over = False
    while block := read(_BLOCK_BYTES):
        lines: list[_Line] = []
        start = 0
        while (end := block.find(b"\n", start)) >= 0:
            number += 1
            piece = block[start : end + 1]
            start = end + 1
            size = held + len(piece)
            if over or size - 1 > limit:
                lines.append((number, None, size))
            else:
                lines.append((number, b"".join((*partial, piece)) if partial else piece, size))
            partial, held, over = [], 0, False
        rest = len(block) - start
        if rest:
            held += rest
            if not over and held > limit:
                partial, over = [], True
            elif not over:
                partial.append(block[start:])
        if lines:
            yield lines
    if held:
        number += 1
        yield [(number, None if over else b"".join(partial), held)]


def _is_regular_file(stream: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return True  # in-memory streams (tests): nothing to wait for


class _ReadAhead:
    """The bytes of the lines a reader thread has queued and the event loop not yet taken: the thread waits
    while they are over ``budget`` (a line alone always passes)."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._held = 0
        self._room = threading.Condition()

    def reserve(self, size: int) -> None:
        with self._room:
            self._room.wait_for(lambda: self._held == 0 or self._held + size <= self._budget)
            self._held += size

    def release(self, size: int) -> None:
        with self._room:
            self._held -= size
            self._room.notify()


async def _threaded_lines(
    stream: IO[bytes], limit: int, size: int, budget: int = READ_AHEAD_BYTES
) -> AsyncIterator[list[_Line]]:
    """:func:`_read_lines` in a thread, in chunks of at most ``size`` lines handed over as they are read, and
    a pause (:data:`_PAUSE`) after ``PIPE_FLUSH_S`` without one."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[list[_Line], int] | None] = asyncio.Queue(maxsize=_READ_AHEAD_CHUNKS)
    ahead = _ReadAhead(budget)

    def hand_over(item: tuple[list[_Line], int] | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def reader() -> None:
        for chunk in _chunks(stream, size, limit):
            held = sum(line[2] for line in chunk)
            ahead.reserve(held)
            hand_over((chunk, held))
        hand_over(None)

    thread = threading.Thread(target=reader, name="lgsp-publish-stdin", daemon=True)
    thread.start()
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), timeout=PIPE_FLUSH_S)
        except TimeoutError:
            yield _PAUSE
            continue
        if item is None:
            return
        chunk, held = item
        ahead.release(held)
        yield chunk
