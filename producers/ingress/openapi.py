"""The OpenAPI document: request bodies documented from the event models, though parsed by hand.

The routes read raw bodies (for precise 400/413/415/422 answers), so FastAPI cannot infer their schema. This
module hand-crafts it: a ``CloudEvent`` is a ``oneOf`` of one envelope per event type, each with ``type``
fixed to the Avro full name and ``data`` referencing that event's data schema, which is generated from the
pydantic model (minus ``meta``, whose fields are the envelope's ``id``, ``source``, ``time`` and
``correlationid``). ``/docs`` renders it.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from bus.agencies import AGENCY_CODE_RE
from bus.events import EVENT_TYPES, Event
from producers.ingress.problems import PROBLEM_MEDIA_TYPE, problem_schema

DESCRIPTION: Final = """\
The HTTP gateway of the LGSP bus for agency systems that do not speak Kafka.

Send CloudEvents 1.0 in structured mode (`POST /v1/events`) or batched mode (`POST /v1/events:batch`, all or
nothing) with `Authorization: Bearer <your agency's key>`. `202 Accepted` means Kafka has stored every event
(acks=all); its answer gives each event's topic, partition and offset. Every error is an RFC 9457 problem
(`application/problem+json`) naming the field and the rule; nothing of a failed request is published, except
that after a Kafka failure mid-publish a 503 lists the ids Kafka did not confirm (resend those unchanged:
consumers drop duplicates by event id).

What lands on the topics (keys, Avro payloads, headers) is described by the AsyncAPI document at
[/docs/events](/docs/events).
"""

_REF = "#/components/schemas/{model}"

EXAMPLE_EVENT: Final[dict[str, Any]] = {
    "specversion": "1.0",
    "id": "0b6f6a8e-2d0c-4d55-9a53-4f3e2b1c9d70",
    "source": "000.00.00.H29",
    "type": "vn.gov.lgsp.dossier.DossierSynced",
    "time": "2025-07-03T02:15:00.000Z",
    "datacontenttype": "application/json",
    "data": {
        "dossier_code": "000.00.00.H29-250701-000123",
        "procedure_code": "1.000494.000.00.00.H29",
        "procedure_name": "Đăng ký khai sinh có yếu tố nước ngoài",
        "sector_code": "HT",
        "sector_name": "Hộ tịch",
        "processing_agency": {"code": "000.00.00.H29", "name": "Ủy ban nhân dân Thành phố Hồ Chí Minh"},
        "province_code": "79",
        "applicant_type": "CITIZEN",
        "channel": "ONLINE",
        "online_level": "FULL",
        "status": "RESOLVED",
        "received_at": "2025-07-01T01:30:00.000Z",
        "due_at": "2025-07-06T01:30:00.000Z",
        "finished_at": "2025-07-03T02:15:00.000Z",
        "returned_at": None,
        "fees_paid_online": True,
        "digitised": True,
        "version": 3,
        "result_digitised": True,
    },
}
"""A valid event, shown in /docs (a unit test publishes it)."""


def _data_name(event_type: type[Event]) -> str:
    return f"{event_type.__name__}Data"


def _envelope_name(event_type: type[Event]) -> str:
    return f"{event_type.__name__}Event"


def event_components() -> dict[str, Any]:
    """Schemas for every event type's data and envelope, the ``CloudEvent`` union and the answers."""
    components: dict[str, Any] = {}
    for event_type in EVENT_TYPES.values():
        schema = copy.deepcopy(event_type.model_json_schema(ref_template=_REF, mode="validation"))
        components.update(schema.pop("$defs", {}))
        components.pop("EventMeta", None)
        schema["properties"].pop("meta", None)
        schema["required"] = [f for f in schema.get("required", []) if f != "meta"]
        schema["title"] = _data_name(event_type)
        components[_data_name(event_type)] = schema
        components[_envelope_name(event_type)] = _envelope(event_type)
    components["CloudEvent"] = {
        "title": "CloudEvent",
        "description": "One CloudEvents 1.0 event, structured mode; `type` selects the shape of `data`.",
        "oneOf": [{"$ref": _REF.format(model=_envelope_name(t))} for t in EVENT_TYPES.values()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {name: _REF.format(model=_envelope_name(t)) for name, t in EVENT_TYPES.items()},
        },
    }
    components["CloudEventBatch"] = {
        "title": "CloudEventBatch",
        "type": "array",
        "minItems": 1,
        "items": {"$ref": _REF.format(model="CloudEvent")},
    }
    components["Delivery"] = _delivery_schema()
    components["BatchAccepted"] = {
        "type": "object",
        "required": ["count", "events"],
        "properties": {
            "count": {"type": "integer"},
            "events": {"type": "array", "items": {"$ref": _REF.format(model="Delivery")}},
        },
    }
    components["Problem"] = problem_schema()
    return components


def _envelope(event_type: type[Event]) -> dict[str, Any]:
    return {
        "title": _envelope_name(event_type),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"type": "string", "enum": ["1.0"]},
            "id": {"type": "string", "format": "uuid", "description": "event id; resend with the same id"},
            "source": {
                "type": "string",
                "pattern": AGENCY_CODE_RE.pattern,
                "maxLength": 35,
                "description": "agency code (QĐ 20/2020) of the unit the event is about, e.g. 000.00.00.H29",
            },
            "type": {"type": "string", "enum": [event_type.AVRO_NAME]},
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "when it happened (with offset)",
            },
            "subject": {
                "type": "string",
                "description": "optional; if given, the entity key (document id, ...)",
            },
            "datacontenttype": {"type": "string", "enum": ["application/json"]},
            "correlationid": {"type": "string", "maxLength": 200},
            "data": {"$ref": _REF.format(model=_data_name(event_type))},
        },
    }


def _delivery_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "topic", "partition", "offset"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


def request_body(*, batch: bool) -> dict[str, Any]:
    """``openapi_extra`` for a route: the request body's media types and schema."""
    schema = {"$ref": _REF.format(model="CloudEventBatch" if batch else "CloudEvent")}
    media = (
        ("application/cloudevents-batch+json", "application/json")
        if batch
        else ("application/cloudevents+json", "application/json")
    )
    example: Any = [EXAMPLE_EVENT] if batch else EXAMPLE_EVENT
    content = {m: {"schema": schema, "example": example} for m in media}
    return {"requestBody": {"required": True, "content": content}}


def responses_for(*, batch: bool) -> dict[int | str, dict[str, Any]]:
    """The documented answers of an event route."""
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}}
    accepted = {"$ref": _REF.format(model="BatchAccepted" if batch else "Delivery")}
    return {
        202: {"description": "Kafka has every event", "content": {"application/json": {"schema": accepted}}},
        400: {"description": "not UTF-8 JSON of the expected shape", "content": problem},
        401: {"description": "missing or wrong API key", "content": problem},
        403: {"description": "an event's source is not this key's agency or its units", "content": problem},
        413: {"description": "body or batch over the limits", "content": problem},
        415: {"description": "wrong content type", "content": problem},
        422: {"description": "an event breaks the contract (errors name field and rule)", "content": problem},
        429: {"description": "too many publishes in flight; see Retry-After", "content": problem},
        503: {"description": "Kafka or the registry unavailable; see Retry-After", "content": problem},
    }


def event_paths() -> dict[str, Any]:
    """The two event routes' operations (they are plain Starlette routes, so FastAPI does not list them)."""
    return {
        "/v1/events": {
            "post": {
                "tags": ["events"],
                "summary": "Publish one event",
                "description": "One CloudEvents 1.0 event in structured mode. Answers 202 once Kafka "
                "(acks=all) has it.",
                "operationId": "post_event",
                **request_body(batch=False),
                "responses": {str(k): v for k, v in responses_for(batch=False).items()},
                "security": [{"agencyKey": []}],
            }
        },
        "/v1/events:batch": {
            "post": {
                "tags": ["events"],
                "summary": "Publish a batch of events, all or nothing",
                "description": "A JSON array of CloudEvents (batched mode). Every event is validated and "
                "authorized before any is published; 202 once Kafka has all of them, with their deliveries "
                "in request order.",
                "operationId": "post_batch",
                **request_body(batch=True),
                "responses": {str(k): v for k, v in responses_for(batch=True).items()},
                "security": [{"agencyKey": []}],
            }
        },
    }


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the packaged assets (``swagger-ui-bundle-v2``), no CDN needed."""
    assets = "/docs/assets"
    app.mount(assets, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the hand-crafted components."""

    def generate() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("paths", {}).update(event_paths())
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            _drop_framework_validation(schema, schemas)
            schema["components"]["securitySchemes"] = {
                "agencyKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The API key of your agency (`lgsp ingress keys add AGENCY`).",
                }
            }
            schemas.update(event_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = generate  # type: ignore[method-assign]


def _drop_framework_validation(schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body for path parameters; ours are problems, documented above."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(answer):
                del operation["responses"]["422"]
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
