"""The registry client against an in-memory fake: paths, caching both ways, retries, error mapping, auth."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bus.errors import ConfigError, RegistryError, RegistryUnavailableError
from bus.registry import (
    SCHEMA_NOT_FOUND,
    SUBJECT_NOT_FOUND,
    SchemaRegistryClient,
    _verification,
    is_not_found,
    record_subject,
    register_schemas,
    registry_environment,
    schema_text,
)
from bus.schemas import load_schema
from bus.settings import RegistrySettings
from lgsp.devstack.certs import ensure_certificates
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit

URL = "http://registry.test/apis/ccompat/v7"
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Thing",
    "namespace": "test.lgsp",
    "doc": "Một bản ghi thử",
    "fields": [{"name": "a", "type": "int"}],
}


class Sleeps:
    """Records the backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(
    transport: httpx.AsyncBaseTransport, sleeps: Sleeps, **overrides: Any
) -> SchemaRegistryClient:
    settings = RegistrySettings.model_validate({"url": URL, "retry_backoff_s": 0.1, **overrides})
    return SchemaRegistryClient(settings, transport=transport, sleep=sleeps)


@pytest.fixture
async def client(fake: FakeRegistry, sleeps: Sleeps) -> AsyncIterator[SchemaRegistryClient]:
    async with make_client(fake.transport(), sleeps) as registry:
        yield registry


def test_subject_is_the_record_full_name() -> None:
    assert record_subject("vn.gov.lgsp.dossier.DossierSynced") == "vn.gov.lgsp.dossier.DossierSynced"


def test_schema_text_is_one_text_for_dict_and_string_forms() -> None:
    pretty = json.dumps(SCHEMA, indent=2)
    assert schema_text(pretty) == schema_text(SCHEMA)
    assert "Một bản ghi thử" in schema_text(SCHEMA)
    assert " " not in schema_text({"type": "record", "name": "X", "fields": []})


async def test_register_posts_the_schema_text_under_the_base_path(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    schema_id = await client.register("test.lgsp.Thing", SCHEMA)
    request = fake.requests[0]
    assert (request.method, request.url.path) == (
        "POST",
        "/apis/ccompat/v7/subjects/test.lgsp.Thing/versions",
    )
    assert request.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    assert json.loads(request.content) == {"schema": schema_text(SCHEMA)}
    assert schema_id == 1


async def test_register_is_cached_both_ways(client: SchemaRegistryClient, fake: FakeRegistry) -> None:
    schema_id = await client.register("test.lgsp.Thing", SCHEMA)
    assert await client.register("test.lgsp.Thing", json.dumps(SCHEMA)) == schema_id
    assert await client.get_by_id(schema_id) == SCHEMA
    assert len(fake.requests) == 1


async def test_lookup_finds_a_registered_schema_and_caches_it(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    schema_id = fake.add("test.lgsp.Thing", SCHEMA)
    assert await client.lookup("test.lgsp.Thing", SCHEMA) == schema_id
    assert await client.lookup("test.lgsp.Thing", SCHEMA) == schema_id
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("registered", "code"), [(False, SUBJECT_NOT_FOUND), (True, SCHEMA_NOT_FOUND)], ids=["subject", "schema"]
)
async def test_lookup_of_an_unknown_schema_keeps_the_registry_error_code(
    client: SchemaRegistryClient, fake: FakeRegistry, registered: bool, code: int
) -> None:
    if registered:
        fake.add("test.lgsp.Thing", {**SCHEMA, "doc": "another version"})
    with pytest.raises(RegistryError) as caught:
        await client.lookup("test.lgsp.Thing", SCHEMA)
    assert (caught.value.status, caught.value.error_code) == (404, code)
    assert is_not_found(caught.value, code)
    assert not caught.value.retriable


async def test_get_by_id_caches_and_hands_out_copies(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    schema_id = fake.add("test.lgsp.Thing", SCHEMA)
    first = await client.get_by_id(schema_id)
    first["name"] = "Mutated"
    assert await client.get_by_id(schema_id) == SCHEMA
    assert len(fake.requests) == 1


async def test_get_by_id_of_an_unknown_id_is_not_found(client: SchemaRegistryClient) -> None:
    with pytest.raises(RegistryError) as caught:
        await client.get_by_id(999)
    assert is_not_found(caught.value, SCHEMA_NOT_FOUND)


async def test_get_by_id_refuses_a_schema_that_is_not_avro(sleeps: Sleeps) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"})

    async with make_client(httpx.MockTransport(handler), sleeps) as client:
        with pytest.raises(RegistryError, match="PROTOBUF"):
            await client.get_by_id(7)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_answers_are_retried_with_backoff(
    client: SchemaRegistryClient, fake: FakeRegistry, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next = [httpx.Response(status, json={"error_code": 50001, "message": "busy"})] * 2
    assert await client.register("test.lgsp.Thing", SCHEMA) == 1
    assert len(fake.requests) == 3
    assert sleeps.delays == [0.1, 0.2]


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")],
    ids=["connect", "timeout", "protocol"],
)
async def test_transport_failures_become_retriable_unavailable_after_bounded_retries(
    client: SchemaRegistryClient, fake: FakeRegistry, sleeps: Sleeps, failure: Exception
) -> None:
    fake.fail_next = [failure] * 10
    with pytest.raises(RegistryUnavailableError) as caught:
        await client.get_by_id(1)
    assert caught.value.retriable
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert len(fake.requests) == 4  # 1 + max_retries (3)
    assert sleeps.delays == [0.1, 0.2, 0.4]


async def test_5xx_after_the_last_retry_keeps_status_and_code(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    fake.fail_next = [httpx.Response(503, json={"error_code": 50003, "message": "down"})] * 4
    with pytest.raises(RegistryUnavailableError) as caught:
        await client.list_subjects()
    assert (caught.value.status, caught.value.error_code) == (503, 50003)


async def test_client_errors_are_not_retried(client: SchemaRegistryClient, fake: FakeRegistry) -> None:
    fake.fail_next = [httpx.Response(422, json={"error_code": 42201, "message": "Invalid schema"})]
    with pytest.raises(RegistryError) as caught:
        await client.register("test.lgsp.Thing", SCHEMA)
    assert not isinstance(caught.value, RegistryUnavailableError)
    assert (caught.value.status, caught.value.error_code) == (422, 42201)
    assert "Invalid schema" in str(caught.value)
    assert len(fake.requests) == 1


async def test_an_error_without_a_json_body_is_still_mapped(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    fake.fail_next = [httpx.Response(401, text="<html>Unauthorized</html>")]
    with pytest.raises(RegistryError) as caught:
        await client.list_subjects()
    assert (caught.value.status, caught.value.error_code) == (401, None)


async def test_invalid_json_in_a_success_answer_is_a_registry_error(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    fake.fail_next = [httpx.Response(200, text="not json")]
    with pytest.raises(RegistryError, match="invalid JSON"):
        await client.list_subjects()


async def test_zero_retries_means_one_attempt(fake: FakeRegistry, sleeps: Sleeps) -> None:
    fake.fail_next = [httpx.ConnectError("refused")]
    async with make_client(fake.transport(), sleeps, max_retries=0) as client:
        with pytest.raises(RegistryUnavailableError):
            await client.list_subjects()
    assert (len(fake.requests), sleeps.delays) == (1, [])


async def test_basic_auth_comes_from_settings(fake: FakeRegistry, sleeps: Sleeps) -> None:
    async with make_client(fake.transport(), sleeps, username="lgsp", password=SecretStr("bí-mật")) as client:
        await client.list_subjects()
    expected = base64.b64encode("lgsp:bí-mật".encode()).decode()
    assert fake.requests[0].headers["authorization"] == f"Basic {expected}"


async def test_no_credentials_no_authorization_header(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    await client.list_subjects()
    assert "authorization" not in fake.requests[0].headers


async def test_compatibility_levels_round_trip(client: SchemaRegistryClient, fake: FakeRegistry) -> None:
    fake.add("test.lgsp.Thing", SCHEMA)
    assert await client.get_compatibility("test.lgsp.Thing") == "NONE"
    assert await client.set_compatibility("test.lgsp.Thing", "BACKWARD_TRANSITIVE") == "BACKWARD_TRANSITIVE"
    assert json.loads(fake.requests[-1].content) == {"compatibility": "BACKWARD_TRANSITIVE"}
    assert await client.get_compatibility("test.lgsp.Thing") == "BACKWARD_TRANSITIVE"


async def test_compatibility_of_an_unknown_subject_is_none(client: SchemaRegistryClient) -> None:
    assert await client.get_compatibility("test.lgsp.Nothing") is None


async def test_an_unknown_level_is_refused_before_any_request(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    with pytest.raises(RegistryError, match="SOMETIMES"):
        await client.set_compatibility("test.lgsp.Thing", "SOMETIMES")
    assert fake.requests == []


async def test_check_compatibility_returns_the_verdict(
    client: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    assert await client.check_compatibility("test.lgsp.Thing", SCHEMA) is True
    assert await client.check_compatibility("test.lgsp.Thing", {**SCHEMA, "doc": "incompatible"}) is False
    assert fake.requests[0].url.path.endswith("/compatibility/subjects/test.lgsp.Thing/versions/latest")


async def test_subjects_are_quoted_in_paths(client: SchemaRegistryClient, fake: FakeRegistry) -> None:
    with pytest.raises(RegistryError):
        await client.list_versions("a/b c")
    assert fake.requests[0].url.raw_path == b"/apis/ccompat/v7/subjects/a%2Fb%20c/versions"


async def test_list_subjects_and_versions(client: SchemaRegistryClient, fake: FakeRegistry) -> None:
    fake.add("test.lgsp.Thing", SCHEMA)
    fake.add("test.lgsp.Thing", {**SCHEMA, "doc": "v2"})
    assert await client.list_subjects() == ["test.lgsp.Thing"]
    assert await client.list_versions("test.lgsp.Thing") == [1, 2]


def write_record_versions(directory: Path) -> None:
    v1 = {
        "type": "record",
        "name": "Probe",
        "namespace": "test.lgsp",
        "fields": [{"name": "a", "type": "int"}],
    }
    v2 = {**v1, "fields": [*v1["fields"], {"name": "b", "type": ["null", "string"], "default": None}]}
    v3 = {**v2, "doc": "Bản ghi thử"}
    for number, schema in enumerate((v1, v2, v3), start=1):
        (directory / f"Probe.v{number}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    levels = {"default": "BACKWARD_TRANSITIVE", "records": {"test.lgsp.Probe": "FULL"}}
    (directory / "compatibility.json").write_text(json.dumps(levels), encoding="utf-8")


async def test_register_schemas_sets_the_level_first_then_versions_in_order(
    client: SchemaRegistryClient, fake: FakeRegistry, tmp_path: Path
) -> None:
    write_record_versions(tmp_path)
    (result,) = await register_schemas(client, ["Probe"], directory=tmp_path)
    assert (result.subject, result.level, result.in_order) == ("test.lgsp.Probe", "FULL", True)
    assert [(r.file_version, r.registered.version, r.created) for r in result.versions] == [
        (1, 1, True),
        (2, 2, True),
        (3, 3, True),
    ]
    assert fake.requests[0].method == "PUT"
    assert fake.subjects["test.lgsp.Probe"] == [
        schema_text(load_schema("Probe", v, tmp_path)) for v in (1, 2, 3)
    ]


async def test_register_schemas_is_idempotent(
    client: SchemaRegistryClient, fake: FakeRegistry, tmp_path: Path
) -> None:
    write_record_versions(tmp_path)
    first = await register_schemas(client, ["Probe"], directory=tmp_path)
    again = await register_schemas(client, ["Probe"], directory=tmp_path)
    assert [r.registered for r in again[0].versions] == [r.registered for r in first[0].versions]
    assert not any(r.created for r in again[0].versions)
    assert len(fake.subjects["test.lgsp.Probe"]) == 3


async def test_register_schemas_notices_versions_out_of_order(
    client: SchemaRegistryClient, fake: FakeRegistry, tmp_path: Path
) -> None:
    write_record_versions(tmp_path)
    fake.add("test.lgsp.Probe", load_schema("Probe", 2, tmp_path))  # someone auto-registered v2 first
    (result,) = await register_schemas(client, ["Probe"], directory=tmp_path)
    assert [r.registered.version for r in result.versions] == [2, 1, 3]
    assert not result.in_order


async def test_register_schemas_of_a_record_without_files_is_a_config_error(
    client: SchemaRegistryClient, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="Nothing"):
        await register_schemas(client, ["Nothing"], directory=tmp_path)


async def test_credentials_in_the_url_never_reach_messages(fake: FakeRegistry, sleeps: Sleeps) -> None:
    fake.fail_next = [httpx.Response(403, json={"error_code": 40301, "message": "denied"})]
    settings = RegistrySettings(url="http://lgsp:bi-mat@registry.test/apis/ccompat/v7/")
    async with SchemaRegistryClient(settings, transport=fake.transport(), sleep=sleeps) as client:
        assert client.url == "http://registry.test/apis/ccompat/v7"
        with pytest.raises(RegistryError) as caught:
            await client.list_subjects()
    assert "bi-mat" not in str(caught.value)
    assert fake.requests[0].headers["authorization"].startswith("Basic ")


def test_an_http_registry_costs_no_trust_store_and_an_https_one_keeps_httpx_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx loaded its CA bundle (30 ms of each process's start) for a registry reached over plain HTTP."""
    loaded: list[object] = []
    default_context = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        loaded.append(kwargs.get("cafile"))
        return default_context(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    SchemaRegistryClient(RegistrySettings(url="http://127.0.0.1:8081/apis/ccompat/v7"))
    assert loaded == []
    SchemaRegistryClient(RegistrySettings(url="https://registry.example/apis/ccompat/v7"))
    assert len(loaded) == 1  # certificates verified against httpx's bundle (or SSL_CERT_FILE)


def test_the_context_of_an_http_registry_trusts_no_one() -> None:
    """Were anything to reach TLS through it, no certificate would verify."""
    context = _verification(RegistrySettings(url="http://127.0.0.1:8081/apis/ccompat/v7"))
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.cert_store_stats()["x509_ca"] == 0
    assert _verification(RegistrySettings(url="HTTPS://registry.example/")) is True


def test_a_ca_file_with_an_http_registry_is_refused_naming_both_settings(tmp_path: Path) -> None:
    """It would be ignored: an operator who set it believes the registry's certificate is checked."""
    settings = RegistrySettings(url="http://127.0.0.1:8081/apis/ccompat/v7", ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(
        ConfigError, match="LGSP_REGISTRY__SSL_CAFILE is set but LGSP_REGISTRY__URL is not https"
    ):
        SchemaRegistryClient(settings)


def test_a_missing_ca_file_is_refused_when_the_client_is_built(tmp_path: Path) -> None:
    settings = RegistrySettings(
        url="https://registry.example/apis/ccompat/v7", ssl_cafile=tmp_path / "no.pem"
    )
    with pytest.raises(ConfigError, match="cannot build the schema registry TLS context"):
        SchemaRegistryClient(settings)


def test_an_https_registry_with_a_ca_file_checks_the_certificate_and_the_host_name(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path, host="127.0.0.1")
    context = _verification(
        RegistrySettings(url="https://127.0.0.1:8443/apis/ccompat/v7", ssl_cafile=files.ca_cert)
    )
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.cert_store_stats()["x509_ca"] == 1  # that CA, and only it


def test_a_child_given_the_registry_environment_gets_the_same_client(tmp_path: Path) -> None:
    """URL, CA file and credentials: a child of an https registry signed by a private CA must trust it too."""
    settings = RegistrySettings(
        url="https://registry.example/apis/ccompat/v7",
        ssl_cafile=tmp_path / "ca.pem",
        username="admin",
        password=SecretStr("s3cret"),
    )
    env = registry_environment(settings)
    assert env == {
        "LGSP_REGISTRY__URL": "https://registry.example/apis/ccompat/v7",
        "LGSP_REGISTRY__SSL_CAFILE": str(tmp_path / "ca.pem"),
        "LGSP_REGISTRY__USERNAME": "admin",
        "LGSP_REGISTRY__PASSWORD": "s3cret",
    }
    child = RegistrySettings.model_validate(
        {key.removeprefix("LGSP_REGISTRY__").lower(): v for key, v in env.items()}
    )
    assert child == settings
