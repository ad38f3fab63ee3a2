"""``/docs/events``: the AsyncAPI document of the topics as one self-contained HTML page (no CDN, no script).

The page is rendered here from :func:`bus.asyncapi.build_document` (the same data as ``docs/asyncapi.yaml``):
per topic its key, partitions and retention, per event its Avro fields and the headers every record carries.
``/docs/asyncapi.json`` serves the document itself, for tools (the AsyncAPI Studio, generators).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from bus.asyncapi import build_document

EVENTS_DOCS_PATH = "/docs/events"
ASYNCAPI_JSON_PATH = "/docs/asyncapi.json"

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#1b1f24}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:2px solid #d0d7de}h3{margin-top:1.6rem}
code{background:#f3f4f6;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
nav a{margin-right:1rem}.muted{color:#57606a}
"""


def install(app: FastAPI) -> None:
    """Serve the HTML page and the JSON document (built once, at the first request)."""
    cache: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = build_document()
        return dict(cache["doc"])

    async def events_page(_request: Request) -> HTMLResponse:
        return HTMLResponse(render_html(document()))

    async def asyncapi_json(_request: Request) -> JSONResponse:
        return JSONResponse(document())

    app.add_route(EVENTS_DOCS_PATH, events_page, include_in_schema=False)
    app.add_route(ASYNCAPI_JSON_PATH, asyncapi_json, include_in_schema=False)


def render_html(doc: dict[str, Any]) -> str:
    """The whole page for an AsyncAPI 3.0 document of the shape :func:`build_document` makes."""
    info = doc["info"]
    messages = doc["components"]["messages"]
    trait = doc["components"]["messageTraits"]["CloudEvents"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info['title'])} — AsyncAPI</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} <span class='muted'>{escape(info['version'])}</span></h1>",
        f"<p>{escape(info['description'])}</p>",
        f"<p class='muted'>AsyncAPI {escape(doc['asyncapi'])}: "
        f"<a href='{ASYNCAPI_JSON_PATH}'>the document</a>"
        " · <a href='/docs'>HTTP API (OpenAPI)</a></p>",
        "<nav>"
        + "".join(
            f"<a href='#{escape(cid)}'>{escape(ch['address'])}</a>" for cid, ch in doc["channels"].items()
        )
        + "</nav>",
        _servers(doc["servers"]),
    ]
    for cid, channel in doc["channels"].items():
        parts.append(_channel(cid, channel))
    parts.append("<h2 id='messages'>Messages</h2>")
    for mid, message in messages.items():
        parts.append(_message(mid, message, trait))
    parts.append("</body></html>")
    return "\n".join(parts)


def _servers(servers: dict[str, Any]) -> str:
    rows = []
    for name, server in servers.items():
        kafka = server.get("bindings", {}).get("kafka", {})
        rows.append(
            _row(
                name,
                server["host"],
                server["protocol"],
                kafka.get("schemaRegistryUrl", ""),
                kafka.get("schemaRegistryVendor", ""),
            )
        )
    return "<h2>Servers</h2>" + _table(("name", "host", "protocol", "schema registry", "vendor"), rows)


def _channel(cid: str, channel: dict[str, Any]) -> str:
    binding = channel.get("bindings", {}).get("kafka", {})
    config = binding.get("topicConfiguration", {})
    names = [ref["$ref"].rpartition("/")[2] for ref in channel["messages"].values()]
    links = ", ".join(f"<a href='#msg-{escape(n)}'>{escape(n)}</a>" for n in names)
    facts = _table(
        ("partitions", "replicas", "cleanup.policy", "retention.ms", "messages"),
        [
            _row(
                binding.get("partitions", ""),
                binding.get("replicas", ""),
                ",".join(config.get("cleanup.policy", [])),
                config.get("retention.ms", ""),
                links,
                raw_last=True,
            )
        ],
    )
    return (
        f"<h2 id='{escape(cid)}'><code>{escape(channel['address'])}</code></h2>"
        f"<p>{escape(channel.get('description', ''))}</p>{facts}"
    )


def _message(mid: str, message: dict[str, Any], trait: dict[str, Any]) -> str:
    out = [
        f"<h3 id='msg-{escape(mid)}'>{escape(message.get('title', mid))} "
        f"<code>{escape(message['name'])}</code>"
        "</h3>",
        f"<p>{escape(message.get('summary', ''))}</p>",
    ]
    if message.get("description"):
        out.append(f"<p>{escape(message['description'])}</p>")
    key = message.get("bindings", {}).get("kafka", {}).get("key")
    if key:
        out.append(f"<p><b>Key</b>: {escape(key.get('description', key.get('type', '')))}</p>")
    headers = message.get("headers") or (trait["headers"] if message.get("traits") else None)
    if headers:
        out.append("<p><b>Headers</b></p>" + _headers(headers))
    payload = message["payload"]
    if "schemaFormat" in payload:
        out.append(f"<p><b>Payload</b>: <code>{escape(payload['schemaFormat'])}</code></p>")
        out.append(_avro_fields(payload["schema"]))
    else:
        out.append(f"<p><b>Payload</b>: {escape(payload.get('description', ''))}</p>")
    return "\n".join(out)


def _headers(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema["properties"].items():
        form = prop.get("const") or (" | ".join(prop["enum"]) if "enum" in prop else prop.get("format", ""))
        rows.append(_row(name, "yes" if name in required else "no", form, prop.get("description", "")))
    return _table(("header", "required", "value", "meaning"), rows)


def _avro_fields(record: dict[str, Any]) -> str:
    rows = []
    for field in record.get("fields", []):
        default = field.get("default", "")
        rows.append(
            _row(
                field["name"],
                avro_type_text(field["type"]),
                "" if default == "" else repr(default),
                field.get("doc", ""),
            )
        )
    return _table(("field", "Avro type", "default", "meaning"), rows)


def avro_type_text(avro: Any) -> str:
    """A short reading of an Avro type: ``string``, ``long (timestamp-millis)``, ``null | string``, ..."""
    if isinstance(avro, str):
        return avro
    if isinstance(avro, list):
        return " | ".join(avro_type_text(t) for t in avro)
    kind = avro.get("type")
    if "logicalType" in avro:
        return f"{avro_type_text(kind)} ({avro['logicalType']})"
    if kind == "enum":
        return f"enum {avro['name']}: {', '.join(avro['symbols'])}"
    if kind == "array":
        return f"array of {avro_type_text(avro['items'])}"
    if kind == "map":
        return f"map of {avro_type_text(avro['values'])}"
    if kind == "record":
        inner = ", ".join(f"{f['name']}: {avro_type_text(f['type'])}" for f in avro["fields"])
        return f"record {avro['name']} {{{inner}}}"
    return str(kind)


def _row(*cells: Any, raw_last: bool = False) -> str:
    texts = [escape(str(c)) for c in cells]
    if raw_last:
        texts[-1] = str(cells[-1])  # already HTML (links built from escaped names)
    return "<tr>" + "".join(f"<td>{t}</td>" for t in texts) + "</tr>"


def _table(head: tuple[str, ...], rows: list[str]) -> str:
    return (
        "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
    )
