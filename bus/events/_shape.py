"""Drift detection: the Avro shape a model implies, compared with its ``.avsc``.

Both sides are reduced to the same normal form — full names, no docs, named types defined at first use and
referenced by full name after — so any difference in field names or order, types, optionality, logical types,
enum symbols or defaults shows up as a path in :func:`schema_drift`.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bus.events._base import AvroRecord, AvroType
from bus.schemas import full_name, load_schema

_NAMED = ("record", "enum", "fixed", "error")


def model_shape(model: type[AvroRecord]) -> dict[str, Any]:
    """The normal-form Avro schema implied by ``model``'s fields and their metadata."""
    shape = _ModelWalker().record(model)
    if not isinstance(shape, dict):  # a fresh walker always defines the top record
        raise TypeError(f"{model.__name__} did not map to a record")
    return shape


def schema_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """The normal form of a self-contained ``.avsc`` schema."""
    return _normalise_named(schema, None)


def schema_drift(model: type[AvroRecord], version: int | None = None) -> list[str]:
    """Differences between ``model`` and its ``.avsc`` (the model's SCHEMA_VERSION, or ``version``)."""
    if version is None:
        version = getattr(model, "SCHEMA_VERSION", None)
    expected = schema_shape(load_schema(model.AVRO_NAME, version))
    return list(_diff(expected, model_shape(model), model.AVRO_NAME))


class _ModelWalker:
    def __init__(self) -> None:
        self._defined: set[str] = set()

    def record(self, model: type[AvroRecord], namespace: str | None = None) -> Any:
        name = model.AVRO_NAME
        if name in self._defined:
            return name
        self._defined.add(name)
        own_namespace = name.rpartition(".")[0]
        fields = [self._field(n, info, own_namespace) for n, info in model.model_fields.items()]
        return {"type": "record", "name": name, "fields": fields}

    def _field(self, name: str, info: FieldInfo, namespace: str) -> dict[str, Any]:
        field: dict[str, Any] = {"name": name, "type": self._type(info.annotation, info.metadata, namespace)}
        if info.default is not PydanticUndefined:
            default = info.default
            field["default"] = default.value if isinstance(default, Enum) else default
        return field

    def _type(self, annotation: Any, metadata: list[Any], namespace: str) -> Any:
        marker = next((m for m in metadata if isinstance(m, AvroType)), None)
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            return self._type(base, [*metadata, *extra], namespace)
        if origin in (typing.Union, types.UnionType):
            branches = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(branches) != 1:
                raise TypeError(f"only `X | None` unions map to Avro here, not {annotation}")
            return ["null", self._type(branches[0], [], namespace)]
        if origin is tuple:
            item, ellipsis = typing.get_args(annotation)
            if ellipsis is not Ellipsis:
                raise TypeError(f"only tuple[X, ...] maps to an Avro array, not {annotation}")
            return {"type": "array", "items": self._type(item, [], namespace)}
        if marker is not None:
            return _primitive(marker)
        return self._plain(annotation, namespace)

    def _plain(self, annotation: Any, namespace: str) -> Any:
        supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self._plain(supertype, namespace)
        if isinstance(annotation, type) and issubclass(annotation, AvroRecord):
            return self.record(annotation)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return self._enum(annotation, namespace)
        if annotation is bool:
            return "boolean"
        if annotation is str:
            return "string"
        if annotation is float:
            return "double"
        if annotation in (int, datetime, date):
            raise TypeError(f"{annotation.__name__} needs an AvroType marker (Int/Long, UtcDatetime, Date)")
        raise TypeError(f"no Avro mapping for {annotation!r}")

    def _enum(self, enum: type[Enum], namespace: str) -> Any:
        name = f"{namespace}.{enum.__name__}"
        if name in self._defined:
            return name
        self._defined.add(name)
        symbols = [member.value for member in enum]
        shape: dict[str, Any] = {"type": "enum", "name": name, "symbols": symbols}
        if "UNKNOWN" in symbols:
            shape["default"] = "UNKNOWN"
        return shape


def _primitive(marker: AvroType) -> Any:
    return (
        marker.primitive
        if marker.logical is None
        else {"type": marker.primitive, "logicalType": marker.logical}
    )


def _normalise(schema: Any, namespace: str | None) -> Any:
    if isinstance(schema, list):
        return [_normalise(branch, namespace) for branch in schema]
    if isinstance(schema, str):
        if schema in ("null", "boolean", "int", "long", "float", "double", "bytes", "string"):
            return schema
        return schema if "." in schema or not namespace else f"{namespace}.{schema}"
    kind = schema["type"]
    if kind in _NAMED:
        return _normalise_named(schema, namespace)
    if kind == "array":
        return {"type": "array", "items": _normalise(schema["items"], namespace)}
    if kind == "map":
        return {"type": "map", "values": _normalise(schema["values"], namespace)}
    if "logicalType" in schema:
        return {"type": kind, "logicalType": schema["logicalType"]}
    return _normalise(kind, namespace)


def _normalise_named(schema: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    name = full_name(schema, namespace)
    if schema["type"] == "enum":
        shape: dict[str, Any] = {"type": "enum", "name": name, "symbols": list(schema["symbols"])}
        if "default" in schema:
            shape["default"] = schema["default"]
        return shape
    own_namespace = name.rpartition(".")[0]
    fields = []
    for field in schema.get("fields", []):
        normal = {"name": field["name"], "type": _normalise(field["type"], own_namespace)}
        if "default" in field:
            normal["default"] = field["default"]
        fields.append(normal)
    return {"type": schema["type"], "name": name, "fields": fields}


def _diff(expected: Any, actual: Any, path: str) -> typing.Iterator[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        if "fields" in expected and "fields" in actual:
            yield from _diff_fields(expected["fields"], actual["fields"], path)
        for key in sorted((expected.keys() | actual.keys()) - {"fields"}):
            if key not in actual:
                yield f"{path}: the schema has {key}={expected[key]!r}, the model has none"
            elif key not in expected:
                yield f"{path}: the model has {key}={actual[key]!r}, the schema has none"
            else:
                yield from _diff(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from _diff(e, a, f"{path}[{index}]")
    elif expected != actual or type(expected) is not type(actual):
        yield f"{path}: the schema says {expected!r}, the model says {actual!r}"


def _diff_fields(expected: list[Any], actual: list[Any], path: str) -> typing.Iterator[str]:
    expected_names = [f["name"] for f in expected]
    actual_names = [f["name"] for f in actual]
    if expected_names != actual_names:
        yield f"{path}: fields differ: the schema has {expected_names}, the model has {actual_names}"
    by_name = {f["name"]: f for f in actual}
    for field in expected:
        if field["name"] in by_name:
            yield from _diff(field, by_name[field["name"]], f"{path}.{field['name']}")
