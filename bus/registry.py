"""Async client for the Confluent Schema Registry REST API, as served by Apicurio Registry 3 (ccompat v7).

One client holds one cache: schema ids by (subject, schema text) and schemas by id. It is injected into the
serializer and the deserializer (see ``bus.serde``), so a process has one cache and a unit test can hand in an
``httpx.MockTransport``.

Errors: connection errors, timeouts, HTTP 429 and 5xx raise :class:`~bus.errors.RegistryUnavailableError`
(``retriable``) after ``settings.max_retries`` retries with exponential backoff; every other error answer
raises :class:`~bus.errors.RegistryError` carrying the HTTP status and the registry's ``error_code``. Every
call made here is idempotent, so retrying a POST is safe.

Apicurio 3.0.9 behaviour, checked against a running registry (where it differs from Confluent, it says so):

- Ids are content ids, global across subjects, starting at 1: the same schema text under two subjects gets
  the same id (as in Confluent).
- Registering byte-identical text again returns the same id. Text that differs only in whitespace or key
  order is stored as a **new version with a new id** (Confluent would dedupe by the parsed schema). So this
  client always sends one canonical text per schema, :func:`schema_text`, and
  :meth:`~SchemaRegistryClient.lookup` only finds schemas registered in that form.
- ``?normalize=true`` makes Apicurio match on the Parsing Canonical Form, which drops ``doc``, defaults and
  logical types: a schema whose only change was its ``doc`` came back with the old id. Never sent.
- Unknown subject: 404 with ``error_code`` 40401 (for lookups, versions and ``GET /config/{subject}`` alike);
  unknown version: 40402; schema not under the subject (lookup) or unknown id: 40403. Invalid schema: 422,
  42201. Registering an incompatible schema: 409 with ``error_code`` 409.
- ``GET /config/{subject}`` of an existing subject without its own level answers the global level (Confluent
  answers 40408 unless ``defaultToGlobal``); both answers use the key ``compatibilityLevel``.
- ``PUT /config/{subject}`` accepts the seven Confluent levels, also for a subject that does not exist yet;
  an unknown level is answered with **500** and ``error_code`` 0, which would look retriable, so levels are
  validated here before sending.
- A compatibility check against a subject that does not exist answers ``is_compatible: true``.
- ``DELETE /subjects/{subject}`` (soft) then ``?permanent=true`` removes a subject, as in Confluent.

:func:`register_schemas` is what ``lgsp schemas register`` runs: every version of every record, oldest
first, after setting the subject's level from ``schemas/compatibility.json``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx

from bus.compat import level_of
from bus.errors import ConfigError, RegistryError, RegistryUnavailableError
from bus.schema_cache import SchemaDiskCache
from bus.schemas import full_name, load_schema, schema_versions
from bus.settings import RegistrySettings
from bus.tls import client_context
from bus.types import SchemaId, Subject

SUBJECT_NOT_FOUND: Final = 40401
VERSION_NOT_FOUND: Final = 40402
SCHEMA_NOT_FOUND: Final = 40403
INVALID_SCHEMA: Final = 42201
INCOMPATIBLE_SCHEMA: Final = 409

COMPATIBILITY_LEVELS: Final = frozenset(
    {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
)
DEFAULT_COMPATIBILITY: Final = "BACKWARD_TRANSITIVE"

_CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"
_MAX_BACKOFF_S: Final = 5.0

Schema = Mapping[str, Any] | str


@dataclass(frozen=True)
class SubjectVersion:
    """One registered version of a subject."""

    subject: Subject
    version: int
    schema_id: SchemaId


def record_subject(full_name: str) -> Subject:
    """Subject of a record under RecordNameStrategy: its Avro full name, whatever the topic."""
    return Subject(full_name)


def schema_text(schema: Schema) -> str:
    """The one text this client sends for a schema: compact JSON, key order kept, UTF-8 unescaped.

    A string is parsed and written again, so a dict and its JSON text register as the same schema.
    """
    parsed = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def is_not_found(exc: RegistryError, *codes: int) -> bool:
    """Whether ``exc`` is a 404 (with one of ``codes``, when given)."""
    return exc.status == 404 and (not codes or exc.error_code in codes)


def _verification(settings: RegistrySettings) -> ssl.SSLContext | bool:
    """How the registry's certificate is verified: against ``ssl_cafile`` when set, else httpx's own CA bundle
    (or ``SSL_CERT_FILE``); ConfigError for a CA file given with an http:// URL, which would be ignored.

    An http registry never handshakes, but httpx would load its bundle's trust anchors anyway, 15-30 ms of
    every process's start: it gets a context that verifies certificates and host names and trusts no one,
    so nothing passes unchecked."""
    https = httpx.URL(settings.url).scheme == "https"
    if settings.ssl_cafile is not None:
        if not https:
            raise ConfigError(
                f"LGSP_REGISTRY__SSL_CAFILE is set but LGSP_REGISTRY__URL is not https ({settings.url}): "
                "use the registry's https URL, or unset the CA file"
            )
        return client_context(settings.ssl_cafile, what="schema registry")
    return True if https else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _unverified(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind a transport error, if that is what it is."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


class SchemaRegistryClient:
    """Confluent REST API client (async, httpx) with id caches, timeouts and bounded retries."""

    def __init__(
        self,
        settings: RegistrySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        auth = None
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password is not None else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._settings = settings
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/") + "/",
            auth=auth,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"Accept": f"{_CONTENT_TYPE}, application/json", "Content-Type": _CONTENT_TYPE},
            transport=transport,
            verify=_verification(settings),
        )
        self._ids: dict[tuple[Subject, str], SchemaId] = {}
        self._schemas: dict[SchemaId, dict[str, Any]] = {}
        self._disk = (
            None
            if settings.schema_cache_dir is None
            else SchemaDiskCache(settings.schema_cache_dir, self.url)
        )

    @property
    def url(self) -> str:
        """The registry's base URL, without any credentials written into it (for messages)."""
        return str(httpx.URL(self._settings.url).copy_with(username=None, password=None)).rstrip("/")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    # --- schemas -----------------------------------------------------------------------------------------

    async def register(self, subject: Subject | str, schema: Schema) -> SchemaId:
        """Register ``schema`` under ``subject`` (a new version unless already there) and return its id."""
        text = schema_text(schema)
        key = (Subject(subject), text)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        body = await self._request("POST", f"subjects/{_q(subject)}/versions", {"schema": text})
        return self._remember(key, text, _schema_id(body))

    async def lookup(self, subject: Subject | str, schema: Schema) -> SchemaId:
        """Id of ``schema`` if registered under ``subject``; ``RegistryError`` 404 (40401/40403) if not."""
        text = schema_text(schema)
        key = (Subject(subject), text)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        body = await self._request("POST", f"subjects/{_q(subject)}", {"schema": text})
        return self._remember(key, text, _schema_id(body))

    async def find(self, subject: Subject | str, schema: Schema) -> SubjectVersion | None:
        """The version of ``subject`` holding exactly ``schema``, or ``None``; never cached."""
        text = schema_text(schema)
        try:
            body = _expect_mapping(await self._request("POST", f"subjects/{_q(subject)}", {"schema": text}))
        except RegistryError as exc:
            if is_not_found(exc, SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND):
                return None
            raise
        version = body.get("version")
        if not isinstance(version, int):
            raise RegistryError(f"lookup answer without a version: {body!r}")
        schema_id = self._remember((Subject(subject), text), text, _schema_id(body))
        return SubjectVersion(Subject(subject), version, schema_id)

    async def get_by_id(self, schema_id: int) -> dict[str, Any]:
        """The parsed schema with this id (a copy; cached forever: ids are immutable), also on disk when
        ``settings.schema_cache_dir`` is set (:mod:`bus.schema_cache`)."""
        sid = SchemaId(schema_id)
        cached = self._schemas.get(sid)
        if cached is None and self._disk is not None:
            # Disk first: ids are immutable, and the registry may be down or the subject deleted.
            cached = self._disk.load(sid)
        if cached is None:
            body = await self._request("GET", f"schemas/ids/{int(schema_id)}")
            cached = _parse_schema_body(body, f"schema id {schema_id}")
            if self._disk is not None:
                self._disk.store(sid, schema_text(cached))
        self._schemas[sid] = cached
        return copy.deepcopy(cached)

    async def get_version(self, subject: Subject | str, version: int | str = "latest") -> dict[str, Any]:
        """``{"subject", "version", "id", "schema"}`` of one version (``schema`` parsed); not cached."""
        body = await self._request("GET", f"subjects/{_q(subject)}/versions/{_q(str(version))}")
        body = dict(_expect_mapping(body))
        body["schema"] = _parse_schema_body(body, f"{subject} version {version}")
        return body

    async def list_versions(self, subject: Subject | str) -> list[int]:
        """Version numbers registered under ``subject``."""
        body = await self._request("GET", f"subjects/{_q(subject)}/versions")
        if not isinstance(body, list) or not all(isinstance(v, int) for v in body):
            raise RegistryError(f"unexpected answer to listing versions of {subject}: {body!r}")
        return list(body)

    async def list_subjects(self) -> list[Subject]:
        """Every subject in the registry."""
        body = await self._request("GET", "subjects")
        if not isinstance(body, list) or not all(isinstance(s, str) for s in body):
            raise RegistryError(f"unexpected answer to listing subjects: {body!r}")
        return [Subject(s) for s in body]

    async def delete_subject(self, subject: Subject | str, *, permanent: bool = False) -> list[int]:
        """Delete a subject (soft; ``permanent`` also hard-deletes it afterwards); returns its versions."""
        path = f"subjects/{_q(subject)}"
        versions = await self._request("DELETE", path)
        if permanent:
            versions = await self._request("DELETE", f"{path}?permanent=true")
        self._ids = {key: value for key, value in self._ids.items() if key[0] != subject}
        return list(versions) if isinstance(versions, list) else []

    # --- compatibility -----------------------------------------------------------------------------------

    async def check_compatibility(self, subject: Subject | str, schema: Schema) -> bool:
        """Whether ``schema`` may follow the latest version of ``subject`` under its level."""
        path = f"compatibility/subjects/{_q(subject)}/versions/latest"
        body = _expect_mapping(await self._request("POST", path, {"schema": schema_text(schema)}))
        verdict = body.get("is_compatible")
        if not isinstance(verdict, bool):
            raise RegistryError(f"unexpected compatibility answer for {subject}: {body!r}")
        return verdict

    async def get_compatibility(self, subject: Subject | str) -> str | None:
        """The subject's level (Apicurio falls back to the global one); ``None`` for an unknown subject."""
        try:
            body = _expect_mapping(await self._request("GET", f"config/{_q(subject)}"))
        except RegistryError as exc:
            if is_not_found(exc, SUBJECT_NOT_FOUND, 40408):
                return None
            raise
        return _level_of(body)

    async def set_compatibility(self, subject: Subject | str, level: str) -> str:
        """Set the subject's level (one of :data:`COMPATIBILITY_LEVELS`); returns the level now held."""
        if level not in COMPATIBILITY_LEVELS:
            raise RegistryError(
                f"unknown compatibility level {level!r}; one of {sorted(COMPATIBILITY_LEVELS)}"
            )
        body = _expect_mapping(await self._request("PUT", f"config/{_q(subject)}", {"compatibility": level}))
        return _level_of(body)

    # --- transport ---------------------------------------------------------------------------------------

    def _remember(self, key: tuple[Subject, str], text: str, schema_id: SchemaId) -> SchemaId:
        self._ids[key] = schema_id
        # The id names exactly this text (ids are content ids), so the reverse entry is known without asking.
        self._schemas.setdefault(schema_id, json.loads(text))
        return schema_id

    async def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        for attempt in range(self._settings.max_retries):
            try:
                return await self._request_once(method, path, body)
            except RegistryUnavailableError:
                await self._sleep(min(self._settings.retry_backoff_s * 2**attempt, _MAX_BACKOFF_S))
        return await self._request_once(method, path, body)

    async def _request_once(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        where = f"{method} {self.url}/{path}"
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailableError(f"schema registry timed out: {where}") from exc
        except httpx.TransportError as exc:
            if (failure := _unverified(exc)) is not None:  # not an outage: retrying cannot help
                raise RegistryError(
                    f"the schema registry's certificate did not verify: {where}: {failure.verify_message}; "
                    "set LGSP_REGISTRY__SSL_CAFILE to the CA certificate (PEM) that signed it"
                ) from exc
            raise RegistryUnavailableError(f"schema registry unreachable: {where}: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from(response, where)
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryError(f"schema registry sent invalid JSON: {where}", status=200) from exc


def registry_environment(settings: RegistrySettings) -> dict[str, str]:
    """``LGSP_REGISTRY__*`` variables giving a child process this registry client (credentials included)."""
    env = {"LGSP_REGISTRY__URL": settings.url}
    if settings.ssl_cafile is not None:
        env["LGSP_REGISTRY__SSL_CAFILE"] = str(settings.ssl_cafile)
    if settings.username is not None:
        env["LGSP_REGISTRY__USERNAME"] = settings.username
    if settings.password is not None:
        env["LGSP_REGISTRY__PASSWORD"] = settings.password.get_secret_value()
    return env


def _error_from(response: httpx.Response, where: str) -> RegistryError:
    status = response.status_code
    error_code: int | None = None
    message = response.text[:500]
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        code = payload.get("error_code")
        error_code = code if isinstance(code, int) else None
        message = str(payload.get("message", message))
    text = f"schema registry answered {status} (error_code {error_code}) to {where}: {message}"
    if status in (401, 403):
        # A write protected registry answers reads to anyone and writes only to its admin.
        text += "; writes need the registry admin's LGSP_REGISTRY__USERNAME and LGSP_REGISTRY__PASSWORD"
    if status >= 500 or status == 429:
        return RegistryUnavailableError(text, status=status, error_code=error_code)
    return RegistryError(text, status=status, error_code=error_code)


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _expect_mapping(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RegistryError(f"unexpected answer from the schema registry: {body!r}")
    return body


def _schema_id(body: Any) -> SchemaId:
    value = _expect_mapping(body).get("id")
    if not isinstance(value, int):
        raise RegistryError(f"schema registry answer without an integer id: {body!r}")
    return SchemaId(value)


def _level_of(body: Mapping[str, Any]) -> str:
    # Apicurio answers `compatibilityLevel` to GET and PUT; Confluent answers `compatibility` to PUT.
    level = body.get("compatibilityLevel", body.get("compatibility"))
    if not isinstance(level, str):
        raise RegistryError(f"unexpected compatibility config answer: {body!r}")
    return level


def _parse_schema_body(body: Any, what: str) -> dict[str, Any]:
    payload = _expect_mapping(body)
    schema_type = payload.get("schemaType", "AVRO")
    if schema_type != "AVRO":
        raise RegistryError(f"{what} is a {schema_type} schema, not Avro")
    text = payload.get("schema")
    if not isinstance(text, str):
        raise RegistryError(f"{what}: answer without schema text: {payload!r}")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"{what}: schema text is not JSON") from exc
    if not isinstance(schema, dict):
        raise RegistryError(f"{what}: not a record schema: {text[:200]}")
    return schema


# --- registering the project's schemas --------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """One schema file version as the registry holds it."""

    file_version: int
    registered: SubjectVersion
    created: bool


@dataclass(frozen=True)
class SubjectRegistration:
    """What :func:`register_schemas` did for one record: its level and each version, in file order."""

    subject: Subject
    level: str
    versions: tuple[Registration, ...]

    @property
    def in_order(self) -> bool:
        """Whether the registry's version numbers follow the file versions (false if someone jumped ahead)."""
        numbers = [r.registered.version for r in self.versions]
        return numbers == sorted(numbers)


async def register_schemas(
    client: SchemaRegistryClient, names: Iterable[str], *, directory: Path | None = None
) -> list[SubjectRegistration]:
    """Register every version of every record in ``names``, oldest first, after setting its level.

    Idempotent: a version already under the subject keeps its id and version number. The level comes from
    ``schemas/compatibility.json`` (:func:`bus.compat.level_of`), set before the first registration so the
    registry enforces it on every version it accepts.
    """
    return [await _register_record(client, name, directory) for name in names]


async def _register_record(
    client: SchemaRegistryClient, name: str, directory: Path | None
) -> SubjectRegistration:
    versions = schema_versions(name, directory)
    if not versions:
        raise ConfigError(f"no schema files for record {name}")
    schemas = {version: load_schema(name, version, directory) for version in versions}
    subject = record_subject(full_name(schemas[versions[-1]]))
    level = await client.set_compatibility(subject, level_of(subject, directory).value)
    done = []
    for version in versions:
        found = await client.find(subject, schemas[version])
        created = found is None
        if found is None:
            await client.register(subject, schemas[version])
            found = await client.find(subject, schemas[version])
        if found is None:
            raise RegistryError(f"{subject} v{version} was registered but the registry cannot find it")
        done.append(Registration(version, found, created))
    return SubjectRegistration(subject, level, tuple(done))
