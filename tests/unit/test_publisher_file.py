"""producers.publish_file (the logic of `lgsp publish`) with a fake publisher: lines, batches, failures."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import threading
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.errors import PublishError, RegistryUnavailableError
from bus.events.record import EventRecord
from bus.publisher import Delivery, EventEncodingError
from producers.publish_file import (
    READ_AHEAD_BYTES,
    FilePublisher,
    LineError,
    _read_lines,
    _threaded_lines,
)
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit


@dataclass
class FakePublisher:
    batches: list[list[str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def publish_records(self, records: Sequence[EventRecord]) -> list[Delivery]:
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append([r.event_id for r in records])
        return [Delivery(r.event_id, "t", 0, i) for i, r in enumerate(records)]

    @property
    def published(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


def _lines(*items: Any) -> io.BytesIO:
    text = "\n".join(
        item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items
    )
    return io.BytesIO(text.encode() + b"\n")


async def _run(stream: io.BytesIO, publisher: FakePublisher, **options: Any) -> tuple[Any, list[LineError]]:
    errors: list[LineError] = []
    runner = FilePublisher(publisher, on_error=errors.append, **options)
    return await runner.run(stream), errors


async def test_every_good_line_is_published_in_batches() -> None:
    events = samples.mixed(10)
    publisher = FakePublisher()
    summary, errors = await _run(_lines(*events), publisher, batch_size=4)
    assert errors == []
    assert [len(b) for b in publisher.batches] == [4, 4, 2]
    assert publisher.published == [e["id"] for e in events]
    assert summary.total_published == 10
    assert summary.published["vn.gov.lgsp.dossier.DossierSynced"] == 3
    assert summary.ok


async def test_bad_lines_are_reported_with_line_number_field_and_rule_and_the_rest_goes_on() -> None:
    late = samples.dossier(2)
    late["data"]["due_at"] = "2020-01-01T00:00:00Z"
    lines = _lines(
        samples.dossier(1), "{oops", "", late, [1, 2], samples.dossier(1) | {"type": "x.Y"}, samples.report(3)
    )
    publisher = FakePublisher()
    summary, errors = await _run(lines, publisher)
    assert [(e.line, e.field, e.rule) for e in errors] == [
        (2, None, "json"),
        (4, "data.due_at", "dossier.due_after_received"),
        (5, None, "json.object"),
        (6, "type", "known-type"),
    ]
    assert str(errors[1]).startswith("line 4: data.due_at: dossier.due_after_received: ")
    assert len(publisher.published) == 2
    assert summary.failed == {"(unknown)": 3, "vn.gov.lgsp.dossier.DossierSynced": 1}
    assert summary.lines_read == 7
    assert not summary.ok


async def test_duplicate_member_names_fail_the_line() -> None:
    publisher = FakePublisher()
    summary, errors = await _run(_lines('{"type": "a", "type": "b"}', samples.dossier(1)), publisher)
    assert [(e.line, e.rule) for e in errors] == [(1, "json.unique-names")]
    assert summary.total_published == 1


async def test_a_line_that_is_not_utf8_fails_with_that_rule_not_as_a_number() -> None:
    # json.loads raises UnicodeDecodeError, a ValueError: it came out as "json.number: a number is too long"
    good = json.dumps(samples.dossier(1), ensure_ascii=False).encode()
    stream = io.BytesIO(b'{"type": "caf\xe9"}\n' + good + b"\n")
    summary, errors = await _run(stream, FakePublisher())
    assert [(e.line, e.rule) for e in errors] == [(1, "utf-8")]
    assert "byte 0xe9 in position 13" in errors[0].message
    assert summary.total_published == 1


async def test_a_line_over_the_limit_fails_alone_and_the_rest_goes_on() -> None:
    good = json.dumps(samples.dossier(1), ensure_ascii=False).encode()
    limit = len(good)  # a line of exactly the limit is read
    long = b" " * (limit + 1)
    stream = io.BytesIO(good + b"\n" + long + b"\n" + good.replace(b"DS-", b"DT-", 1) + b"\n" + long)
    seen: list[int] = []
    errors: list[LineError] = []
    runner = FilePublisher(
        FakePublisher(), on_error=errors.append, on_progress=seen.append, max_line_bytes=limit
    )
    summary = await runner.run(stream)
    assert [(e.line, e.rule) for e in errors] == [(2, "max-bytes"), (4, "max-bytes")]
    assert f"over {limit} bytes ({limit + 2} read)" in errors[0].message
    assert (summary.total_published, summary.total_failed, summary.lines_read) == (2, 2, 4)
    assert sum(seen) == len(stream.getvalue())


class _Zeros(io.RawIOBase):
    """``/dev/zero`` for ``size`` bytes: one line with no newline."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


async def test_a_stream_without_a_newline_is_read_past_not_held() -> None:
    """``lgsp publish /dev/zero`` (or a binary file given by mistake) held the whole "line" in memory."""
    size = 64 * 1024 * 1024
    errors: list[LineError] = []
    runner = FilePublisher(FakePublisher(), on_error=errors.append, max_line_bytes=1024)
    tracemalloc.start()
    try:
        summary = await runner.run(io.BufferedReader(_Zeros(size)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(e.line, e.rule) for e in errors] == [(1, "max-bytes")]
    assert f"({size} read)" in errors[0].message
    assert summary.lines_read == 1
    assert peak < 8 * 1024 * 1024, peak  # pieces of 1 MiB, not 64 MiB


async def test_stop_on_error_publishes_the_good_lines_before_and_reads_no_further() -> None:
    good = [samples.dossier(i) for i in range(3)]
    publisher = FakePublisher()
    summary, errors = await _run(_lines(*good, "not json", samples.dossier(9)), publisher, stop_on_error=True)
    assert publisher.published == [e["id"] for e in good]
    assert summary.stopped_at_line == 4
    assert [e.line for e in errors] == [4]
    assert summary.lines_read == 4


async def test_a_line_that_does_not_encode_fails_alone() -> None:
    events = [samples.dossier(i) for i in range(4)]
    publisher = FakePublisher(failures=[EventEncodingError("too big", index=2, event_id=events[2]["id"])])
    summary, errors = await _run(_lines(*events), publisher)
    assert publisher.published == [events[i]["id"] for i in (0, 1, 3)]
    assert [(e.line, e.rule) for e in errors] == [(3, "avro-schema")]
    assert summary.total_published == 3


async def test_stop_on_error_after_an_encoding_failure_publishes_nothing_after_it() -> None:
    events = [samples.dossier(i) for i in range(6)]
    publisher = FakePublisher(failures=[EventEncodingError("too big", index=1, event_id=events[1]["id"])])
    summary, errors = await _run(_lines(*events), publisher, batch_size=3, stop_on_error=True)
    assert publisher.published == [events[0]["id"], events[2]["id"]]
    assert summary.stopped_at_line == 2
    assert [e.line for e in errors] == [2]


async def test_kafka_failing_stops_the_run_and_names_the_unconfirmed_lines() -> None:
    events = [samples.dossier(i) for i in range(6)]
    failure = PublishError("timeout", unconfirmed=[events[1]["id"], events[2]["id"]], confirmed=1)
    publisher = FakePublisher(failures=[failure])
    summary, errors = await _run(_lines(*events), publisher, batch_size=3)
    assert [(e.line, e.last, e.rule) for e in errors] == [(2, 3, "not-confirmed")]
    assert str(errors[0]) == "lines 2-3: not-confirmed: Kafka did not confirm it"
    assert summary.total_published == 1
    assert summary.total_failed == 2
    assert summary.fatal is not None
    assert summary.lines_read == 6  # the second batch was read while the first was in flight, never sent
    assert len(publisher.batches) == 0


async def test_the_registry_failing_stops_the_run() -> None:
    publisher = FakePublisher(failures=[RegistryUnavailableError("registry down")])
    summary, errors = await _run(_lines(*[samples.dossier(i) for i in range(3)]), publisher)
    assert summary.fatal == "registry down"
    assert [(e.line, e.last, e.rule) for e in errors] == [(1, 3, "publish")]
    assert summary.total_failed == 3


async def test_a_failed_batch_is_reported_once_per_run_of_consecutive_lines_and_counted_per_line() -> None:
    # a registry that refuses a schema fails every line of the batch: one report per run, not 500 lines
    lines = _lines(samples.dossier(1), samples.dossier(2), "{oops", samples.report(3), samples.dossier(4))
    publisher = FakePublisher(failures=[RegistryUnavailableError("registry down")])
    summary, errors = await _run(lines, publisher)
    reported = [(e.line, e.last, e.rule) for e in errors]
    assert reported == [(3, None, "json"), (1, 2, "publish"), (4, 5, "publish")]
    assert str(errors[2]) == "lines 4-5: publish: registry down"
    assert summary.failed == {
        "(unknown)": 1,
        "vn.gov.lgsp.dossier.DossierSynced": 3,
        "vn.gov.lgsp.report.ReportFiled": 1,
    }


async def test_progress_reports_every_byte() -> None:
    stream = _lines(*samples.mixed(5))
    seen: list[int] = []
    runner = FilePublisher(FakePublisher(), on_progress=seen.append)
    await runner.run(stream)
    assert sum(seen) == len(stream.getvalue())


async def test_a_pipe_is_published_when_input_pauses_not_only_when_a_batch_fills() -> None:
    read_fd, write_fd = os.pipe()
    first, second = samples.dossier(1), samples.dossier(2)
    published_first = threading.Event()
    publisher = FakePublisher()
    original = publisher.publish_records

    async def publish_records(records: Sequence[EventRecord]) -> list[Delivery]:
        result = await original(records)
        published_first.set()
        return result

    publisher.publish_records = publish_records  # type: ignore[method-assign]

    def writer() -> None:
        with os.fdopen(write_fd, "wb") as out:
            out.write(json.dumps(first).encode() + b"\n")
            out.flush()
            published_first.wait(timeout=30)  # the first line was published while the pipe stayed open
            out.write(json.dumps(second).encode() + b"\n")

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "rb") as stream:
        summary = await FilePublisher(publisher, batch_size=100).run(stream)
    await asyncio.to_thread(thread.join)
    assert publisher.batches == [[first["id"]], [second["id"]]]
    assert summary.total_published == 2


class _CountingLines(io.RawIOBase):
    """``count`` lines of ``size`` bytes each, counting the bytes the reader has taken."""

    def __init__(self, count: int, size: int) -> None:
        self.data = memoryview((b"x" * (size - 1) + b"\n") * count)
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self.data) - self.taken)
        buffer[:n] = self.data[self.taken : self.taken + n]
        self.taken += n
        return n


async def test_a_pipe_is_read_ahead_by_a_bounded_number_of_bytes_not_lines() -> None:
    """The pipe's reader thread queued up to 10,000 lines whatever their size: 10,000 lines of a few MiB
    held while the publisher waits for Kafka. It now stops at the byte budget until lines are taken."""
    mib = 1024 * 1024
    lines = _CountingLines(100, mib)
    stream = io.BufferedReader(lines)
    chunks = _threaded_lines(stream, limit=2 * mib, size=500, budget=8 * mib)
    first = await anext(chunks)
    await asyncio.sleep(0.3)  # the reader runs ahead while nothing is taken
    assert first[0][0] == 1
    assert lines.taken <= (1 + 8 + 2) * mib  # what was taken, the budget, the block waiting for room
    rest = [line[0] for chunk in [chunk async for chunk in chunks] for line in chunk]
    assert rest == list(range(first[-1][0] + 1, 101))  # everything still arrives, in order


async def test_a_file_is_read_ahead_by_a_bounded_number_of_bytes_too() -> None:
    """A chunk of a regular file ends at the batch size or with one read's bytes, whichever comes first."""
    line = b" " * (1024 * 1024 - 1) + b"\n"  # blank: skipped, so only the reading is measured
    stream = io.BytesIO(line * 40)
    seen: list[int] = []
    await FilePublisher(FakePublisher(), on_progress=seen.append).run(stream)
    assert sum(seen) == len(stream.getvalue())
    assert max(seen) <= READ_AHEAD_BYTES
    assert len(seen) >= 3


class _Pieces(io.RawIOBase):
    """``data`` in reads of the given sizes (cycled): how a pipe hands over what its writer wrote so far."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at, self.reads = data, sizes, 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.sizes[self.reads % len(self.sizes)], len(self.data) - self.at)
        buffer[:n] = self.data[self.at : self.at + n]
        self.at, self.reads = self.at + n, self.reads + 1
        return n


@given(
    data=st.lists(st.sampled_from([b"a", b"\n", b"bc", b"\r"]), max_size=200).map(b"".join),
    limit=st.integers(1, 12),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
)
def test_lines_are_read_as_a_line_split_reads_them_whatever_the_pieces(
    data: bytes, limit: int, sizes: list[int]
) -> None:
    """Each line with its newline, the last one without; a line over ``limit`` (its newline not counted) as
    None with its size; every byte counted once."""
    expected = []
    for number, line in enumerate(re.findall(rb"[^\n]*\n|[^\n]+\Z", data), start=1):
        content = len(line) - line.endswith(b"\n")
        expected.append((number, line if content <= limit else None, len(line)))
    stream = io.BufferedReader(_Pieces(data, sizes), buffer_size=16)
    assert [line for lines in _read_lines(stream, limit) for line in lines] == expected
