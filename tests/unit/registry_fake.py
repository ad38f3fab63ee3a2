"""An in-memory schema registry speaking the ccompat subset our client uses, as an ``httpx.MockTransport``.

It answers like Apicurio 3.0.9 does (content ids shared across subjects, byte-exact text matching, the same
error codes), so unit tests of the client and the serde need no server. ``fail_next`` injects failures.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class FakeRegistry:
    """Subjects -> list of schema texts; ids are content ids (one per distinct text)."""

    ids: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, list[str]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    fail_next: list[httpx.Response | Exception] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add(self, subject: str, schema: dict[str, Any] | str) -> int:
        """Register directly (no request recorded), as another producer would have."""
        text = (
            schema
            if isinstance(schema, str)
            else json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        )
        return self._register(subject, text)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        path = request.url.path.removeprefix("/apis/ccompat/v7")
        body = json.loads(request.content) if request.content else {}
        return self._route(request.method, path, body)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        if match := re.fullmatch(r"/subjects/([^/]+)/versions", path):
            if method == "POST":
                return _ok({"id": self._register(match[1], body["schema"])})
            return self._versions(match[1])
        if (match := re.fullmatch(r"/subjects/([^/]+)/versions/latest", path)) and method == "GET":
            return self._latest(match[1])
        if (match := re.fullmatch(r"/subjects/([^/]+)", path)) and method == "POST":
            return self._lookup(match[1], body["schema"])
        if match := re.fullmatch(r"/schemas/ids/(\d+)", path):
            return self._by_id(int(match[1]))
        if match := re.fullmatch(r"/config/([^/]+)", path):
            return self._config(method, match[1], body)
        if match := re.fullmatch(r"/compatibility/subjects/([^/]+)/versions/latest", path):
            return _ok({"is_compatible": "incompatible" not in body["schema"]})
        if path == "/subjects":
            return _ok(list(self.subjects))
        return _error(404, 404, f"no route {method} {path}")

    def _register(self, subject: str, text: str) -> int:
        schema_id = self.ids.setdefault(text, len(self.ids) + 1)
        versions = self.subjects.setdefault(subject, [])
        if text not in versions:
            versions.append(text)
        return schema_id

    def _lookup(self, subject: str, text: str) -> httpx.Response:
        if subject not in self.subjects:
            return _error(404, 40401, f"No artifact with ID '{subject}' in group 'null' was found.")
        if text not in self.subjects[subject]:
            return _error(
                404, 40403, f"The given schema does not match any schema under the subject {subject}"
            )
        version = self.subjects[subject].index(text) + 1
        return _ok({"subject": subject, "version": version, "id": self.ids[text], "schema": text})

    def _by_id(self, schema_id: int) -> httpx.Response:
        for text, known in self.ids.items():
            if known == schema_id:
                return _ok({"schema": text, "schemaType": "AVRO", "references": []})
        return _error(404, 40403, f"No content with ID '{schema_id}' was found.")

    def _versions(self, subject: str) -> httpx.Response:
        if subject not in self.subjects:
            return _error(404, 40401, f"No artifact with ID '{subject}' in group 'null' was found.")
        return _ok(list(range(1, len(self.subjects[subject]) + 1)))

    def _latest(self, subject: str) -> httpx.Response:
        if subject not in self.subjects:
            return _error(404, 40401, f"No artifact with ID '{subject}' in group 'null' was found.")
        texts = self.subjects[subject]
        payload = {"subject": subject, "version": len(texts), "id": self.ids[texts[-1]], "schema": texts[-1]}
        return _ok(payload)

    def _config(self, method: str, subject: str, body: dict[str, Any]) -> httpx.Response:
        if method == "PUT":
            self.levels[subject] = body["compatibility"]
        elif subject not in self.subjects and subject not in self.levels:
            return _error(404, 40401, f"No artifact with ID '{subject}' in group 'null' was found.")
        return _ok({"compatibilityLevel": self.levels.get(subject, "NONE")})


def _ok(payload: Any) -> httpx.Response:
    return httpx.Response(200, json=payload)


def _error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "error_code": code})
