"""RFC 9457 problem details: every error the ingress answers is ``application/problem+json``.

A problem names its kind by a ``type`` URI reference (``/problems/<slug>``, documented at that path on the
ingress itself), a short ``title``, the HTTP ``status``, a ``detail`` for this occurrence, the ``instance``
(the request path), and, for validation failures, ``errors``: one ``{field, rule, message}`` per broken rule,
so an integrator can fix the exact field without reading our code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from starlette.responses import Response

from bus.errors import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_LISTED_ERRORS = 100


class ProblemKind(Enum):
    """The kinds of problem the ingress reports: (status, slug, title)."""

    MALFORMED = (400, "malformed-request", "The request body is not valid JSON text in UTF-8")
    UNAUTHENTICATED = (401, "unauthenticated", "A valid API key is required")
    FORBIDDEN_SOURCE = (403, "source-not-allowed", "This API key may not publish for that source")
    NOT_FOUND = (404, "not-found", "No such resource")
    METHOD_NOT_ALLOWED = (405, "method-not-allowed", "Method not allowed on this resource")
    REQUEST_TIMEOUT = (408, "request-timeout", "The request did not arrive in time")
    TOO_LARGE = (413, "too-large", "The request is larger than this ingress accepts")
    UNSUPPORTED_MEDIA_TYPE = (415, "unsupported-media-type", "Unsupported content type")
    INVALID_EVENT = (422, "invalid-event", "The event breaks the contract")
    OVERLOADED = (429, "overloaded", "Too many publishes in flight; retry later")
    HEADERS_TOO_LARGE = (431, "headers-too-large", "The request headers are too large or too many")
    INTERNAL = (500, "internal-error", "Internal error")
    UNAVAILABLE = (503, "unavailable", "Kafka or the schema registry is unavailable; retry later")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def slug(self) -> str:
        return self.value[1]

    @property
    def title(self) -> str:
        return self.value[2]

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"


FieldError = Problem
"""One broken rule: ``field`` is a JSON path like ``[3].data.due_at`` (``None`` for the whole body);
``hint`` says how to fix it where that is known (the expected form with an example, the nearest name)."""


@dataclass
class ProblemError(Exception):
    """Raised anywhere in request handling; rendered once, by the app's exception handler."""

    kind: ProblemKind
    detail: str
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def body(self, instance: str) -> dict[str, Any]:
        """The problem document for a request to ``instance``."""
        doc: dict[str, Any] = {
            "type": self.kind.type_uri,
            "title": self.kind.title,
            "status": self.kind.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            doc["errors"] = [e.to_json() for e in self.errors[:MAX_LISTED_ERRORS]]
            if len(self.errors) > MAX_LISTED_ERRORS:
                doc["errors_truncated"] = len(self.errors) - MAX_LISTED_ERRORS
        doc.update(self.extra)
        return doc

    def response(self, instance: str) -> Response:
        """Render as ``application/problem+json`` with this problem's status and headers."""
        return problem_response(self.kind.status, self.body(instance), self.headers)


def problem_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """A problem document as an HTTP response."""
    content = encode_json(body)
    return Response(content, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))


def encode_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, as every answer of the ingress is written."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def kind_for_status(status: int) -> ProblemKind:
    """The problem kind for a status raised by the framework (404, 405, ...)."""
    for kind in ProblemKind:
        if kind.status == status:
            return kind
    return ProblemKind.INTERNAL if status >= 500 else ProblemKind.MALFORMED


def problem_schema() -> dict[str, Any]:
    """JSON Schema of a problem document, for the OpenAPI components."""
    error = {
        "type": "object",
        "required": ["field", "rule", "message"],
        "properties": {
            "field": {
                "type": ["string", "null"],
                "description": "JSON path of the field, e.g. [2].data.due_at",
            },
            "rule": {"type": "string", "description": "the rule broken, e.g. required, format, known-agency"},
            "message": {"type": "string"},
            "hint": {
                "type": "string",
                "description": "how to fix it, where known: the expected form with an example, the nearest "
                "known type, field, symbol or agency code, malformed vs unknown agency code",
            },
        },
    }
    return {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "instance"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference", "examples": ["/problems/invalid-event"]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "format": "uri-reference"},
            "errors": {"type": "array", "items": error},
            "unconfirmed": {
                "type": "array",
                "items": {"type": "string"},
                "description": "503 after a Kafka failure mid-publish: ids Kafka did not confirm",
            },
        },
    }


PROBLEM_DOCS: Mapping[str, str] = {
    ProblemKind.MALFORMED.slug: "The body could not be parsed: not UTF-8, not JSON, or not the expected JSON "
    "shape (an object for /v1/events, an array for /v1/events:batch). Fix the client; do not retry as is.",
    ProblemKind.UNAUTHENTICATED.slug: "Send `Authorization: Bearer <key>` with the key issued to your agency "
    "(`lgsp ingress keys add AGENCY`).",
    ProblemKind.FORBIDDEN_SOURCE.slug: "Every agency an event names — its `source`, and in `data` the "
    "document `sender` and the sender part of `document_id`, a status's or report's `reporting_agency`, a "
    "dossier's `processing_agency` and `province_code` — must be your agency's code, a unit of your "
    "province (for a provincial People's Committee), or a unit explicitly granted to your key (rules "
    "`source-allowed`, `agency-allowed`); and `source` must be that agency or one of its units (rule "
    "`source-rollup`). Each refused field is listed in `errors`; nothing was published.",
    ProblemKind.NOT_FOUND.slug: "No such resource.",
    ProblemKind.METHOD_NOT_ALLOWED.slug: "Use POST for events, GET for the rest.",
    ProblemKind.REQUEST_TIMEOUT.slug: "The headers or the body arrived too slowly "
    "(`LGSP_INGRESS__HEADER_TIMEOUT_S`, `LGSP_INGRESS__BODY_TIMEOUT_S`); send the request at once. Nothing "
    "of the request was published.",
    ProblemKind.HEADERS_TOO_LARGE.slug: "The request line and headers are over the size or count limit "
    "(`LGSP_INGRESS__MAX_HEADER_BYTES`, `LGSP_INGRESS__MAX_HEADERS`); the connection is closed.",
    ProblemKind.TOO_LARGE.slug: "The body or the number of events in a batch is over the configured limit; "
    "split the batch.",
    ProblemKind.UNSUPPORTED_MEDIA_TYPE.slug: "POST /v1/events takes application/cloudevents+json or "
    "application/json; POST /v1/events:batch takes application/cloudevents-batch+json or application/json.",
    ProblemKind.INVALID_EVENT.slug: "Some event breaks the contract: `errors` has one entry per broken "
    "rule, naming its field and rule, with a `hint` where a fix is known; the envelope and `data` are "
    "checked together. "
    "Nothing of the request was published.",
    ProblemKind.OVERLOADED.slug: "The ingress has its maximum of publishes in flight, or your agency has its "
    "own maximum in flight or is over its request rate; retry after `Retry-After` seconds. Nothing of the "
    "request was published.",
    ProblemKind.INTERNAL.slug: "An unexpected error; report it with the time of the request.",
    ProblemKind.UNAVAILABLE.slug: "Kafka or the schema registry could not be reached. Retry after "
    "`Retry-After` seconds with the same event ids: consumers drop duplicates by event id. When Kafka failed "
    "mid-publish, `unconfirmed` lists the ids not confirmed; they may still land, so resend them unchanged.",
}
"""Human documentation served at each problem's ``type`` URI."""
