"""Reading and checking a request before anything is published: content type, size, JSON, events, sources.

Each step raises a :class:`~producers.ingress.problems.ProblemError`; the order is the order of the checks an
integrator sees (415 before 413 before 400 before 422 before 403), so one request gets one clear answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bus.cloudevents import from_structured
from bus.cloudevents_record import structured_record
from bus.errors import UnknownEventTypeError, ValidationError
from bus.events.record import EventRecord, record_of
from bus.events.rules.limits import datetime_of_millis
from bus.portal_time import with_portal_times
from bus.settings import IngressSettings
from bus.wording import counted, of_total
from producers.ingress.auth import Authorizer, Principal
from producers.ingress.problems import FieldError, ProblemError, ProblemKind
from producers.json_input import JsonInputError, loads_strict

SINGLE_MEDIA_TYPES: Final = frozenset({"application/cloudevents+json", "application/json"})
BATCH_MEDIA_TYPES: Final = frozenset({"application/cloudevents-batch+json", "application/json"})


def check_content_type(header: str | None, allowed: Collection[str]) -> None:
    """415 unless the media type is one of ``allowed`` and any ``charset`` is UTF-8."""
    media, _, params = (header or "").partition(";")
    media = media.strip().lower()
    if media not in allowed:
        raise ProblemError(
            ProblemKind.UNSUPPORTED_MEDIA_TYPE,
            f"content type {media or '(none)'!r} is not accepted here; use one of {sorted(allowed)}",
            headers={"Accept-Post": ", ".join(sorted(allowed))},
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ProblemError(
                ProblemKind.UNSUPPORTED_MEDIA_TYPE,
                f"charset {value.strip()!r} is not accepted; events are JSON in UTF-8",
            )


def check_declared_length(header: str | None, limit: int) -> None:
    """413 as soon as ``Content-Length`` says the body is over ``limit`` (before reading it)."""
    if header is None:
        return
    try:
        declared = int(header)
    except ValueError:
        raise ProblemError(ProblemKind.MALFORMED, f"Content-Length {header!r} is not a number") from None
    if declared > limit:
        raise ProblemError(
            ProblemKind.TOO_LARGE, f"the body is {declared} bytes; at most {limit} are accepted"
        )


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, reading no more than ``limit`` bytes (413 past it: a chunked body has no length to check)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ProblemError(ProblemKind.TOO_LARGE, f"the body is over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def read_body(chunks: AsyncIterator[bytes], limit: int, timeout_s: float) -> bytes:
    """:func:`read_limited` within ``timeout_s``: a body trickling in holds its places no longer (408)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await read_limited(chunks, limit)
    except TimeoutError:
        raise ProblemError(
            ProblemKind.REQUEST_TIMEOUT,
            f"the body did not arrive within {timeout_s:g} s; nothing was published",
        ) from None


def parse_json(body: bytes) -> Any:
    """The JSON value of a UTF-8 body; 400 naming the position of the first problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            ProblemKind.MALFORMED,
            f"the body is not valid UTF-8: byte {exc.start} ({body[exc.start : exc.start + 1]!r})",
            errors=[FieldError(None, "utf-8", str(exc))],
        ) from None
    try:
        return loads_strict(text)
    except JsonInputError as exc:
        raise ProblemError(
            ProblemKind.MALFORMED,
            f"the body is not acceptable JSON: {exc}",
            errors=[FieldError(None, exc.rule, str(exc))],
        ) from None


def expect_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProblemError(
            ProblemKind.MALFORMED,
            f"expected one CloudEvents JSON object, got a JSON {_json_kind(value)}",
            errors=[FieldError(None, "json.object", "the body must be a JSON object")],
        )
    return value


def expect_batch(value: Any, max_events: int) -> list[Any]:
    if not isinstance(value, list):
        raise ProblemError(
            ProblemKind.MALFORMED,
            f"expected a JSON array of CloudEvents objects, got a JSON {_json_kind(value)}",
            errors=[FieldError(None, "json.array", "the body must be a JSON array")],
        )
    if len(value) > max_events:
        raise ProblemError(
            ProblemKind.TOO_LARGE,
            f"the batch has {counted(len(value), 'event')}; at most {max_events} are accepted per request",
            errors=[FieldError(None, "max-events", f"at most {max_events} events per batch")],
        )
    if not value:
        raise ProblemError(
            ProblemKind.INVALID_EVENT,
            "the batch is empty",
            errors=[FieldError(None, "min-events", "a batch carries at least one event")],
        )
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def to_records(items: Sequence[Any], *, batch: bool, portal_times: bool = False) -> list[EventRecord]:
    """Every item as an event record, or one 422 listing each bad item's field and rule (and duplicate ids).

    An item in canonical form (as ``bus.cloudevents.to_json`` writes it) becomes its record without a model
    (:func:`bus.cloudevents_record.structured_record`); any other goes through ``from_structured``, which
    names what is wrong, so the errors are the model's.

    ``portal_times``: dossier times may come as the portal's local ``yyyyMMddHHmmss`` (bus/portal_time.py)."""
    records: list[EventRecord] = []
    errors: list[FieldError] = []
    first_index: dict[str, int] = {}
    for index, given in enumerate(items):
        where = f"[{index}]" if batch else ""
        item = dict(with_portal_times(given)) if portal_times and isinstance(given, dict) else given
        record = _to_record(item, where, errors)
        if record is None:
            continue
        records.append(record)
        event_id = record.event_id
        if event_id in first_index:
            errors.append(
                FieldError(
                    _join(where, "id"), "unique", f"id {event_id} repeats [{first_index[event_id]}].id"
                )
            )
        else:
            first_index[event_id] = index
    if errors:
        bad = len({e.field.split(".", 1)[0] for e in errors if e.field}) if batch else 1
        summary = (
            f"{of_total(bad, len(items), 'event')} {'breaks' if bad == 1 else 'break'} the contract"
            if batch
            else "the event breaks the contract"
        )
        raise ProblemError(ProblemKind.INVALID_EVENT, f"{summary}; nothing was published", errors=errors)
    return records


def _to_record(item: Any, where: str, errors: list[FieldError]) -> EventRecord | None:
    if not isinstance(item, dict):
        errors.append(FieldError(where or None, "json.object", "each event must be a JSON object"))
        return None
    record = structured_record(item)
    if record is not None:
        return record
    try:
        return record_of(from_structured(item))
    except UnknownEventTypeError as exc:
        errors.append(FieldError(_join(where, "type"), "known-type", str(exc), exc.hint))
    except ValidationError as exc:
        # one entry per broken rule, envelope and data together (bus.cloudevents.from_structured)
        errors += [
            FieldError(_join(where, problem.field or ""), problem.rule, problem.message, problem.hint)
            for problem in exc.problems
        ]
    except OverflowError as exc:  # a date at the edge of the calendar that the models fail to convert
        errors.append(FieldError(where or None, "value.range", f"a value is out of range: {exc}"))
    return None


def _join(where: str, field: str) -> str | None:
    if not where:
        return field or None
    return f"{where}.{field}" if field else where


def authorize(
    authorizer: Authorizer, principal: Principal, records: Sequence[EventRecord], *, batch: bool
) -> None:
    """403 naming, for each event, every field (``source`` and the agencies its data asserts) the principal
    may not publish for, with the rule it breaks (:mod:`bus.authz`)."""
    errors = [
        FieldError(
            f"[{index}].{_data_field(refusal.field)}" if batch else _data_field(refusal.field),
            refusal.rule.value,
            refusal.message,
        )
        for index, record in enumerate(records)
        for refusal in authorizer.refusals(principal, record)
    ]
    if errors:
        refused = len({e.field.split(".", 1)[0] for e in errors if e.field}) if batch else 1
        raise ProblemError(
            ProblemKind.FORBIDDEN_SOURCE,
            f"the key of {principal.agency} may not publish "
            f"{of_total(refused, len(records), 'event') if batch else 'this event'}; "
            "nothing was published",
            errors=errors,
        )


def _data_field(name: str) -> str:
    # CloudEvents structured mode: the asserted agencies live in ``data``, ``source`` at the top level.
    return name if name == "source" else f"data.{name}"


def check_event_times(
    records: Sequence[EventRecord], settings: IngressSettings, *, batch: bool, now: datetime | None = None
) -> None:
    """Each event's ``time`` within the ingress's window around now (422 naming each event's ``time``).

    A clock far ahead is the usual cause (an agency server without NTP); a time in the future would also
    let an event sort after every later correction of the same entity.
    """
    if not settings.event_time_window:
        return
    now = now or datetime.now(UTC)
    latest = now + timedelta(seconds=settings.max_future_s)
    earliest = None if settings.max_past_s is None else now - timedelta(seconds=settings.max_past_s)
    errors = []
    for index, record in enumerate(records):
        at = datetime_of_millis(record.occurred_ms)
        where = f"[{index}].time" if batch else "time"
        if at > latest:
            message = f"{at.isoformat()} is more than {settings.max_future_s:g} s after the ingress's clock"
            errors.append(FieldError(where, "time.window", message))
        elif earliest is not None and at < earliest:
            message = f"{at.isoformat()} is more than {settings.max_past_s:g} s before the ingress's clock"
            errors.append(FieldError(where, "time.window", message))
    if errors:
        raise ProblemError(
            ProblemKind.INVALID_EVENT,
            f"{len(errors)} event time(s) outside the accepted window; nothing was published",
            errors=errors,
        )
