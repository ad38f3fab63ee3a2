"""Validation failures as :class:`~bus.errors.Problem` entries: one per broken rule, each with a fix if known.

pydantic reports every field that fails (not only the first); :func:`problems_of` keeps them all, each with
its dotted path, its rule (the rule table's name, or pydantic's error type for the constraints pydantic
checks itself: ``missing``, ``string_too_long``, ``enum``...) and message, and a ``hint`` from
:data:`HINTS`: the expected form with an example, the nearest known field, symbol or agency code, and for an
agency code whether it is *malformed* or *unknown*.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import pydantic

from bus import errors
from bus.agencies import load_catalog
from bus.events.rules import DOSSIER_CODE_EXAMPLE, DOSSIER_CODE_FORM

TIME_EXAMPLE: Final = "2025-07-01T09:30:00+07:00"
DATE_EXAMPLE: Final = "2025-07-01"


def nearest(word: str, choices: Iterable[str], *, count: int = 1) -> list[str]:
    """The choices closest to ``word`` (difflib; case-insensitive first), best first; maybe none."""
    options = list(choices)
    same_case = [choice for choice in options if choice.lower() == word.lower()]
    if same_case:
        return same_case[:count]
    return difflib.get_close_matches(word, options, n=count, cutoff=0.6)


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    found = nearest(word, choices)
    return f"did you mean {found[0]!r}?" if found else None


_COMPACT_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")


def _time_hint(value: Any, **_: Any) -> str:
    if isinstance(value, str) and (compact := _COMPACT_TIME.fullmatch(value)):
        y, mo, d, h, mi, s = compact.groups()
        return (
            f"write an RFC 3339 date-time with a UTC offset: {value} (yyyyMMddHHmmss, Vietnam time) is "
            f"{y}-{mo}-{d}T{h}:{mi}:{s}+07:00"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"write an RFC 3339 date-time, not a number of (milli)seconds: {TIME_EXAMPLE}"
    return f"write an RFC 3339 date-time with a UTC offset, such as {TIME_EXAMPLE}"


def _offset_hint(value: Any, **_: Any) -> str:
    if isinstance(value, str):
        return f"add a UTC offset such as +07:00: {value}+07:00"
    return f"add a UTC offset such as +07:00: {TIME_EXAMPLE}"


def _date_hint(value: Any, **_: Any) -> str:
    return f"write a date as YYYY-MM-DD, such as {DATE_EXAMPLE}"


def _malformed_agency(value: Any, **_: Any) -> str:
    return (
        "malformed: an agency code is groups of 3, 2, 2 and 3 digits or capitals ending in the level-1 "
        "group, such as 000.00.00.H41 (look one up with `lgsp agencies search TEXT`)"
    )


def _unknown_agency(value: Any, **_: Any) -> str:
    # The shape rule (bus.agencies.AGENCY_CODE_RE) already refused malformed codes: this one is well formed.
    code = value if isinstance(value, str) else ""
    found = nearest(code, [agency.code for agency in load_catalog()], count=3) if code else []
    near = f"; nearest listed: {', '.join(found)}" if found else ""
    level1 = code.rsplit(".", 1)[-1]
    return (
        f"unknown: well-formed, but {level1} is no province's, People's Council's or ministry's level-1 "
        f"group{near} (`lgsp agencies show CODE`)"
    )


def _missing(value: Any, *, field: str, **_: Any) -> str:
    return f"add {field}"


def _extra(value: Any, *, field: str, known: Iterable[str], **_: Any) -> str | None:
    name = field.rsplit(".", 1)[-1]
    found = _did_you_mean(name, known)
    return f"{found} (no field {name!r} in this event type)" if found else f"remove {field}"


def _enum(value: Any, *, expected: Iterable[str], **_: Any) -> str | None:
    return _did_you_mean(str(value), expected) if value is not None else None


def _uuid(value: Any, **_: Any) -> str:
    return "a UUID such as 6f1c1a8e-9a53-4c3e-9a77-2f1f5f3b8d10 (uuid.uuid4())"


def _hidden(value: Any, **_: Any) -> str:
    return "remove the character (often pasted in from a word processor or a terminal)"


def _document_id(value: Any, **_: Any) -> str:
    return "{sender},{yyyy/MM/dd},{number}/{notation}, e.g. 000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def _dossier_code(value: Any, **_: Any) -> str:
    return f"{DOSSIER_CODE_FORM}, e.g. {DOSSIER_CODE_EXAMPLE}"


def _agency_name(value: Any, **_: Any) -> str | None:
    # The input is the reference ({code, name}) whose name differs from the catalog's.
    code = value.get("code") if isinstance(value, Mapping) else getattr(value, "code", None)
    agency = load_catalog().find(code) if isinstance(code, str) else None
    if agency is None:
        return None
    return (
        f"write the catalog's name of {agency.code}: {agency.name!r} (case, spacing and the tone placement "
        f"of Uỷ/Ủy may differ; `lgsp agencies show {agency.code}`)"
    )


def _report_id(value: Any, **_: Any) -> str:
    return (
        "{agency}/{report code}/{period}, e.g. 000.00.00.H29/BC-KSTT-01/2025-Q3 (make_report_id in the SDK)"
    )


Hint = Callable[..., str | None]
HINTS: Final[Mapping[str, Hint]] = {
    "timestamp.format": _time_hint,
    "timestamp.type": _time_hint,
    "datetime_type": _time_hint,
    "datetime_parsing": _time_hint,
    "datetime_from_date_parsing": _time_hint,
    "timezone_aware": _offset_hint,
    "date.format": _date_hint,
    "date.type": _date_hint,
    "date_from_datetime_inexact": _date_hint,
    "agency_code.shape": _malformed_agency,
    "agency_code.known": _unknown_agency,
    "missing": _missing,
    "extra_forbidden": _extra,
    "enum": _enum,
    "uuid.format": _uuid,
    "text.control_chars": _hidden,
    "document_id.format": _document_id,
    "dossier_code.format": _dossier_code,
    "agency_name.matches_catalog": _agency_name,
    "report_id.format": _report_id,
}
"""How to fix a broken rule, by rule name: a function of the value and the place (``field``, the ``known``
field names there, the ``expected`` symbols of an enum) that answers a hint or None."""


def problems_of(
    exc: pydantic.ValidationError,
    *,
    prefix: str = "",
    rename: Mapping[str, str] | None = None,
    model: type[pydantic.BaseModel] | None = None,
) -> list[errors.Problem]:
    """One :class:`~bus.errors.Problem` per error of ``exc``; paths under ``prefix``, with the first part
    renamed through ``rename`` (``meta.occurred_at`` -> ``time``) when it matches. ``model`` (the one
    validated) lets a hint name the nearest field of an unknown one."""
    details = exc.errors(include_url=False)
    return [
        _problem(detail, prefix, rename or {}, model)
        for detail in details
        if not _counted_short(detail, details)
    ]


def _counted_short(detail: Any, details: list[Any]) -> bool:
    """A list's ``too_short`` that pydantic counted without its failed items: those items' own errors say
    what is wrong (one entry per broken rule), the list is not too short."""
    if detail["type"] != "too_short":
        return False
    loc = tuple(detail["loc"])
    return any(
        len(other["loc"]) > len(loc)
        and tuple(other["loc"][: len(loc)]) == loc
        and isinstance(other["loc"][len(loc)], int)
        for other in details
    )


def _problem(
    detail: Any, prefix: str, rename: Mapping[str, str], model: type[pydantic.BaseModel] | None
) -> errors.Problem:
    context = detail.get("ctx") or {}
    rule = str(context.get("rule", detail["type"]))
    path = _path(prefix, detail, rename)
    hint = HINTS.get(rule)
    text = None
    if hint is not None:
        expected = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        known = _fields_at(model, detail["loc"][:-1]) if model is not None else []
        text = hint(detail.get("input"), field=path or "<root>", known=known, expected=expected)
    return errors.Problem(path or None, rule, str(detail["msg"]), text)


def _fields_at(model: type[pydantic.BaseModel], loc: Iterable[Any]) -> list[str]:
    """The field names of the (nested) model at ``loc`` under ``model``; none if the path leaves models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
    return list(current.model_fields) if _is_model(current) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``tuple[X, ...]``, ``Annotated[X, ...]``; None if none."""
    if _is_model(annotation):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _path(prefix: str, detail: Any, rename: Mapping[str, str]) -> str:
    loc = list(detail["loc"])
    dotted = ".".join(str(part) for part in loc[:2] if not isinstance(part, int))
    if rename and dotted in rename:
        parts = [rename[dotted]]
        loc = loc[2:]
    else:
        parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    extra = (detail.get("ctx") or {}).get("field")
    if extra:
        parts.append(str(extra))
    return ".".join(parts)


def summary(problems: Iterable[errors.Problem]) -> str:
    """The problems as one message: ``field: message`` joined by ``; `` (an exception's text)."""
    return "; ".join(f"{p.field or '<root>'}: {p.message}" for p in problems)


def validation_error(problems: list[errors.Problem]) -> errors.ValidationError:
    """The error for ``problems`` (UnknownAgencyError when the first is an unknown agency)."""
    first = problems[0]
    kind = errors.UnknownAgencyError if first.rule == "agency_code.known" else errors.ValidationError
    return kind(summary(problems), field=first.field, rule=first.rule, problems=problems)
