"""The bad-input corpus for the ingress: hundreds of requests, each due a clear 4xx, none publishing anything.

Cases come from three places:

- **mutations** of valid events (one per event type, from the workload): every data field and envelope
  attribute is removed, nulled or replaced by values of the wrong type, shape or size, chosen per field from
  the model's JSON schema so that each one is certainly invalid (pydantic's lax coercions such as
  ``"7"`` → ``7`` are avoided: those are accepted on purpose);
- **families** written here: malformed JSON, invalid UTF-8, huge numbers and strings, deep nesting,
  Vietnamese in NFD vs NFC, spoofed sources, unknown types, duplicate ids in a batch, impossible dates,
  content types, authentication, methods;
- **files** in ``tests/faults/corpus/`` (raw bodies, listed in ``manifest.json``), for inputs that are
  easiest to keep as bytes.

Each :class:`Case` says what it expects: the statuses allowed and, where the contract names one, the field a
problem ``errors`` entry must name.
"""

from __future__ import annotations

import copy
import json
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bus.agencies import load_catalog
from bus.cloudevents import to_structured
from bus.events import EVENT_TYPES, Event

CORPUS_DIR: Final = Path(__file__).parent / "corpus"
SINGLE: Final = "application/cloudevents+json"
BATCH: Final = "application/cloudevents-batch+json"
VALID_KEY: Final = "<valid key>"
HUGE: Final = "\u0000huge-number\u0000"
"""Placeholder replaced by the literal ``1e309`` in the body text (JSON has no way to write it otherwise)."""


@dataclass(frozen=True)
class Case:
    """One request and what the ingress must answer."""

    name: str
    body: bytes
    path: str = "/v1/events"
    content_type: str | None = SINGLE
    authorization: str | None = VALID_KEY
    method: str = "POST"
    expect: frozenset[int] = frozenset({422})
    field: str | None = None
    """A prefix that some ``errors[].field`` of the problem must start with (None: not checked)."""
    """Why this case does not get its answer yet (a finding); it is checked apart, as an expected failure."""
    send: str = "whole"
    """``whole`` (an ordinary request), ``headers-only`` (a declared body never sent: the size check must not
    need it) or ``chunked`` (no Content-Length: the limit must hold while reading). See ``rawhttp.py``."""


def dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    return text.replace(json.dumps(HUGE), "1e309").encode()


@dataclass
class Corpus:
    """Builds every case from a few valid events (``bases``) whose sources the test's key may publish for."""

    bases: Sequence[Event]
    spoofed_source: str
    max_body_bytes: int
    max_batch_events: int
    cases: list[Case] = field(default_factory=list)

    def build(self) -> list[Case]:
        for family in (
            self.malformed_json,
            self.invalid_utf8,
            self.shapes,
            self.content_types,
            self.authentication,
            self.methods_and_paths,
            self.envelope_mutations,
            self.data_mutations,
            self.huge_values,
            self.deep_nesting,
            self.vietnamese_forms,
            self.spoofed_sources,
            self.unknown_types,
            self.duplicate_ids,
            self.impossible_dates,
            self.lenient_coercions,
            self.files,
        ):
            family()
        return self.cases

    # --- helpers --------------------------------------------------------------------------------------------

    def structured(self, index: int = 0) -> dict[str, Any]:
        """A fresh valid CloudEvent (new id) built from base ``index``."""
        item = to_structured(self.bases[index % len(self.bases)])
        item["id"] = str(uuid.uuid4())
        return item

    def add(self, name: str, body: bytes | Any, **kw: Any) -> None:
        raw = body if isinstance(body, bytes) else dumps(body)
        if len(raw) > self.max_body_bytes and kw.get("send", "whole") == "whole":
            kw["send"] = "headers-only"  # the server may answer before reading it
        self.cases.append(Case(name, raw, **kw))

    def add_batch(self, name: str, items: Sequence[Any], **kw: Any) -> None:
        self.add(name, list(items), path="/v1/events:batch", content_type=BATCH, **kw)

    # --- families -------------------------------------------------------------------------------------------

    def malformed_json(self) -> None:
        good = dumps(self.structured())
        bodies = {
            "empty": b"",
            "whitespace": b"  \n\t ",
            "truncated": good[: len(good) // 2],
            "trailing-comma": b'{"specversion": "1.0",}',
            "single-quotes": b"{'specversion': '1.0'}",
            "unquoted-key": b"{specversion: 1.0}",
            "nan": b'{"specversion": NaN}',
            "infinity": b'{"x": Infinity}',
            "minus-infinity": b'{"x": -Infinity}',
            "comment": b'{"specversion": "1.0" /* c */}',
            "two-values": good + good,
            "unclosed-string": b'{"specversion": "1.0',
            "control-char": b'{"specversion": "1.\x01"}',
            "bad-escape": b'{"specversion": "\\x41"}',
            "hex-number": b'{"x": 0x1F}',
            "leading-zero": b'{"x": 01}',
            "plus-number": b'{"x": +1}',
            "python-literal": b'{"x": True}',
            "none-literal": b'{"x": None}',
            "bare-word": b"hello",
            "xml": b"<event><id>1</id></event>",
            "yaml": b"specversion: '1.0'\nid: x\n",
            "nul-byte": b'{"specversion": "1.0"}\x00',
            "unterminated-array": b"[",
            "colon-only": b":",
            "digits-over-limit": b'{"x": ' + b"9" * 5000 + b"}",
        }
        for name, body in bodies.items():
            self.add(f"malformed/{name}", body, expect=frozenset({400}))
        for name, body in list(bodies.items())[:8]:
            self.add(
                f"malformed-batch/{name}",
                body,
                path="/v1/events:batch",
                content_type=BATCH,
                expect=frozenset({400}),
            )

    def invalid_utf8(self) -> None:
        prefix = b'{"specversion": "1.0", "id": "'
        for name, raw in {
            "ff": b"\xff",
            "fe-ff-bom": b"\xfe\xff",
            "lone-continuation": b"\x80",
            "overlong-slash": b"\xc0\xaf",
            "overlong-nul": b"\xc0\x80",
            "encoded-surrogate": b"\xed\xa0\x80",
            "truncated-2": b"\xc3",
            "truncated-3": b"\xe1\xbb",
            "truncated-4": b"\xf0\x9f\x98",
            "above-max": b"\xf4\x90\x80\x80",
            "latin1-viet": "Hà Nội".encode("latin-1", errors="replace"),
            "cp1258": unicodedata.normalize("NFD", "Sở Tư pháp").encode("cp1258", errors="replace"),
            "utf16": '{"id": "x"}'.encode("utf-16"),
        }.items():
            self.add(f"utf8/{name}", prefix + raw + b'"}', expect=frozenset({400}))
        self.add(
            "utf8/whole-body-utf16", json.dumps(self.structured()).encode("utf-16"), expect=frozenset({400})
        )

    def shapes(self) -> None:
        for name, value in {
            "array": [self.structured()],
            "string": "event",
            "number": 1,
            "null": None,
            "true": True,
            "empty-object": {},
        }.items():
            expect = frozenset({422}) if name == "empty-object" else frozenset({400})
            self.add(f"shape/single-{name}", value, expect=expect)
        for name, value in {"object": self.structured(), "string": "x", "null": None, "number": 3}.items():
            self.add(
                f"shape/batch-{name}",
                value,
                path="/v1/events:batch",
                content_type=BATCH,
                expect=frozenset({400}),
            )
        self.add_batch("shape/batch-empty", [], expect=frozenset({422}))
        self.add_batch("shape/batch-of-strings", ["a", "b"], field="[0]")
        self.add_batch("shape/batch-nested-arrays", [[self.structured()]], field="[0]")
        self.add_batch("shape/batch-null-item", [self.structured(), None], field="[1]")
        self.add_batch(
            "shape/batch-over-count",
            [self.structured(i) for i in range(self.max_batch_events + 1)],
            expect=frozenset({413}),
        )
        big = dumps(self.structured())[:-1] + b', "pad": "' + b"x" * self.max_body_bytes + b'"}'
        self.add("shape/body-over-limit", big, expect=frozenset({413}))
        self.add("shape/chunked-over-limit", big, expect=frozenset({413}), send="chunked")

    def content_types(self) -> None:
        body = dumps(self.structured())
        for media in (
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/cloudevents-batch+json",
            "application/json-patch+json",
            "",
        ):
            self.add(
                f"content-type/single-{media or 'empty'}",
                body,
                content_type=media or None,
                expect=frozenset({415}),
            )
        self.add(
            "content-type/batch-as-single",
            dumps([self.structured()]),
            path="/v1/events:batch",
            content_type=SINGLE,
            expect=frozenset({415}),
        )
        for charset in ("latin-1", "utf-16", "windows-1258"):
            self.add(
                f"content-type/charset-{charset}",
                body,
                content_type=f"{SINGLE}; charset={charset}",
                expect=frozenset({415}),
            )

    def authentication(self) -> None:
        body = dumps(self.structured())
        for name, header in {
            "missing": None,
            "empty": "",
            "basic-scheme": "Basic dXNlcjpwYXNz",
            "bearer-only": "Bearer",
            "bearer-garbage": "Bearer garbage",
            "wrong-secret": "Bearer lgsp_000000000000_" + "a" * 43,
            "sql-ish": "Bearer ' OR 1=1 --",
            "very-long": "Bearer " + "a" * 8000,
            "vietnamese": "Bearer khóa-bí-mật",
        }.items():
            self.add(f"auth/{name}", body, authorization=header, expect=frozenset({401}))

    def methods_and_paths(self) -> None:
        body = dumps(self.structured())
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            self.add(f"method/{method}", body, method=method, expect=frozenset({405}))
        for path in ("/v1/event", "/v2/events", "/v1/events:bulk", "/v1/events;batch", "/v1/events%00"):
            self.add(f"path/{path}", body, path=path, expect=frozenset({404, 405}))

    def envelope_mutations(self) -> None:
        for index in range(len(self.bases)):
            for attribute in ("specversion", "id", "source", "type", "time"):
                for label, value in _envelope_values(attribute):
                    item = self.structured(index)
                    if value is _MISSING:
                        del item[attribute]
                    else:
                        item[attribute] = value
                    self.add(
                        f"envelope/{_short(index, self.bases)}/{attribute}/{label}", item, field=attribute
                    )
            for attribute, value in (
                ("subject", "not-the-entity-key"),
                ("datacontenttype", "application/xml"),
                ("data", "a string"),
                ("data", None),
                ("data", [1]),
                ("data_base64", "AAAA"),
            ):
                item = self.structured(index)
                item[attribute] = value
                self.add(f"envelope/{_short(index, self.bases)}/{attribute}/{value!r:.20}", item)

    def data_mutations(self) -> None:
        for index, base in enumerate(self.bases):
            schema = type(base).model_json_schema()
            required = set(schema.get("required", []))
            for name, spec in schema["properties"].items():
                if name == "meta":
                    continue
                for label, value in _mutations(spec, schema.get("$defs", {}), required=name in required):
                    item = self.structured(index)
                    if value is _MISSING:
                        del item["data"][name]
                    else:
                        item["data"][name] = value
                    self.add(f"data/{_short(index, self.bases)}/{name}/{label}", item, field=f"data.{name}")
            item = self.structured(index)
            item["data"]["unexpected_field"] = 1
            self.add(f"data/{_short(index, self.bases)}/unknown-field", item, field="data.unexpected_field")

    def huge_values(self) -> None:
        for label, value in (("2^63", 2**63), ("-2^70", -(2**70)), ("1e309", HUGE), ("10^400", 10**400)):
            for index, base in enumerate(self.bases):
                for name, spec in type(base).model_json_schema()["properties"].items():
                    if spec.get("type") in ("integer", "number"):
                        item = self.structured(index)
                        item["data"][name] = value
                        self.add(
                            f"huge/{_short(index, self.bases)}/{name}/{label}", item, field=f"data.{name}"
                        )
        item = self.structured()
        item["id"] = "a" * 100_000
        self.add("huge/id-100k", item, field="id")
        item = self.structured()
        first_text = next(k for k, v in item["data"].items() if isinstance(v, str))
        item["data"][first_text] = "Việt Nam " * (self.max_body_bytes // 16)
        self.add("huge/text-under-body-limit", item, field=f"data.{first_text}")
        item = self.structured()
        item["data"]["x" * 50_000] = 1
        self.add("huge/key-50k", item)
        self.add_batch("huge/batch-of-empty-objects", [{}] * self.max_batch_events, field="[0]")

    def deep_nesting(self) -> None:
        for depth in (50, 200, 900):
            item = self.structured()
            nested: Any = "x"
            for _ in range(depth):
                nested = {"n": nested}
            item["data"]["unexpected_nested"] = nested
            self.add(f"nesting/object-{depth}-in-data", item)
            item = self.structured()
            item["data"]["recipients"] = json.loads("[" * depth + "]" * depth)
            self.add(f"nesting/array-{depth}-as-field", item)

    def vietnamese_forms(self) -> None:
        nfc = "Ủy ban nhân dân tỉnh Nghệ An"
        nfd = unicodedata.normalize("NFD", nfc)
        assert nfd != nfc
        for form, text in (("nfc", nfc), ("nfd", nfd)):
            item = self.structured()
            item["source"] = text
            self.add(f"vietnamese/source-{form}", item, field="source")
            item = self.structured()
            item["type"] = "vn.gov.lgsp." + unicodedata.normalize(form.upper(), "Hồ sơ")  # type: ignore[arg-type]
            self.add(f"vietnamese/type-{form}", item, field="type")
            item = self.structured()
            item["id"] = text
            self.add(f"vietnamese/id-{form}", item, field="id")
            item = self.structured()
            item["time"] = unicodedata.normalize(form.upper(), "ngày 1 tháng 7 năm 2025")  # type: ignore[arg-type]
            self.add(f"vietnamese/time-{form}", item, field="time")
        # The same text in two normal forms under one id is still one id repeated.
        first, second = self.structured(), self.structured()
        second["id"] = first["id"]
        for item, form in ((first, "NFC"), (second, "NFD")):
            key = next(k for k, v in item["data"].items() if isinstance(v, str) and not v.isascii())
            item["data"][key] = unicodedata.normalize(form, item["data"][key])  # type: ignore[arg-type]
        self.add_batch("vietnamese/same-id-nfc-and-nfd", [first, second], field="[1].id")
        # Over a 1000-character limit in both forms (1001 letters; 3003 code points in NFD).
        for form in ("NFC", "NFD"):
            item = self.structured()
            key = _text_field(item, max_length=1000)
            item["data"][key] = unicodedata.normalize(form, "ệ" * 1001)  # type: ignore[arg-type]
            self.add(f"vietnamese/over-limit-{form.lower()}", item, field=f"data.{key}")
        item = self.structured()
        key = _text_field(item, max_length=1000)
        self.add(
            "vietnamese/lone-surrogate",
            dumps(item).replace(f'"{key}": "'.encode(), f'"{key}": "\\ud800'.encode(), 1),
            field=f"data.{key}",
        )
        item = self.structured()
        key = _identifier_field(item)
        item["data"][key] = unicodedata.normalize("NFD", "Hồ sơ số 1")
        self.add("vietnamese/identifier-with-spaces-nfd", item, field=f"data.{key}")
        item = self.structured()
        item["source"] = item["source"].replace("H", "Н")  # Cyrillic EN: looks the same, is not
        self.add("vietnamese/homoglyph-source", item, field="source")

    def spoofed_sources(self) -> None:
        item = self.structured()
        item["source"] = self.spoofed_source
        self.add("spoof/single", item, expect=frozenset({403}), field="source")
        items = [self.structured(i) for i in range(3)]
        items[2]["source"] = self.spoofed_source
        self.add_batch("spoof/one-of-three", items, expect=frozenset({403}), field="[2].source")
        for label, source in (
            ("lowercase", self.bases[0].meta.source.lower()),
            ("padded", f" {self.bases[0].meta.source} "),
            ("unknown-in-catalog", "000.00.00.H99"),
            ("trailing-dot", self.bases[0].meta.source + "."),
            ("url", f"https://agency.example/{self.bases[0].meta.source}"),
            ("nul", self.bases[0].meta.source + "\u0000"),
            ("zero-width", self.bases[0].meta.source + "\u200b"),
        ):
            item = self.structured()
            item["source"] = source
            self.add(f"spoof/{label}", item, field="source")

    def unknown_types(self) -> None:
        known = next(iter(EVENT_TYPES))
        for label, value in (
            ("unknown", "vn.gov.lgsp.Unknown"),
            ("short-name", known.rsplit(".", 1)[-1]),
            ("upper-case", known.upper()),
            ("trailing-space", known + " "),
            ("other-namespace", "com.example.DocumentSent"),
            ("java-class", "vn.gov.lgsp.document.DocumentSent$1"),
            ("path-traversal", "../../etc/passwd"),
            ("avro-record-field", "vn.gov.lgsp.report.IndicatorValue"),
        ):
            item = self.structured()
            item["type"] = value
            self.add(f"type/{label}", item, field="type")
        for index in range(len(self.bases)):
            item = self.structured(index)
            item["type"] = to_structured(self.bases[(index + 1) % len(self.bases)])["type"]
            self.add(f"type/{_short(index, self.bases)}-data-under-another-type", item, field="data")

    def duplicate_ids(self) -> None:
        first = self.structured(0)
        for copies in (2, 3):
            items = [first] + [{**self.structured(i), "id": first["id"]} for i in range(1, copies)]
            self.add_batch(f"duplicates/{copies}-copies", items, field="[1].id")
        twin = self.structured(1)
        twin["id"] = first["id"].upper()
        self.add_batch("duplicates/upper-case-uuid", [first, twin], field="[1].id")
        self.add_batch("duplicates/identical-events", [first, copy.deepcopy(first)], field="[1].id")
        braced = self.structured(1)
        braced["id"] = "{" + first["id"] + "}"
        self.add_batch("duplicates/braced-uuid", [first, braced], field="[1].id")

    def impossible_dates(self) -> None:
        for label, value in (
            ("feb-30", "2025-02-30T10:00:00Z"),
            ("month-13", "2025-13-01T10:00:00Z"),
            ("hour-25", "2025-07-01T25:00:00Z"),
            ("offset-25h", "2025-07-01T10:00:00+25:00"),
            ("year-0", "0000-07-01T10:00:00Z"),
            ("year-2200", "2200-07-01T10:00:00Z"),
            ("year-1969", "1969-12-31T23:59:59Z"),
            ("no-zone", "2025-07-01T10:00:00"),
            ("date-only", "2025-07-01"),
            ("vietnamese-format", "01/07/2025 10:00"),
        ):
            item = self.structured()
            item["time"] = value
            self.add(f"dates/time-{label}", item, field="time")
        for label, value in (
            ("9999-minus-10h", "9999-12-31T23:59:59-10:00"),
            ("0001-plus-10h", "0001-01-01T00:00:00+10:00"),
        ):
            item = self.structured()
            item["time"] = value
            self.add(f"dates/time-{label}", item, field="time")
            for index, base in enumerate(self.bases):
                item = self.structured(index)
                schema = type(base).model_json_schema()
                for name, spec in schema["properties"].items():
                    resolved, _ = _resolve(spec, schema.get("$defs", {}))
                    if resolved.get("format") == "date-time" and name in item["data"]:
                        item["data"][name] = value
                        self.add(
                            f"dates/{_short(index, self.bases)}/{name}-{label}",
                            item,
                            field=f"data.{name}",
                        )
                        break

    def lenient_coercions(self) -> None:
        """Values of the wrong JSON type or format that pydantic's lax mode would coerce: refused."""
        for label, text in (("epoch-seconds", "1751364000"), ("space-separator", "2025-07-01 10:00:00Z")):
            item = self.structured()
            item["time"] = text
            self.add(f"lenient/time-{label}", item, field="time")
        for index, base in enumerate(self.bases):
            properties = type(base).model_json_schema()["properties"]
            for name, spec in properties.items():
                kind = spec.get("type")
                value: Any = {"integer": True, "boolean": "true"}.get(str(kind))
                if spec.get("format") == "date-time":
                    value = 1751364000
                if value is None or name not in to_structured(base)["data"] or spec.get("minimum", 0) > 1:
                    continue
                item = self.structured(index)
                item["data"][name] = value
                self.add(
                    f"lenient/{_short(index, self.bases)}/{name}-{value!r}",
                    item,
                    field=f"data.{name}",
                )

    def files(self) -> None:
        manifest = json.loads((CORPUS_DIR / "manifest.json").read_text(encoding="utf-8"))
        for entry in manifest["cases"]:
            body = (CORPUS_DIR / entry["file"]).read_bytes()
            batch = entry.get("batch", False)
            self.add(
                f"file/{entry['file']}",
                body,
                path="/v1/events:batch" if batch else "/v1/events",
                content_type=entry.get("content_type", BATCH if batch else SINGLE),
                expect=frozenset(entry["expect"]),
                field=entry.get("field"),
            )


_MISSING: Final = object()


def _short(index: int, bases: Sequence[Event]) -> str:
    return type(bases[index % len(bases)]).__name__


def _envelope_values(attribute: str) -> Iterator[tuple[str, Any]]:
    yield from (
        ("missing", _MISSING),
        ("null", None),
        ("number", 1),
        ("bool", True),
        ("array", ["x"]),
        ("object", {"x": 1}),
        ("empty", ""),
        ("huge", "x" * 20_000),
    )
    extra: Mapping[str, Sequence[tuple[str, Any]]] = {
        "specversion": (("0.3", "0.3"), ("1", "1"), ("v1.0", "v1.0")),
        "id": (("not-uuid", "event-1"), ("uuid-truncated", str(uuid.uuid4())[:-1])),
        "source": (("shape", "H29"), ("spaces", "000 00 00 H29")),
        "type": (("unknown", "vn.gov.lgsp.Nope"),),
        "time": (("garbage", "yesterday"), ("no-zone", "2025-07-01T10:00:00")),
    }
    yield from extra.get(attribute, ())


def _resolve(spec: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """(the non-null alternative of a field's schema, whether null is allowed)."""
    nullable = False
    if "anyOf" in spec:
        options = [o for o in spec["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(spec["anyOf"])
        spec = options[0]
    ref = spec.get("$ref")
    if isinstance(ref, str):
        spec = defs[ref.rsplit("/", 1)[-1]]
    return spec, nullable


def _mutations(
    spec: Mapping[str, Any], defs: Mapping[str, Any], *, required: bool
) -> Iterator[tuple[str, Any]]:
    """Values that no lax coercion turns into a valid value of the field ``spec`` describes."""
    resolved, nullable = _resolve(spec, defs)
    if required:
        yield "missing", _MISSING
        if not nullable:
            yield "null", None
    kinds: dict[str, Callable[[], Iterator[tuple[str, Any]]]] = {
        "enum": lambda: iter(
            (("not-a-member", "NOT_A_MEMBER"), ("bool", True), ("array", []), ("object", {}))
        ),
        "date-time": lambda: iter(
            (
                ("bool", True),
                ("array", []),
                ("garbage", "not-a-time"),
                ("feb-30", "2025-02-30T10:00:00Z"),
                ("no-zone", "2025-07-01T10:00:00"),
                ("year-2200", "2200-01-01T00:00:00Z"),
            )
        ),
        "date": lambda: iter(
            (("bool", True), ("array", []), ("month-13", "2025-13-01"), ("year-1800", "1800-01-01"))
        ),
        "string": lambda: iter(
            (
                ("number", 12345),
                ("bool", True),
                ("array", []),
                ("object", {}),
                ("empty", ""),
                ("too-long", "ệ" * 9001),
            )
        ),
        "integer": lambda: iter(
            (("word", "abc"), ("fraction", 1.5), ("array", []), ("object", {}), ("too-big", 2**63))
        ),
        "number": lambda: iter((("word", "abc"), ("array", []), ("object", {}), ("infinite", HUGE))),
        "boolean": lambda: iter((("word", "maybe"), ("two", 2), ("array", []), ("object", {}))),
        "array": lambda: iter((("string", "x"), ("object", {}), ("number", 7), ("bad-item", [12345]))),
        "object": lambda: iter((("string", "x"), ("number", 7), ("array", []), ("empty", {}))),
    }
    yield from kinds[_kind(resolved)]()


def _kind(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "enum"
    if spec.get("format") in ("date-time", "date"):
        return str(spec["format"])
    kind = spec.get("type", "object")
    return str(kind if kind in ("string", "integer", "number", "boolean", "array") else "object")


def _text_field(item: Mapping[str, Any], *, max_length: int) -> str:
    for event_type in EVENT_TYPES.values():
        if item["type"] == event_type.AVRO_NAME:
            for name, spec in event_type.model_json_schema()["properties"].items():
                if spec.get("maxLength") == max_length and name in item["data"]:
                    return str(name)
    raise AssertionError(f"no text field of at most {max_length} characters in {item['type']}")


def _identifier_field(item: Mapping[str, Any]) -> str:
    for event_type in EVENT_TYPES.values():
        if item["type"] == event_type.AVRO_NAME:
            for name, spec in event_type.model_json_schema()["properties"].items():
                if spec.get("pattern") == r"^\S+$" and name in item["data"]:
                    return str(name)
    raise AssertionError(f"no identifier field in {item['type']}")


def spoofable_source(granted: set[str]) -> str:
    """A catalog agency the key was not granted (a People's Committee, so it is surely in the catalog)."""
    for province in load_catalog().provinces():
        if province.committee not in granted:
            return str(province.committee)
    raise AssertionError("every province committee is granted")
