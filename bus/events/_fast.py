"""Trusted construction after Avro decoding: pydantic's checks on the consume path, without pydantic's overhead.

fastavro has already type-checked a decoded record against the model's own schema, so its values arrive in
exactly the Python types the models hold (``str``, ``int``, ``float``, ``bool``, ``date``, UTC ``datetime``,
``uuid.UUID``, enum symbols as ``str``, records as ``dict``, arrays as ``list``). For such input,
:func:`trusted` validates in plain Python. It does not restate the rules: :func:`plan_source` walks the
model's pydantic-core schema once and writes one Python function that applies every node's constraints
(lengths, bounds, patterns through pydantic-core's own regex engine, enum symbols, no missing or extra keys)
and calls every node's validator functions, the very ones pydantic calls (NFC, UTC milliseconds, the agency
catalog, each ``field_validator`` and ``model_validator``). One implementation of each rule, two drivers.
Models are then built as ``model_construct`` builds them. Generated code, rather than a tree of closures,
because on this path the cost is the number of Python calls per event: pydantic spends most of its time in
the callbacks to those validators, and a closure per schema node would cost as much again.

Anything unexpected makes :func:`trusted` return None and the caller validates with pydantic, which raises
its usual error (or accepts an input that is merely unusual, such as a numeric code for an enum or a missing
optional field). So the fast path accepts nothing that pydantic rejects, builds what pydantic builds, and
never produces an error of its own: errors, with their fields, rules and messages, come from pydantic.
``tests/unit/test_events_fastpath.py`` checks this on generated and on deliberately broken events.

A schema node this module does not know (a new pydantic feature, a ``strict`` model, a plain validator) makes
the whole model take pydantic's path: slower, never wrong; that test fails so that someone notices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from pydantic_core import SchemaValidator

M = TypeVar("M", bound=BaseModel)
Converter = Callable[[Any], Any]


class Unsupported(Exception):
    """A schema node the fast path does not interpret; the model then always takes pydantic's path."""


class Fallback(Exception):
    """This input is left to pydantic (not an error: pydantic decides)."""


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
    source, namespace = plan_source(model)
    exec(compile(source, f"<fast path of {model.__qualname__}>", "exec"), namespace)  # noqa: S102 - our own code
    converter: Converter = namespace["convert"]
    return converter


def plan_source(model: type[BaseModel]) -> tuple[str, dict[str, Any]]:
    """The generated source of ``model``'s converter, and the namespace it runs in (for reading and tests)."""
    writer = _Writer(model.__name__)
    body = writer.node(model.__pydantic_core_schema__, "v0", _Scope(model.__name__, None), 1, set())
    lines = ["def convert(v0):", *body, "    return v0", *writer.helpers]
    return "\n".join(lines) + "\n", writer.namespace


def _plan_or_none(model: type[BaseModel]) -> Converter | None:
    try:
        return plan_of(model)
    except Unsupported:
        return None


_UNPLANNED: Final[Any] = object()
_PLANS: Final[dict[type[BaseModel], Converter | None]] = {}
_COMMON: Final = frozenset({"type", "metadata", "ref", "serialization"})
_MODEL_CONFIG: Final = frozenset({"title", "extra_fields_behavior", "validate_default", "frozen"})
_BOUNDS: Final = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


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
        raise Fallback

    @property
    def config(self) -> Any:
        raise Fallback


def _utf8(value: str) -> bool:
    """pydantic-core refuses lone surrogates (not UTF-8); fastavro never decodes one, other callers might."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class _Scope:
    """Where a node sits: the model's name (for messages) and the field whose value it validates."""

    model: str
    field_name: str | None


@dataclass
class _Writer:
    """Writes the statements that check and convert one variable, node by node of a pydantic-core schema."""

    model: str
    namespace: dict[str, Any] = field(default_factory=dict)
    helpers: list[str] = field(default_factory=list)
    definitions: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    def __post_init__(self) -> None:
        self.namespace.update(
            Fallback=Fallback, _new=object.__new__, _set=object.__setattr__, _utf8=_utf8,
            _isfinite=math.isfinite, _datetime=datetime, _date=date,
        )  # fmt: skip

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any, prefix: str = "_k") -> str:
        name = self.fresh(prefix)
        self.namespace[name] = value
        return name

    def node(self, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
        """Statements (indented ``depth`` levels) that leave the converted value in ``var`` or raise."""
        kind = schema.get("type")
        write = _NODES.get(kind) if isinstance(kind, str) else None
        if write is None:
            raise Unsupported(f"{scope.model}: schema node {kind!r}")
        return write(self, schema, var, scope, depth, refs)


_Node = Callable[[_Writer, Mapping[str, Any], str, _Scope, int, set[str]], list[str]]


def _keys(schema: Mapping[str, Any], allowed: set[str], scope: _Scope) -> None:
    """Refuse a node with a key whose meaning this module does not implement (``strict=False`` is lax mode,
    pydantic's default, which the checks follow; strict mode is not implemented)."""
    unknown = set(schema) - _COMMON - allowed
    if "strict" in unknown and not schema["strict"]:
        unknown.discard("strict")
    if unknown:
        raise Unsupported(f"{scope.model}: {schema['type']} node with {sorted(unknown)}")


def _pad(depth: int, *lines: str) -> list[str]:
    return ["    " * depth + line for line in lines]


def _refuse_unless(depth: int, condition: str) -> list[str]:
    return _pad(depth, f"if not ({condition}):", "    raise Fallback")


def _bound_checks(w: _Writer, schema: Mapping[str, Any], var: str) -> Iterator[str]:
    for key, operator in _BOUNDS:
        if schema.get(key) is not None:
            yield f"{var} {operator} {w.constant(schema[key])}"


# --- leaves ----------------------------------------------------------------------------------------------


def _str(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, {"min_length", "max_length", "pattern"}, scope)
    if "pattern" in schema:
        # pydantic-core's regex engine (Rust) and Python's `re` read `$` and `\s` differently: ask the former.
        exact = w.constant(SchemaValidator(dict(schema)).validate_python, "_pattern")
        return [*_refuse_unless(depth, f"type({var}) is str"), *_pad(depth, f"{var} = {exact}({var})")]
    checks = [f"type({var}) is str"]
    low, high = schema.get("min_length"), schema.get("max_length")
    if low is not None or high is not None:
        checks.append(f"{low or 0} <= len({var})" + ("" if high is None else f" <= {int(high)}"))
    checks.append(f"({var}.isascii() or _utf8({var}))")
    return _refuse_unless(depth, " and ".join(checks))


def _int(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, {"ge", "gt", "le", "lt"}, scope)
    return _refuse_unless(depth, " and ".join([f"type({var}) is int", *_bound_checks(w, schema, var)]))


def _float(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    _keys(schema, {"ge", "gt", "le", "lt", "allow_inf_nan"}, scope)
    checks = [f"type({var}) is float", *_bound_checks(w, schema, var)]
    if not schema.get("allow_inf_nan", True):
        checks.append(f"_isfinite({var})")
    return _refuse_unless(depth, " and ".join(checks))


def _bool(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, set(), scope)
    return _refuse_unless(depth, f"type({var}) is bool")


def _date(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, set(), scope)
    return _refuse_unless(depth, f"type({var}) is _date")  # exactly: a datetime is a date too


def _datetime(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    # microseconds_precision only concerns text with more than six fractional digits: never a datetime
    _keys(schema, {"tz_constraint", "microseconds_precision"}, scope)
    constraint = schema.get("tz_constraint")
    if constraint not in (None, "aware"):
        raise Unsupported(f"{scope.model}: datetime tz_constraint {constraint!r}")
    aware = f" and {var}.utcoffset() is not None" if constraint == "aware" else ""
    return _refuse_unless(depth, f"type({var}) is _datetime{aware}")


def _enum(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, {"cls", "members", "sub_type", "missing"}, scope)
    cls = w.constant(schema["cls"], "_enum")
    lines = _pad(depth, f"if type({var}) is not {cls}:")
    if schema.get("sub_type") != "str":
        return lines + _pad(depth + 1, "raise Fallback")
    symbols = w.constant({member.value: member for member in schema["members"]}, "_symbols")
    # KeyError for a source code ("01") or any other text: the enum's own lookup, in pydantic
    return lines + _refuse_unless(depth + 1, f"type({var}) is str") + _pad(depth + 1, f"{var} = {symbols}[{var}]")


# --- wrappers --------------------------------------------------------------------------------------------


def _nullable(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    _keys(schema, {"schema"}, scope)
    return [*_pad(depth, f"if {var} is not None:"), *w.node(schema["schema"], var, scope, depth + 1, refs)]


def _function(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    """``function-after`` / ``-before`` / ``-wrap``: the validator itself, called as pydantic calls it."""
    _keys(schema, {"schema", "function"}, scope)
    spec, kind = schema["function"], schema["type"]
    if spec["type"] not in ("no-info", "with-info"):
        raise Unsupported(f"{scope.model}: validator function of type {spec['type']!r}")
    function = w.constant(spec["function"], "_validator")
    info = ""
    if spec["type"] == "with-info":
        info = ", " + w.constant(_Info(spec.get("field_name", scope.field_name)), "_info")
    if kind == "function-wrap":
        handler = _helper(w, schema["schema"], scope, refs)
        return _pad(depth, f"{var} = {function}({var}, {handler}{info})")
    call = _pad(depth, f"{var} = {function}({var}{info})")
    inner = w.node(schema["schema"], var, scope, depth, refs)
    return [*call, *inner] if kind == "function-before" else [*inner, *call]


def _helper(w: _Writer, schema: Mapping[str, Any], scope: _Scope, refs: set[str]) -> str:
    """A separate function for a node whose converter is passed as a value (a wrap validator's handler)."""
    name = w.fresh("_handler")
    body = w.node(schema, "v", scope, 1, refs)
    w.helpers += [f"def {name}(v):", *body, "    return v"]
    return name


def _chain(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, {"steps"}, scope)
    return [line for step in schema["steps"] for line in w.node(step, var, scope, depth, refs)]


def _tuple(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    _keys(schema, {"items_schema", "variadic_item_index", "min_length", "max_length"}, scope)
    items = schema["items_schema"]
    if len(items) != 1 or schema.get("variadic_item_index") != 0:
        raise Unsupported(f"{scope.model}: only tuple[X, ...] is supported")
    low, high = schema.get("min_length", 0), schema.get("max_length")
    size = f"{low} <= len({var})" + ("" if high is None else f" <= {int(high)}")
    item, out = w.fresh("v"), w.fresh("v")
    return [
        *_refuse_unless(depth, f"(type({var}) is list or type({var}) is tuple) and {size}"),
        *_pad(depth, f"{out} = []", f"for {item} in {var}:"),
        *w.node(items[0], item, scope, depth + 1, refs),
        *_pad(depth + 1, f"{out}.append({item})"),
        *_pad(depth, f"{var} = tuple({out})"),
    ]


# --- models ----------------------------------------------------------------------------------------------


def _definitions(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    _keys(schema, {"schema", "definitions"}, scope)
    for definition in schema["definitions"]:
        w.definitions[definition["ref"]] = definition
    return w.node(schema["schema"], var, scope, depth, refs)


def _reference(
    w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]
) -> list[str]:
    _keys(schema, {"schema_ref"}, scope)
    ref = schema["schema_ref"]
    if ref in refs or ref not in w.definitions:
        raise Unsupported(f"{scope.model}: definition {ref!r} is missing or recursive")
    return w.node(w.definitions[ref], var, scope, depth, refs | {ref})


def _model(w: _Writer, schema: Mapping[str, Any], var: str, scope: _Scope, depth: int, refs: set[str]) -> list[str]:
    """A dict with exactly the model's fields (missing or extra keys: pydantic) -> an instance, set up as
    ``model_construct`` sets it up, for a model without aliases, private attributes or post-init."""
    _keys(schema, {"cls", "schema", "config", "custom_init", "root_model"}, scope)
    model, config = schema["cls"], schema.get("config", {})
    unusual_config = set(config) - _MODEL_CONFIG or config.get("extra_fields_behavior") == "allow"
    if schema.get("custom_init") or schema.get("root_model") or unusual_config:
        raise Unsupported(f"{model.__name__}: custom init, root model or config {sorted(config)}")
    if model.__pydantic_post_init__ or model.__private_attributes__:
        raise Unsupported(f"{model.__name__}: post-init or private attributes")
    fields = _model_fields(schema["schema"], _Scope(model.__name__, None))
    cls, names = w.constant(model, "_model"), w.constant(frozenset(fields), "_fields")
    lines = _refuse_unless(depth, f"type({var}) is dict and len({var}) == {len(fields)}")
    values = []
    for name, spec in fields.items():
        local = w.fresh("v")
        lines += _pad(depth, f"{local} = {var}[{name!r}]")  # KeyError: a key is missing (pydantic's case)
        lines += w.node(_field_schema(spec, scope), local, _Scope(model.__name__, name), depth, refs)
        values.append(f"{name!r}: {local}")
    made = w.fresh("m")
    return lines + _pad(
        depth,
        f"{made} = _new({cls})",
        f"_set({made}, '__dict__', {{{', '.join(values)}}})",
        f"_set({made}, '__pydantic_fields_set__', set({names}))",
        f"_set({made}, '__pydantic_extra__', None)",
        f"_set({made}, '__pydantic_private__', None)",
        f"{var} = {made}",
    )


def _model_fields(schema: Mapping[str, Any], scope: _Scope) -> dict[str, Any]:
    if schema.get("type") != "model-fields":
        raise Unsupported(f"{scope.model}: model schema {schema.get('type')!r}")
    _keys(schema, {"fields", "model_name", "computed_fields", "extra_behavior"}, scope)
    if schema.get("extra_behavior") not in (None, "forbid", "ignore"):  # "allow" keeps extras: not here
        raise Unsupported(f"{scope.model}: extra_behavior {schema['extra_behavior']!r}")
    fields: dict[str, Any] = schema["fields"]
    return fields


def _field_schema(spec: Mapping[str, Any], scope: _Scope) -> Mapping[str, Any]:
    """The schema of a present field's value (a default only matters when the key is absent)."""
    if spec.get("type") != "model-field":
        raise Unsupported(f"{scope.model}: field node {spec.get('type')!r}")
    _keys(spec, {"schema", "frozen", "serialization_alias", "serialization_exclude"}, scope)
    schema: Mapping[str, Any] = spec["schema"]
    if schema["type"] == "default":
        _keys(schema, {"schema", "default", "default_factory", "validate_default"}, scope)
        schema = schema["schema"]
    return schema


_NODES: Final[dict[str, _Node]] = {
    "definitions": _definitions,
    "definition-ref": _reference,
    "model": _model,
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "enum": _enum,
    "nullable": _nullable,
    "function-after": _function,
    "function-before": _function,
    "function-wrap": _function,
    "chain": _chain,
    "tuple": _tuple,
}
