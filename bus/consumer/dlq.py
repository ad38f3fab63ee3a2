"""Dead letters: records that can never be applied, kept in ``<topic>.dlq`` with why.

A dead letter carries the original key and value bytes unchanged, the original headers, and these headers:

    lgsp_dlq_topic, lgsp_dlq_partition, lgsp_dlq_offset   where the record was
    lgsp_dlq_error_class                                  the exception class, e.g. UnknownAgencyError
    lgsp_dlq_reason                                       a short code (DeadLetterReason), the metric label
    lgsp_dlq_message                                      the error message (truncated)
    lgsp_dlq_errors                                       for an invalid event: a JSON array with one
                                                          {field, rule, message, hint?} per broken rule
    lgsp_dlq_group                                        the consumer group that gave up on it
    lgsp_dlq_time                                         when, ISO 8601 UTC

The runner sends a batch's dead letters and waits for Kafka's acknowledgement of all of them before it
commits any offset past them (at-least-once into the DLQ; a crash in between may repeat a dead letter).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bus.consumer.kafka import broker_error
from bus.consumer.outcome import DeadLetterReason
from bus.errors import Problem
from bus.topics import DLQ_SUFFIX, dlq_topic

HEADER_PREFIX = "lgsp_dlq_"
_MAX_MESSAGE_CHARS = 2000
_MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class DeadLetter:
    """One poison record and why it was rejected."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    reason: DeadLetterReason
    error_class: str
    message: str
    problems: Sequence[Problem] = ()
    """One entry per broken rule, when the record decoded but broke the contract."""

    def dlq_headers(self, group: str, at: datetime) -> list[tuple[str, bytes]]:
        """Original headers (minus any earlier ``lgsp_dlq_*``) followed by ours."""
        ours = {
            "topic": self.topic,
            "partition": str(self.partition),
            "offset": str(self.offset),
            "error_class": self.error_class,
            "reason": self.reason.value,
            "message": self.message[:_MAX_MESSAGE_CHARS],
            "group": group,
            "time": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self.problems:
            listed = [problem.to_json() for problem in self.problems[:_MAX_LISTED_PROBLEMS]]
            ours["errors"] = json.dumps(listed, ensure_ascii=False, separators=(",", ":"))
        kept = [(name, value) for name, value in self.headers if not name.startswith(HEADER_PREFIX)]
        return kept + [(HEADER_PREFIX + name, value.encode()) for name, value in ours.items()]


class ProducerLike(Protocol):
    """The part of ``AIOKafkaProducer`` the writer uses (a fake in unit tests)."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]: ...


class DeadLetterWriter:
    """Sends dead letters and returns only once Kafka has acknowledged every one of them."""

    def __init__(self, producer: ProducerLike, *, group: str) -> None:
        self._producer = producer
        self._group = group

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Send all ``letters``; raises ``BrokerError`` (retriable or not) if any was not acknowledged."""
        if not letters:
            return
        now = datetime.now(UTC)
        try:
            futures = [
                await self._producer.send(
                    dlq_topic(letter.topic),
                    value=letter.value,
                    key=letter.key,
                    headers=letter.dlq_headers(self._group, now),
                )
                for letter in letters
            ]
            await asyncio.gather(*futures)
        except Exception as exc:
            raise broker_error(exc, f"dead-lettering {len(letters)} records") from exc


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter read back from a DLQ topic."""

    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    key: bytes | None
    value: bytes | None
    original_headers: list[tuple[str, bytes]]
    info: Mapping[str, str]

    @property
    def topic(self) -> str:
        """The topic the record came from (where a replay sends it back)."""
        return self.info.get("topic", self.dlq_topic.removesuffix(DLQ_SUFFIX))

    @property
    def reason(self) -> str:
        """The ``lgsp_dlq_reason`` code."""
        return self.info.get("reason", "")


def parse_dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> StoredDeadLetter:
    """Split a DLQ record's headers into ours (decoded) and the original ones (kept as bytes)."""
    info: dict[str, str] = {}
    original: list[tuple[str, bytes]] = []
    for name, raw in headers:
        if name.startswith(HEADER_PREFIX):
            info[name.removeprefix(HEADER_PREFIX)] = raw.decode("utf-8", errors="replace")
        else:
            original.append((name, raw))
    return StoredDeadLetter(topic, partition, offset, key, value, original, info)
