"""Building event models fast: ids from the seeded RNG, times from the simulated clock.

By default events are built with ``model_construct`` (no validation): the planners produce exactly the values
validation would (NFC text, UTC millisecond datetimes, enum members, catalog agencies), and
``tests/unit/test_simulate_events.py`` proves it by validating every generated event and comparing it with
the constructed one. ``validated=True`` builds through pydantic validation instead (about three times slower),
for callers that want the guarantee at run time.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from bus.events import EventMeta
from producers.simulate.clock import to_datetime

M = TypeVar("M", bound=BaseModel)

_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID (RFC 9562: version nibble 4, variant bits 10) whose random bits come from ``rng``."""
    text = rng.randbytes(16).hex()
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"


class Factory:
    """Makes the metadata and the models of generated events."""

    __slots__ = ("_rng", "_validated")

    def __init__(self, rng: random.Random, *, validated: bool = False) -> None:
        self._rng = rng
        self._validated = validated
        if not _plain(EventMeta):  # pragma: no cover - the contracts would have changed the metadata model
            raise TypeError("EventMeta is no longer a plain model; Factory.meta must use model_construct")

    @property
    def rng(self) -> random.Random:
        """The run's one RNG (ids and every draw come from it, in a fixed order)."""
        return self._rng

    def meta(self, source: str, at_ms: int) -> EventMeta:
        """Metadata of a new event from ``source`` at simulated time ``at_ms``."""
        if self._validated:
            return EventMeta(event_id=uuid4_from(self._rng), source=source, occurred_at=to_datetime(at_ms))
        # the hot path of every event: uuid4_from and to_datetime inlined, built like make() builds
        t = self._rng.randbytes(16).hex()
        values = {
            "event_id": f"{t[:8]}-{t[8:12]}-4{t[13:16]}-{_VARIANT[t[16]]}{t[17:20]}-{t[20:]}",
            "source": source,
            "occurred_at": datetime.fromtimestamp(at_ms / 1000, UTC),
            "published_at": None,
            "correlation_id": None,
        }
        made = _new(EventMeta)
        _set(made, "__dict__", values)
        _set(made, "__pydantic_fields_set__", _META_FIELDS)
        _set(made, "__pydantic_extra__", None)
        _set(made, "__pydantic_private__", None)
        return made

    def make(self, model: type[M], **values: Any) -> M:
        """``model`` with ``values`` (every field given), validated or trusted as configured."""
        if self._validated:
            return model(**values)
        fields = _PLAIN.get(model)
        if fields is not None:
            made = _new(model)
            _set(made, "__dict__", values)
            _set(made, "__pydantic_fields_set__", fields)
            _set(made, "__pydantic_extra__", None)
            _set(made, "__pydantic_private__", None)
            return made
        return trusted(model, values)


def trusted(model: type[M], values: dict[str, Any]) -> M:
    """``model.model_construct(**values)`` for plain frozen models, without its per-field loop.

    ``values`` must name every field. This sets the same four attributes ``model_construct`` sets for a model
    without aliases, private attributes or ``model_post_init`` (checked once per model; other models go
    through ``model_construct``). The per-field loop was two thirds of the generator's time.
    """
    if not _plain(model):
        return model.model_construct(**values)
    fields = _PLAIN[model] = set(model.__pydantic_fields__)
    made = _new(model)
    _set(made, "__dict__", values)
    _set(made, "__pydantic_fields_set__", fields)
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


_set: Final = object.__setattr__
_new: Final = object.__new__
_PLAIN: Final[dict[type[BaseModel], set[str]]] = {}
"""Plain models and their field names. Every instance of a model shares this one fields-set: all fields are
always set, pydantic only reads it, and it copies the set before adding to it (``model_copy``)."""
_META_FIELDS: Final = set(EventMeta.__pydantic_fields__)


@cache
def _plain(model: type[BaseModel]) -> bool:
    fields = model.__pydantic_fields__.values()
    return (
        not model.__pydantic_post_init__
        and not model.__pydantic_root_model__
        and not model.__private_attributes__
        and model.model_config.get("extra") != "allow"
        and all(f.alias is None and f.validation_alias is None for f in fields)
    )
