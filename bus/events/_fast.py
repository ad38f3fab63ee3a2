"""Trusted construction after Avro decoding: pydantic's checks on the consume path, without pydantic's overhead.

fastavro has already type-checked a decoded record against the model's own schema, so its values arrive in
exactly the Python types the models hold (``str``, ``int``, ``float``, ``bool``, ``date``, UTC ``datetime``,
``uuid.UUID``, enum symbols as ``str``, records as ``dict``, arrays as ``list``). For such input,
:func:`trusted` validates in plain Python. It does not restate the rules: :func:`plan_of` walks the model's
pydantic-core schema once and turns every node into a small converter that applies that node's constraints
(lengths, bounds, patterns through pydantic-core's own regex engine, enum symbols, forbidden extra keys) and
calls that node's validator functions, the very ones pydantic calls (NFC, UTC milliseconds, the agency
catalog, every ``field_validator`` and ``model_validator``). One implementation of each rule, two drivers.
Models are then built as ``model_construct`` builds them.

Anything unexpected makes :func:`trusted` return None and the caller validates with pydantic, which raises
its usual error (or accepts an input that is merely unusual, such as a numeric code for an enum). So the
fast path accepts nothing that pydantic rejects, builds what pydantic builds, and never produces an error of
its own: errors, with their fields, rules and messages, always come from pydantic.
``tests/unit/test_events_fastpath.py`` checks this on generated and on deliberately broken events.

A schema node this module does not know (a new pydantic feature, a ``strict`` model, a plain validator) makes
the whole model take pydantic's path: slower, never wrong; that test fails so that someone notices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from pydantic_core import SchemaValidator

M = TypeVar("M", bound=BaseModel)
Converter = Callable[[Any], Any]


class Unsupported(Exception):
    """A schema node the fast path does not interpret; the model then always takes pydantic's path."""


class _Fallback(Exception):
    """This input is left to pydantic (not an error: pydantic decides)."""


_COMMON: Final = frozenset({"type", "metadata", "ref", "serialization"})
_MODEL_CONFIG: Final = frozenset({"title", "extra_fields_behavior", "validate_default", "frozen"})
_NO_BOUNDS: Final = {"ge": None, "gt": None, "le": None, "lt": None}
_set: Final = object.__setattr__
_new: Final = object.__new__


def trusted(model: type[M], record: Mapping[str, Any]) -> M | None:
    """``model`` from ``record`` if the fast path can vouch for it, else None (then validate with pydantic)."""
    plan = _PLANS.get(model, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _PLANS[model] = _plan_or_none(model)
    if plan is None:
        return None
    try:
        made = plan(record)
    except Exception:  # any failure, ours or a rule's, means "let pydantic decide"; it reports errors
        return None
    return made if type(made) is model else None


def plan_of(model: type[BaseModel]) -> Converter:
    """The fast converter of ``model``; :class:`Unsupported` if its schema has a node this module lacks."""
    return _Compiler().compile(model.__pydantic_core_schema__, _Scope(model.__name__, None))


def _plan_or_none(model: type[BaseModel]) -> Converter | None:
    try:
        return plan_of(model)
    except Unsupported:
        return None


_UNPLANNED: Final[Any] = object()
_PLANS: Final[dict[type[BaseModel], Converter | None]] = {}


class _Info:
    """What a with-info validator gets here: like pydantic's ValidationInfo without context (from_avro has
    none). ``data`` and ``config`` are not offered: a validator reading them is left to pydantic."""

    __slots__ = ("field_name",)
    context = None
    mode = "python"

    def __init__(self, field_name: str | None) -> None:
        self.field_name = field_name

    @property
    def data(self) -> dict[str, Any]:
        raise _Fallback

    @property
    def config(self) -> Any:
        raise _Fallback


@dataclass(frozen=True)
class _Scope:
    """Where a node sits: the model's name (for messages) and the field whose value it validates."""

    model: str
    field_name: str | None


@dataclass
class _Compiler:
    """Turns pydantic-core schema nodes into converters; ``definitions`` resolve ``definition-ref`` nodes."""

    definitions: dict[str, Any] = field(default_factory=dict)
    compiled: dict[str, Converter] = field(default_factory=dict)

    def compile(self, schema: Mapping[str, Any], scope: _Scope) -> Converter:
        kind = schema.get("type")
        builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
        if builder is None:
            raise Unsupported(f"{scope.model}: schema node {kind!r}")
        return builder(self, schema, scope)

    def reference(self, schema: Mapping[str, Any], scope: _Scope) -> Converter:
        _keys(schema, {"schema_ref"}, scope)
        ref = schema["schema_ref"]
        converter = self.compiled.get(ref)
        if converter is None:
            target = self.definitions.get(ref)
            if target is None:
                raise Unsupported(f"{scope.model}: definition {ref!r} is missing or recursive")
            del self.definitions[ref]  # a recursive reference now finds nothing, instead of looping
            converter = self.compiled[ref] = self.compile(target, scope)
        return converter

    def with_definitions(self, schema: Mapping[str, Any], scope: _Scope) -> Converter:
        _keys(schema, {"schema", "definitions"}, scope)
        for definition in schema["definitions"]:
            self.definitions[definition["ref"]] = definition
        return self.compile(schema["schema"], scope)


def _keys(schema: Mapping[str, Any], allowed: set[str], scope: _Scope) -> None:
    """Refuse a node with a key whose meaning this module does not implement (``strict=False`` is lax mode,
    pydantic's default, which the converters follow; strict mode is not implemented)."""
    unknown = set(schema) - _COMMON - allowed
    if "strict" in unknown and not schema["strict"]:
        unknown.discard("strict")
    if unknown:
        raise Unsupported(f"{scope.model}: {schema['type']} node with {sorted(unknown)}")


def _bounds(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {name: schema.get(name) for name in _NO_BOUNDS}


def _in_bounds(value: Any, ge: Any, gt: Any, le: Any, lt: Any) -> bool:
    return (
        (ge is None or value >= ge)
        and (gt is None or value > gt)
        and (le is None or value <= le)
        and (lt is None or value < lt)
    )


# --- leaves ----------------------------------------------------------------------------------------------


def _str(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"min_length", "max_length", "pattern"}, scope)
    if "pattern" in schema:
        # pydantic-core's regex engine (Rust) and Python's `re` read `$` and `\s` differently: ask the former.
        exact = SchemaValidator(dict(schema)).validate_python

        def patterned(value: Any) -> Any:
            if type(value) is not str:
                raise _Fallback
            return exact(value)

        return patterned
    low, high = schema.get("min_length", 0), schema.get("max_length", math.inf)

    def text(value: Any) -> Any:
        # pydantic-core refuses lone surrogates (not UTF-8); fastavro never decodes one, other callers might
        if type(value) is str and low <= len(value) <= high and (value.isascii() or _utf8(value)):
            return value
        raise _Fallback

    return text


def _utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _int(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"ge", "gt", "le", "lt"}, scope)
    ge, gt, le, lt = _bounds(schema).values()
    if gt is None and lt is None and ge is not None and le is not None:

        def closed(value: Any) -> Any:
            if type(value) is int and ge <= value <= le:
                return value
            raise _Fallback

        return closed

    def integer(value: Any) -> Any:
        if type(value) is int and _in_bounds(value, ge, gt, le, lt):
            return value
        raise _Fallback

    return integer


def _float(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"ge", "gt", "le", "lt", "allow_inf_nan"}, scope)
    ge, gt, le, lt = _bounds(schema).values()
    finite_only = not schema.get("allow_inf_nan", True)

    def number(value: Any) -> Any:
        if (
            type(value) is float
            and (not finite_only or math.isfinite(value))
            and _in_bounds(value, ge, gt, le, lt)
        ):
            return value
        raise _Fallback

    return number


def _exact(kind: type) -> Callable[[_Compiler, Mapping[str, Any], _Scope], Converter]:
    """Leaves taken as they are when of exactly ``kind`` (bool, date); no constraints supported."""

    def build(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
        _keys(schema, set(), scope)

        def exact(value: Any) -> Any:
            if type(value) is kind:
                return value
            raise _Fallback

        return exact

    return build


def _datetime(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    # microseconds_precision only concerns text with more than six fractional digits: never a datetime
    _keys(schema, {"tz_constraint", "microseconds_precision"}, scope)
    constraint = schema.get("tz_constraint")
    if constraint not in (None, "aware"):
        raise Unsupported(f"{scope.model}: datetime tz_constraint {constraint!r}")
    aware = constraint == "aware"

    def moment(value: Any) -> Any:
        if type(value) is datetime and (not aware or value.utcoffset() is not None):
            return value
        raise _Fallback

    return moment


def _enum(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"cls", "members", "sub_type", "missing"}, scope)
    cls = schema["cls"]
    by_symbol = {member.value: member for member in schema["members"]} if schema.get("sub_type") == "str" else {}

    def member(value: Any) -> Any:
        kind = type(value)
        if kind is cls:
            return value
        if kind is str:
            found = by_symbol.get(value)
            if found is not None:
                return found
        raise _Fallback  # a source code ("01") or anything else: the enum's own lookup, in pydantic

    return member


# --- wrappers --------------------------------------------------------------------------------------------


def _nullable(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"schema"}, scope)
    inner = compiler.compile(schema["schema"], scope)

    def optional(value: Any) -> Any:
        return None if value is None else inner(value)

    return optional


def _function(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    """``function-after`` / ``-before`` / ``-wrap``: the validator itself, called as pydantic calls it."""
    _keys(schema, {"schema", "function"}, scope)
    inner = compiler.compile(schema["schema"], scope)
    spec = schema["function"]
    function = spec["function"]
    if spec["type"] == "with-info":
        info = _Info(spec.get("field_name", scope.field_name))
        return _CALLS_WITH_INFO[schema["type"]](function, inner, info)
    if spec["type"] == "no-info":
        return _CALLS[schema["type"]](function, inner)
    raise Unsupported(f"{scope.model}: validator function of type {spec['type']!r}")


def _after(function: Any, inner: Converter) -> Converter:
    return lambda value: function(inner(value))


def _before(function: Any, inner: Converter) -> Converter:
    return lambda value: inner(function(value))


def _wrap(function: Any, inner: Converter) -> Converter:
    return lambda value: function(value, inner)


def _after_info(function: Any, inner: Converter, info: _Info) -> Converter:
    return lambda value: function(inner(value), info)


def _before_info(function: Any, inner: Converter, info: _Info) -> Converter:
    return lambda value: inner(function(value, info))


def _wrap_info(function: Any, inner: Converter, info: _Info) -> Converter:
    return lambda value: function(value, inner, info)


_CALLS: Final = {"function-after": _after, "function-before": _before, "function-wrap": _wrap}
_CALLS_WITH_INFO: Final = {
    "function-after": _after_info,
    "function-before": _before_info,
    "function-wrap": _wrap_info,
}


def _chain(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"steps"}, scope)
    steps = tuple(compiler.compile(step, scope) for step in schema["steps"])

    def chained(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chained


def _tuple(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"items_schema", "variadic_item_index", "min_length", "max_length"}, scope)
    items = schema["items_schema"]
    if len(items) != 1 or schema.get("variadic_item_index") != 0:
        raise Unsupported(f"{scope.model}: only tuple[X, ...] is supported")
    item = compiler.compile(items[0], scope)
    low, high = schema.get("min_length", 0), schema.get("max_length", math.inf)

    def sequence(value: Any) -> Any:
        kind = type(value)
        if (kind is list or kind is tuple) and low <= len(value) <= high:
            return tuple([item(element) for element in value])
        raise _Fallback

    return sequence


# --- models ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    convert: Converter
    missing: Callable[[], Any] | None
    """The value when the key is absent (the field's default, validated if the model says so), or None if
    the field is required."""


def _model(compiler: _Compiler, schema: Mapping[str, Any], scope: _Scope) -> Converter:
    _keys(schema, {"cls", "schema", "config", "custom_init", "root_model"}, scope)
    cls = schema["cls"]
    config = schema.get("config", {})
    if schema.get("custom_init") or schema.get("root_model"):
        raise Unsupported(f"{cls.__name__}: custom __init__ or root model")
    if cls.__pydantic_post_init__ or cls.__private_attributes__ or set(config) - _MODEL_CONFIG:
        raise Unsupported(f"{cls.__name__}: post-init, private attributes or config {sorted(config)}")
    scope = _Scope(cls.__name__, None)
    fields_schema = schema["schema"]
    if fields_schema.get("type") != "model-fields":
        raise Unsupported(f"{cls.__name__}: model schema {fields_schema.get('type')!r}")
    _keys(fields_schema, {"fields", "model_name", "computed_fields", "extra_behavior"}, scope)
    extra = fields_schema.get("extra_behavior", config.get("extra_fields_behavior", "ignore"))
    if extra not in ("forbid", "ignore"):
        raise Unsupported(f"{cls.__name__}: extra={extra!r}")
    validate_default = bool(config.get("validate_default", False))
    fields = tuple(
        _model_field(compiler, name, spec, _Scope(cls.__name__, name), validate_default)
        for name, spec in fields_schema["fields"].items()
    )
    return _builder(cls, fields, forbid_extra=extra == "forbid")


def _model_field(
    compiler: _Compiler, name: str, spec: Mapping[str, Any], scope: _Scope, validate_default: bool
) -> _Field:
    if spec.get("type") != "model-field":
        raise Unsupported(f"{scope.model}.{name}: field node {spec.get('type')!r}")
    _keys(spec, {"schema", "frozen", "serialization_alias", "serialization_exclude"}, scope)
    schema = spec["schema"]
    if schema["type"] != "default":
        return _Field(name, compiler.compile(schema, scope), None)
    _keys(schema, {"schema", "default", "validate_default"}, scope)
    if "default" not in schema:
        raise Unsupported(f"{scope.model}.{name}: default_factory")
    default = schema["default"]
    if default is not None and type(default) not in (bool, int, float, str):  # mutable: pydantic copies it
        raise Unsupported(f"{scope.model}.{name}: default {default!r}")
    convert = compiler.compile(schema["schema"], scope)
    if schema.get("validate_default", validate_default):
        return _Field(name, convert, lambda: convert(default))
    return _Field(name, convert, lambda: default)


def _builder(cls: type[BaseModel], fields: tuple[_Field, ...], *, forbid_extra: bool) -> Converter:
    """Dict -> instance, set up as ``model_construct`` sets it up (for a model without aliases, private
    attributes or post-init, checked by the caller)."""
    steps = tuple((f.name, f.convert) for f in fields)
    defaults = {f.name: f.missing for f in fields}
    every = frozenset(defaults)
    count = len(steps)

    def build(value: Any) -> Any:
        if type(value) is not dict:
            raise _Fallback  # an instance, another mapping: pydantic's rules for those
        if len(value) == count:  # the decoder's case: every field there (and then no extra key)
            values = {name: convert(value[name]) for name, convert in steps}
            fields_set = set(every)
        else:
            values, fields_set = _sparse(value, steps, defaults, forbid_extra)
        made = _new(cls)
        _set(made, "__dict__", values)
        _set(made, "__pydantic_fields_set__", fields_set)
        _set(made, "__pydantic_extra__", None)
        _set(made, "__pydantic_private__", None)
        return made

    return build


def _sparse(
    value: dict[str, Any],
    steps: tuple[tuple[str, Converter], ...],
    defaults: dict[str, Callable[[], Any] | None],
    forbid_extra: bool,
) -> tuple[dict[str, Any], set[str]]:
    """Values of a dict that lacks fields (defaults fill them) or has extra keys (refused or ignored)."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    for name, convert in steps:
        if name in value:
            values[name] = convert(value[name])
            given.add(name)
            continue
        missing = defaults[name]
        if missing is None:
            raise _Fallback  # a required field is absent
        values[name] = missing()
    if forbid_extra and len(given) != len(value):
        raise _Fallback
    return values, given


_Builder = Callable[[_Compiler, Mapping[str, Any], _Scope], Converter]
_BUILDERS: Final[dict[str, _Builder]] = {
    "definitions": lambda c, s, scope: c.with_definitions(s, scope),
    "definition-ref": lambda c, s, scope: c.reference(s, scope),
    "model": _model,
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _exact(bool),
    "date": _exact(date),
    "datetime": _datetime,
    "enum": _enum,
    "nullable": _nullable,
    "function-after": _function,
    "function-before": _function,
    "function-wrap": _function,
    "chain": _chain,
    "tuple": _tuple,
}
