"""Strict JSON for events coming from outside (HTTP bodies, files): what ``json.loads`` lets through, refused.

Refused beyond the JSON grammar: duplicate member names (parsers disagree on which one wins, which lets a body
mean one thing to a proxy and another to us), ``NaN``/``Infinity`` (not JSON), and nesting deeper than Python
can recurse (a ``RecursionError`` would otherwise escape as a server error).
"""

from __future__ import annotations

import json
from typing import Any


class JsonInputError(ValueError):
    """The text is not acceptable JSON; ``rule`` names why (``json``, ``json.unique-names``, ...)."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise JsonInputError(f"duplicate member name {name!r}", rule="json.unique-names")
            seen.add(name)
    return obj


def _no_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not valid JSON", rule="json")


_DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_members)
"""One decoder for every call: ``json.loads`` with these arguments builds a new decoder and scanner each time,
a fifth of the parse of an 850-byte event."""


def loads_strict(text: str | bytes) -> Any:
    """Parse ``text`` as JSON, raising :class:`JsonInputError` for anything this module refuses.

    Bytes are decoded as ``json.loads`` decodes them (UTF-8, or the UTF-16/32 its first bytes show, a UTF-8
    byte-order mark dropped); bytes that do not decode are refused with the rule ``utf-8``."""
    try:
        if isinstance(text, bytes):
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        elif text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except JsonInputError:
        raise
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not UTF-8: {exc}", rule="utf-8") from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{exc.msg} at line {exc.lineno} column {exc.colno}", rule="json") from None
    except RecursionError:
        raise JsonInputError("nested too deeply", rule="json.depth") from None
    except ValueError as exc:  # int() past sys.get_int_max_str_digits(): a number no field could hold
        raise JsonInputError(f"a number is too long: {exc}", rule="json.number") from None
