"""Trusted construction after Avro decoding: pydantic's checks on the consume path, at a fraction of the cost.

fastavro has already type-checked a decoded record against the model's own schema, so its values arrive in
exactly the Python types the models hold (``str``, ``int``, ``float``, ``bool``, ``date``, UTC ``datetime``,
``uuid.UUID``, enum symbols as ``str``, records as ``dict``, arrays as ``list``). For such input,
:func:`trusted` validates in plain Python. It does not restate the rules: :func:`plan_source` walks the
model's pydantic-core schema once and writes one Python function that applies every node's constraints
(types, lengths, bounds, patterns through pydantic-core's own regex engine, enum symbols, exactly the
model's keys) and calls every node's validator functions, the very ones pydantic calls (NFC, UTC
milliseconds, the agency catalog, each ``field_validator`` and ``model_validator``): one implementation of
each rule, two drivers. Models are then built as ``model_construct`` builds them.

Why generated code: on this path the cost is the count of Python operations per event. The generated function
checks the types of all of a record's fields with one set lookup (the tuple of their types among the allowed
ones), reads them with one ``itemgetter`` call, checks the text of a record for lone surrogates in one go, and
reuses the instance of a model marked ``REUSABLE`` (an agency reference) for a record it has seen.

Anything unexpected makes :func:`trusted` return None and the caller validates with pydantic, which raises
its usual error (or accepts an input that is merely unusual: a numeric code for an enum, NFD text, a local
time, a missing optional field). So the fast path accepts nothing that pydantic rejects, builds what pydantic
builds, and never produces an error of its own: errors, with their fields, rules and messages, come from
pydantic. ``tests/unit/test_events_fastpath.py`` checks this on generated and on deliberately broken events.

A schema node this module does not know (a new pydantic feature, a ``strict`` model, a plain validator) makes
the whole model take pydantic's path: slower, never wrong; that test fails so that someone notices.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from operator import itemgetter
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from pydantic_core import SchemaValidator

try:  # pydantic's own check for a max_length given after validators; without it, it is just called
    from pydantic._internal._validators import max_length_validator as _max_length_validator
except ImportError:  # pragma: no cover - a pydantic that moved it
    _max_length_validator = None

M = TypeVar("M", bound=BaseModel)
Converter = Callable[[Any], Any]
Schema = Mapping[str, Any]

REUSE_LIMIT: Final = 4096
"""Instances of a ``REUSABLE`` model kept per model; the cache is emptied when full (so it stays bounded)."""
_MAX_TYPE_COMBINATIONS: Final = 4096
"""Above this many allowed type tuples, a model's fields are type-checked one by one."""


F = TypeVar("F", bound=Callable[..., Any])
_IDENTITY: Final = "__fast_identity__"


def identity_when(condition: str, **names: Any) -> Callable[[F], F]:
    """Declare when a field validator returns its very argument: ``condition`` is a Python expression over
    ``{v}`` (the value, already of the field's type) and ``{name}`` for each of ``names``, e.g.
    ``"1900 <= {v}.year < 2100"``. The trusted path evaluates it inline and calls the validator only when it
    is false; the validator stays the one rule (``tests/unit/test_events_fastpath.py`` checks every
    declaration against its validator). For a with-info validator it may assume no validation context."""

    def mark(function: F) -> F:
        setattr(function, _IDENTITY, (condition, names))
        return function

    return mark


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
    exec(compile(source, f"<fast path of {model.__qualname__}>", "exec"), namespace)  # noqa: S102 - our code
    converter: Converter = namespace["convert"]
    return converter


def plan_source(model: type[BaseModel]) -> tuple[str, dict[str, Any]]:
    """The generated source of ``model``'s converter and the namespace it runs in (to read, and for tests)."""
    writer = _Writer(model.__name__)
    body = writer.node(model.__pydantic_core_schema__, "v0", _Where(model.__name__, None), 1, checked=False)
    lines = ["def convert(v0):", *body, "    return v0"]
    for helper in writer.helpers:
        lines += ["", *helper]
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
_LEAF_TYPES: Final[dict[str, type]] = {
    "str": str, "int": int, "float": float, "bool": bool, "date": date, "datetime": datetime,
}  # fmt: skip


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
class _Where:
    """Where a node sits: the model's name (for messages) and the field whose value it validates."""

    model: str
    field_name: str | None


@dataclass
class _Writer:
    """Writes the statements that check and convert one variable, node by node of a pydantic-core schema.

    ``checked`` tells a node that its input's type was already checked by its model's type tuple.
    """

    model: str
    namespace: dict[str, Any] = field(default_factory=dict)
    helpers: list[list[str]] = field(default_factory=list)
    definitions: dict[str, Any] = field(default_factory=dict)
    builders: dict[type[BaseModel], str] = field(default_factory=dict)
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

    def node(self, schema: Schema, var: str, where: _Where, depth: int, *, checked: bool) -> list[str]:
        """Statements (indented ``depth`` levels) that leave the converted value in ``var`` or raise."""
        kind = schema.get("type")
        write = _NODES.get(kind) if isinstance(kind, str) else None
        if write is None:
            raise Unsupported(f"{where.model}: schema node {kind!r}")
        return write(self, schema, var, where, depth, checked)

    def resolve(self, schema: Schema, where: _Where) -> Schema:
        """``schema`` with definitions and definition-refs looked through."""
        while schema.get("type") in ("definitions", "definition-ref"):
            if schema["type"] == "definitions":
                _keys(schema, {"schema", "definitions"}, where)
                self.definitions.update({d["ref"]: d for d in schema["definitions"]})
                schema = schema["schema"]
            else:
                _keys(schema, {"schema_ref"}, where)
                target = self.definitions.get(schema["schema_ref"])
                if target is None:
                    raise Unsupported(f"{where.model}: definition {schema['schema_ref']!r} is missing")
                schema = target
        return schema

    def input_types(self, schema: Schema, where: _Where) -> frozenset[type] | None:
        """The types a node accepts, if it checks them first (None: anything may reach a validator)."""
        schema = self.resolve(schema, where)
        kind = schema.get("type")
        if kind in _LEAF_TYPES:
            return frozenset({_LEAF_TYPES[kind]})
        if kind == "enum":
            cls = schema["cls"]
            return frozenset({cls, str}) if schema.get("sub_type") == "str" else frozenset({cls})
        if kind == "model":
            return frozenset({dict})
        if kind == "tuple":
            return frozenset({list, tuple})
        if kind == "nullable":
            inner = self.input_types(schema["schema"], where)
            return None if inner is None else inner | {type(None)}
        if kind == "function-after":
            return self.input_types(schema["schema"], where)
        if kind == "chain" and schema.get("steps"):
            return self.input_types(schema["steps"][0], where)
        return None


_Node = Callable[[_Writer, Schema, str, _Where, int, bool], list[str]]


def _keys(schema: Schema, allowed: set[str], where: _Where) -> None:
    """Refuse a node with a key whose meaning this module does not implement (``strict=False`` is lax mode,
    pydantic's default, which the checks follow; strict mode is not implemented)."""
    unknown = set(schema) - _COMMON - allowed
    if "strict" in unknown and not schema["strict"]:
        unknown.discard("strict")
    if unknown:
        raise Unsupported(f"{where.model}: {schema['type']} node with {sorted(unknown)}")


def _pad(depth: int, *lines: str) -> list[str]:
    return ["    " * depth + line for line in lines]


def _refuse_unless(depth: int, *conditions: str) -> list[str]:
    if not conditions:
        return []
    return _pad(depth, f"if not ({' and '.join(conditions)}):", "    raise Fallback")


def _bound_checks(w: _Writer, schema: Schema, var: str) -> list[str]:
    return [f"{var} {op} {w.constant(schema[key])}" for key, op in _BOUNDS if schema.get(key) is not None]


def _length(var: str, low: Any, high: Any) -> list[str]:
    if not low and high is None:
        return []
    return [f"{low or 0} <= len({var})" + ("" if high is None else f" <= {int(high)}")]


# --- leaves ----------------------------------------------------------------------------------------------


def _str(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    _keys(schema, {"min_length", "max_length", "pattern"}, where)
    typed = [] if checked else [f"type({var}) is str"]
    if "pattern" in schema:
        # pydantic-core's regex engine (Rust) and Python's `re` read `$` and `\s` differently: ask the former.
        exact = w.constant(SchemaValidator(dict(schema)).validate_python, "_pattern")
        return [*_refuse_unless(depth, *typed), *_pad(depth, f"{var} = {exact}({var})")]
    length = _length(var, schema.get("min_length"), schema.get("max_length"))
    if checked:  # type and lone surrogates: checked for the whole record (_types_check, _text_check)
        return _refuse_unless(depth, *length)
    return _refuse_unless(depth, *typed, *length, f"({var}.isascii() or {var}.isprintable() or _utf8({var}))")


def _numeric(kind: str, extra: set[str]) -> _Node:
    def write(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
        _keys(schema, {"ge", "gt", "le", "lt", *extra}, where)
        checks = [] if checked else [f"type({var}) is {kind}"]
        checks += _bound_checks(w, schema, var)
        if not schema.get("allow_inf_nan", True):
            checks.append(f"_isfinite({var})")
        return _refuse_unless(depth, *checks)

    return write


def _exact(kind: str) -> _Node:
    """Leaves taken as they are when of exactly their type (a datetime is a date too: not accepted as one)."""

    def write(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
        _keys(schema, set(), where)
        return [] if checked else _refuse_unless(depth, f"type({var}) is {kind}")

    return write


def _datetime(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    # microseconds_precision only concerns text with more than six fractional digits: never a datetime
    _keys(schema, {"tz_constraint", "microseconds_precision"}, where)
    constraint = schema.get("tz_constraint")
    if constraint not in (None, "aware"):
        raise Unsupported(f"{where.model}: datetime tz_constraint {constraint!r}")
    checks = [] if checked else [f"type({var}) is _datetime"]
    if constraint == "aware":
        checks.append(f"{var}.utcoffset() is not None")
    return _refuse_unless(depth, *checks)


def _enum(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    _keys(schema, {"cls", "members", "sub_type", "missing"}, where)
    cls = w.constant(schema["cls"], "_enum")
    if schema.get("sub_type") != "str":
        return [] if checked else _refuse_unless(depth, f"type({var}) is {cls}")
    # Keyed by symbol; a member is its own symbol (a str), so both find the member. A KeyError for a
    # source code ("01") or any other text: the enum's own lookup, in pydantic.
    symbols = w.constant({member.value: member for member in schema["members"]}, "_symbols")
    typed = [] if checked else _refuse_unless(depth, f"type({var}) is {cls} or type({var}) is str")
    return [*typed, *_pad(depth, f"{var} = {symbols}[{var}]")]


# --- wrappers --------------------------------------------------------------------------------------------


def _nullable(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    _keys(schema, {"schema"}, where)
    inner = w.node(schema["schema"], var, where, depth + 1, checked=checked)
    return [*_pad(depth, f"if {var} is not None:"), *inner] if inner else []


def _function(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    """``function-after`` / ``-before`` / ``-wrap``: the validator itself, called as pydantic calls it."""
    _keys(schema, {"schema", "function"}, where)
    spec, kind = schema["function"], schema["type"]
    if spec["type"] not in ("no-info", "with-info"):
        raise Unsupported(f"{where.model}: validator function of type {spec['type']!r}")
    function = w.constant(spec["function"], "_validator")
    info = ""
    if spec["type"] == "with-info":
        info = ", " + w.constant(_Info(spec.get("field_name", where.field_name)), "_info")
    if kind == "function-wrap":
        handler = _helper(w, schema["schema"], where)
        return _pad(depth, f"{var} = {function}({var}, {handler}{info})")
    call = _pad(depth, f"{var} = {function}({var}{info})")
    shortcut = _identity_condition(w, spec["function"], var) if kind == "function-after" else None
    if shortcut is not None:
        call = [*_pad(depth, f"if not ({shortcut}):"), *["    " + line for line in call]]
    if kind == "function-before":
        return [*call, *w.node(schema["schema"], var, where, depth, checked=False)]
    return [*w.node(schema["schema"], var, where, depth, checked=checked), *call]


def _identity_condition(w: _Writer, function: Any, var: str) -> str | None:
    """When ``function`` returns ``var`` itself, as declared with :func:`identity_when` (or known: pydantic's
    own length check, added for an ``Annotated`` length on a type that already had validators)."""
    declared = getattr(function, _IDENTITY, None)
    if declared is not None:
        condition, names = declared
        return str(condition).format(v=var, **{name: w.constant(value) for name, value in names.items()})
    if (
        isinstance(function, functools.partial)
        and function.func is _max_length_validator
        and not function.args
        and set(function.keywords) == {"max_length"}
    ):
        return f"len({var}) <= {int(function.keywords['max_length'])}"
    return None


def _helper(w: _Writer, schema: Schema, where: _Where) -> str:
    """A separate function for a node whose converter is passed as a value (a wrap validator's handler)."""
    name = w.fresh("_handler")
    body = w.node(schema, "v", where, 1, checked=False)
    w.helpers.append([f"def {name}(v):", *body, "    return v"])
    return name


def _chain(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    _keys(schema, {"steps"}, where)
    lines: list[str] = []
    for index, step in enumerate(schema["steps"]):
        lines += w.node(step, var, where, depth, checked=checked and index == 0)
    return lines


def _tuple(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    _keys(schema, {"items_schema", "variadic_item_index", "min_length", "max_length"}, where)
    items = schema["items_schema"]
    if len(items) != 1 or schema.get("variadic_item_index") != 0:
        raise Unsupported(f"{where.model}: only tuple[X, ...] is supported")
    typed = [] if checked else [f"(type({var}) is list or type({var}) is tuple)"]
    lines = _refuse_unless(depth, *typed, *_length(var, schema.get("min_length"), schema.get("max_length")))
    item = w.resolve(items[0], where)
    if item.get("type") == "model":
        return [*lines, *_pad(depth, f"{var} = tuple(map({_builder(w, item, where)}, {var}))")]
    element, out = w.fresh("v"), w.fresh("v")
    return [
        *lines,
        *_pad(depth, f"{out} = []", f"for {element} in {var}:"),
        *w.node(item, element, where, depth + 1, checked=False),
        *_pad(depth + 1, f"{out}.append({element})"),
        *_pad(depth, f"{var} = tuple({out})"),
    ]


# --- models ----------------------------------------------------------------------------------------------


def _reference(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    return w.node(w.resolve(schema, where), var, where, depth, checked=checked)


def _model(w: _Writer, schema: Schema, var: str, where: _Where, depth: int, checked: bool) -> list[str]:
    """A dict with exactly the model's fields -> an instance. Reusable models and tuple items get a function
    of their own (:func:`_builder`); others are written inline."""
    if getattr(schema.get("cls"), "REUSABLE", False):
        return _pad(depth, f"{var} = {_builder(w, schema, where)}({var})")
    return _model_body(w, schema, var, depth, checked=checked)


def _builder(w: _Writer, schema: Schema, where: _Where) -> str:
    """The name of a function ``dict -> instance`` of the model of ``schema`` (written once per model)."""
    model = schema.get("cls")
    name = w.builders.get(model) if isinstance(model, type) else None
    if name is not None:
        return name
    name = w.fresh("_build")
    if isinstance(model, type):
        w.builders[model] = name
    body = _model_body(w, schema, "d", 1, checked=False, reuse=bool(getattr(model, "REUSABLE", False)))
    w.helpers.append([f"def {name}(d):", *body, "    return d"])
    return name


def _model_body(
    w: _Writer, schema: Schema, var: str, depth: int, *, checked: bool, reuse: bool = False
) -> list[str]:
    """Statements for a model node: keys and types of the record, each field's checks and validators, then
    the instance, set up as ``model_construct`` sets it up (no aliases, private attributes or post-init)."""
    model, fields = _model_fields(schema)
    where = _Where(model.__name__, None)
    names = list(fields)
    values = w.fresh("vals")
    typed = [] if checked else [f"type({var}) is dict"]
    lines = _refuse_unless(depth, *typed, f"len({var}) == {len(names)}")
    # one C call reads every field in order; a KeyError (a key missing, another in its place) means pydantic
    lines += _pad(depth, f"{values} = {w.constant(itemgetter(*names), '_get')}({var})")
    if len(names) == 1:
        lines += _pad(depth, f"{values} = ({values},)")
    allowed = {name: w.input_types(_field_schema(spec, where), where) for name, spec in fields.items()}
    covered = _types_check(w, allowed, values, depth)
    lines += covered.check
    cache = None
    if reuse:  # before the text check: a record seen before passed it
        cache, lookup = _reuse_lookup(w, model, allowed, covered, values, depth)
        lines += lookup
    lines += _text_check(w, allowed, covered.typed, values, depth)
    local = {name: w.fresh("f") for name in names}
    lines += _pad(depth, f"{', '.join(local.values())}, = {values}")
    for name, spec in fields.items():
        value_schema = _field_schema(spec, where)
        field_where = _Where(model.__name__, name)
        lines += w.node(value_schema, local[name], field_where, depth, checked=name in covered.typed)
    lines += _instance(w, model, local, var, depth)
    if cache is not None:
        lines += _pad(depth, f"if len({cache}) >= {REUSE_LIMIT}:", f"    {cache}.clear()")
        lines += _pad(depth, f"{cache}[{values}] = {var}")
    return lines


def _model_fields(schema: Schema) -> tuple[type[BaseModel], dict[str, Any]]:
    model, config = schema["cls"], schema.get("config", {})
    where = _Where(getattr(model, "__name__", str(model)), None)
    _keys(schema, {"cls", "schema", "config", "custom_init", "root_model"}, where)
    unusual = set(config) - _MODEL_CONFIG or config.get("extra_fields_behavior") == "allow"
    if schema.get("custom_init") or schema.get("root_model") or unusual:
        raise Unsupported(f"{where.model}: custom init, root model or config {sorted(config)}")
    if model.__pydantic_post_init__ or model.__private_attributes__:
        raise Unsupported(f"{where.model}: post-init or private attributes")
    inner = schema["schema"]
    if inner.get("type") != "model-fields":
        raise Unsupported(f"{where.model}: model schema {inner.get('type')!r}")
    _keys(inner, {"fields", "model_name", "computed_fields", "extra_behavior"}, where)
    if inner.get("extra_behavior") not in (None, "forbid", "ignore"):  # "allow" keeps extras: not here
        raise Unsupported(f"{where.model}: extra_behavior {inner['extra_behavior']!r}")
    fields: dict[str, Any] = inner["fields"]
    if not fields:
        raise Unsupported(f"{where.model}: no fields")
    return model, fields


def _field_schema(spec: Schema, where: _Where) -> Schema:
    """The schema of a present field's value (a default only matters when the key is absent: pydantic's)."""
    if spec.get("type") != "model-field":
        raise Unsupported(f"{where.model}: field node {spec.get('type')!r}")
    _keys(spec, {"schema", "frozen", "serialization_alias", "serialization_exclude"}, where)
    schema: Schema = spec["schema"]
    if schema["type"] == "default":
        _keys(schema, {"schema", "default", "default_factory", "validate_default"}, where)
        schema = schema["schema"]
    return schema


@dataclass(frozen=True)
class _Types:
    check: list[str]
    typed: frozenset[str]
    """Fields whose type the check covers."""


def _types_check(w: _Writer, allowed: dict[str, frozenset[type] | None], values: str, depth: int) -> _Types:
    """One set lookup for the exact types of every field that checks its type first (a validator that runs
    before any check, like the event id's, takes anything: its field is left out)."""
    typed = [name for name, kinds in allowed.items() if kinds is not None]
    combinations = math.prod(len(allowed[name] or ()) for name in typed)
    if not typed or combinations > _MAX_TYPE_COMBINATIONS:
        return _Types([], frozenset())
    table = w.constant(frozenset(itertools.product(*(allowed[name] or () for name in typed))), "_types")
    check = _refuse_unless(depth, f"tuple(map(type, {_pick(w, list(allowed), typed, values)})) in {table}")
    return _Types(check, frozenset(typed))


def _pick(w: _Writer, names: list[str], chosen: list[str], values: str) -> str:
    """An expression for the tuple of the ``chosen`` fields' values out of ``values`` (every field's)."""
    if chosen == names:
        return values
    if len(chosen) == 1:
        return f"({values}[{names.index(chosen[0])}],)"
    return f"{w.constant(itemgetter(*(names.index(name) for name in chosen)), '_pick')}({values})"


def _text_check(
    w: _Writer, allowed: dict[str, frozenset[type] | None], typed: frozenset[str], values: str, depth: int
) -> list[str]:
    """pydantic-core refuses text with lone surrogates (not UTF-8; fastavro never decodes one, other callers
    might). Checked once for all the typed text fields of a record; lone surrogates are not printable, so
    printable text needs no encoding to be known as UTF-8."""
    text = {str, type(None)}
    chosen = [name for name in allowed if name in typed and (allowed[name] or set()) <= text]
    if not chosen:
        return []
    joined = w.fresh("t")
    return [
        *_pad(depth, f"{joined} = ''.join(filter(None, {_pick(w, list(allowed), chosen, values)}))"),
        *_refuse_unless(depth, f"({joined}.isascii() or {joined}.isprintable() or _utf8({joined}))"),
    ]


def _reuse_lookup(
    w: _Writer,
    model: type[BaseModel],
    allowed: dict[str, frozenset[type] | None],
    covered: _Types,
    values: str,
    depth: int,
) -> tuple[str, list[str]]:
    """For a ``REUSABLE`` model: the instance made before from equal values, if any. Equal values must mean
    equal validation, so every field must be of exactly checked types whose equality is sameness of meaning
    (text, integers, booleans, enum symbols; not floats, where 0.0 == -0.0)."""
    plain = {str, int, bool, type(None)}
    kinds = [allowed[name] for name in allowed]
    if len(covered.typed) != len(allowed) or not all(
        k is not None and all(t in plain or issubclass(t, Enum) for t in k) for k in kinds
    ):
        raise Unsupported(f"{model.__name__}: REUSABLE needs fields of text, integers, booleans or enums")
    cache, found = w.constant({}, "_reused"), w.fresh("hit")
    lookup = _pad(depth, f"{found} = {cache}.get({values})", f"if {found} is not None:", f"    return {found}")
    return cache, lookup


def _instance(w: _Writer, model: type[BaseModel], local: dict[str, str], var: str, depth: int) -> list[str]:
    cls = w.constant(model, "_model")
    # Instances of a frozen model can share one fields-set: pydantic adds to it only on assignment (refused
    # when frozen) and copies it before model_copy adds to it.
    names = w.constant(set(local), "_fields")
    fields_set = names if model.model_config.get("frozen") else f"set({names})"
    made = w.fresh("m")
    values = ", ".join(f"{name!r}: {variable}" for name, variable in local.items())
    return _pad(
        depth,
        f"{made} = _new({cls})",
        f"_set({made}, '__dict__', {{{values}}})",
        f"_set({made}, '__pydantic_fields_set__', {fields_set})",
        f"_set({made}, '__pydantic_extra__', None)",
        f"_set({made}, '__pydantic_private__', None)",
        f"{var} = {made}",
    )


_NODES: Final[dict[str, _Node]] = {
    "definitions": _reference,
    "definition-ref": _reference,
    "model": _model,
    "str": _str,
    "int": _numeric("int", set()),
    "float": _numeric("float", {"allow_inf_nan"}),
    "bool": _exact("bool"),
    "date": _exact("_date"),
    "datetime": _datetime,
    "enum": _enum,
    "nullable": _nullable,
    "function-after": _function,
    "function-before": _function,
    "function-wrap": _function,
    "chain": _chain,
    "tuple": _tuple,
}
