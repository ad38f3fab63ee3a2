"""docker-compose.yml, the Dockerfile and .dockerignore, validated as far as a machine without Docker allows.

The compose file against the Compose Specification's JSON schema (vendored: tests/data/compose-spec.json, from
compose-spec/compose-spec schema/compose-spec.json); every file it references exists; every bus service runs
a real ``lgsp`` subcommand with real options; every ``LGSP_`` variable is a real setting; ports stay on
loopback; health checks and ``depends_on`` conditions fit together.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from bus.settings import Settings
from lgsp.devstack.secure_registry import REGISTRY_ADMIN, SECURE_REGISTRY_PROPERTIES
from tests.prometheus_harness import PROMETHEUS_DIR, REPO

pytestmark = pytest.mark.unit

COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA_FILE = REPO / "tests" / "data" / "compose-spec.json"
DOCKERFILE = REPO / "Dockerfile"
BUS_SERVICES = ("init", "ingress", "simulator", "views-run", "views-serve")


@cache
def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))


def _services() -> dict[str, dict[str, Any]]:
    return dict(_compose()["services"])


def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _lgsp_invocations(service: dict[str, Any]) -> list[list[str]]:
    """The ``lgsp`` argument lists a service runs: its command after the image's ``lgsp`` entrypoint, or each
    ``lgsp ...`` step of a shell command."""
    command = service.get("command") or []
    entrypoint = service.get("entrypoint")
    if entrypoint is None:
        return [list(command)]
    if entrypoint[0] in {"/bin/sh", "sh", "/bin/bash", "bash"}:
        script = " ".join(command)
        steps = [shlex.split(step) for step in re.split(r"&&|;|\|\|", script)]
        return [step[1:] for step in steps if step and step[0] == "lgsp"]
    raise AssertionError(f"unexpected entrypoint {entrypoint}")


def _invocations() -> list[tuple[str, list[str]]]:
    return [(name, args) for name in BUS_SERVICES for args in _lgsp_invocations(_services()[name])]


def _subcommand(args: list[str]) -> list[str]:
    path = []
    for arg in args:
        if arg.startswith("-"):
            break
        path.append(arg)
    return path


def test_compose_file_validates_against_the_compose_specification_schema() -> None:
    jsonschema.Draft7Validator.check_schema(_schema())
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_is_strict_enough_to_catch_mistakes() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["ingress"]["depends_on"]["init"]["condition"] = "service_done"
    broken["services"]["grafana"]["helthcheck"] = {}
    errors = list(jsonschema.Draft7Validator(_schema()).iter_errors(broken))
    assert len(errors) >= 2


def test_every_part_of_the_bus_is_a_service() -> None:
    services = _services()
    assert set(services) >= {"kafka", "registry", *BUS_SERVICES, "prometheus", "grafana"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["registry"]["image"] == "apicurio/apicurio-registry:3.0.9"


def test_images_are_pinned() -> None:
    for name, service in _services().items():
        image = service.get("image", "")
        if "build" not in service:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: pin a tag"
            assert not image.endswith(":latest"), f"{name}: pin a version, not latest"


def test_bus_services_build_the_project_image_from_the_dockerfile() -> None:
    for name in BUS_SERVICES:
        build = _services()[name]["build"]
        assert (REPO / build["context"]).resolve() == REPO, name
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_every_bind_mounted_file_exists() -> None:
    mounts = [
        (name, volume.split(":")[0])
        for name, service in _services().items()
        for volume in service.get("volumes", [])
        if volume.startswith(("./", "../", "/"))
    ]
    assert mounts, "Prometheus and Grafana mount their configuration from deploy/"
    for name, source in mounts:
        assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"


def test_mounted_prometheus_config_and_rules_are_the_ones_in_deploy() -> None:
    prometheus = _services()["prometheus"]
    config_flag = next(arg for arg in prometheus["command"] if arg.startswith("--config.file="))
    config_path = config_flag.split("=", 1)[1]
    mounted = dict(
        reversed(volume.split(":")[:2]) for volume in prometheus["volumes"] if volume.startswith("./")
    )
    assert mounted[config_path] == "./deploy/prometheus/prometheus.yml"
    rules_dir = str(Path(config_path).parent / "rules")
    assert mounted[rules_dir] == "./deploy/prometheus/rules"


def test_dockerfile_installs_the_project_on_python_311_slim_with_lgsp_as_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["lgsp"\]$', text, re.M)
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in ignored if line and not line.startswith("#")]
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for item in source.split():
            assert (REPO / item).exists(), f"COPY {item}: no such file"
            assert not any(fnmatch.fnmatch(item, pattern) for pattern in patterns), f"{item} is dockerignored"


def test_every_volume_of_a_bus_service_is_mounted_where_the_image_gives_lgsp_a_directory() -> None:
    """A new named volume takes the owner of the image's directory it is mounted on; a directory the image
    lacks is root's, and the services run as the lgsp user."""
    text = DOCKERFILE.read_text()
    home = re.search(r"--home-dir (\S+) --create-home lgsp", text)
    assert home is not None
    owned = {
        home[1],
        *(
            path
            for line in re.findall(r"install -d -o lgsp -g lgsp ([^&\n]+)", text)
            for path in line.split()
        ),
    }
    for name in BUS_SERVICES:
        for volume in _services()[name].get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source in _compose()["volumes"]:
                assert target in owned, (
                    f"{name}: volume {source} on {target}, which the image does not make for lgsp"
                )


@pytest.mark.parametrize(
    ("service", "args"),
    _invocations(),
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_every_service_command_is_a_real_lgsp_subcommand(service: str, args: list[str]) -> None:
    from lgsp.cli import app  # imported here: a command module that fails to import fails this test only

    path = _subcommand(args)
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{service}: `lgsp {' '.join(path)} --help` failed:\n{result.output}"
    command = _click_command(typer.main.get_command(app), path)
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    used = {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}
    assert used <= known, f"{service}: `lgsp {' '.join(path)}` has no option {sorted(used - known)}"


def test_the_init_service_creates_topics_registers_schemas_and_makes_the_signing_keys() -> None:
    assert [_subcommand(args) for args in _lgsp_invocations(_services()["init"])] == [
        ["topics", "create"],
        ["schemas", "register"],
        ["agencies", "keys", "stack"],
    ]
    assert _services()["init"]["restart"] == "no"


def test_the_publishers_sign_with_the_keys_init_made() -> None:
    # The views apply only signed records (LGSP_VIEWS__REQUIRE_SIGNATURES defaults to true): an unsigned
    # simulator or ingress would see every record dead-lettered (signature.missing).
    services = _services()
    (out,) = [
        args[args.index("--out") + 1] for args in _lgsp_invocations(services["init"]) if "--out" in args
    ]
    volume = next(v.split(":")[0] for v in services["init"]["volumes"] if v.split(":")[1] == out)
    for service, directory in (("simulator", "simulator"), ("ingress", "ingress")):
        assert services[service]["environment"]["LGSP_SIGNING__KEY_DIR"] == f"{out}/{directory}"
        assert f"{volume}:{out}:ro" in services[service]["volumes"]
    assert "LGSP_VIEWS__REQUIRE_SIGNATURES" not in services["views-run"]["environment"]


@pytest.mark.parametrize("service", BUS_SERVICES)
def test_every_lgsp_variable_is_a_real_setting(service: str) -> None:
    environment = _services()[service]["environment"]
    names = [name for name in environment if name.startswith("LGSP_")]
    assert "LGSP_KAFKA__BOOTSTRAP_SERVERS" in names
    assert "LGSP_REGISTRY__URL" in names
    for name in names:
        model: type[BaseModel] = Settings
        *sections, field = name.removeprefix("LGSP_").lower().split("__")
        for section in sections:
            annotation = model.model_fields[section].annotation
            assert isinstance(annotation, type), f"{name}: {section} is not a settings section"
            assert issubclass(annotation, BaseModel), f"{name}: {section} is not a settings section"
            model = annotation
        assert field in model.model_fields, f"{name} is not a setting (bus/settings.py)"
    Settings.model_validate(_nested(environment))


def _quarkus_variable(name: str) -> str:
    """The environment variable Quarkus (SmallRye Config) reads as property ``name``."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def test_the_registry_is_write_protected_like_the_secure_dev_stack() -> None:
    environment = _services()["registry"]["environment"]
    expected = {_quarkus_variable(key): value for key, value in SECURE_REGISTRY_PROPERTIES.items()}
    assert {key: environment.get(key) for key in expected} == expected
    password = environment[_quarkus_variable(f"quarkus.security.users.embedded.users.{REGISTRY_ADMIN}")]
    assert re.fullmatch(r"\$\{LGSP_REGISTRY_ADMIN_PASSWORD:\?[^}]+\}", password), "no default password"
    writers = [name for name in BUS_SERVICES if "LGSP_REGISTRY__PASSWORD" in _services()[name]["environment"]]
    assert writers == ["init"]  # it registers the schemas; every other service only reads
    init = _services()["init"]["environment"]
    assert init["LGSP_REGISTRY__USERNAME"] == REGISTRY_ADMIN
    assert init["LGSP_REGISTRY__PASSWORD"] == password


def test_published_ports_are_on_loopback_only() -> None:
    for name, service in _services().items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use HOST_IP:HOST:CONTAINER strings"
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_health_checks_and_dependency_conditions_fit_together() -> None:
    services = _services()
    for name, service in services.items():
        if name != "init":
            assert "healthcheck" in service, f"{name}: a long-running service needs a health check"
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy"
            if spec["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is one-shot"
    for name in ("ingress", "simulator", "views-run"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["init"]["depends_on"]["registry"]["condition"] == "service_healthy"
    for name in ("views-run", "views-serve"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_views_share_one_postgresql_with_a_volume() -> None:
    services = _services()
    url = services["views-run"]["environment"]["LGSP_STORE__URL"]
    assert url.startswith("postgresql://")
    assert "@postgres:5432/" in url
    assert services["views-serve"]["environment"]["LGSP_STORE__URL"] == url
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-data" in _compose()["volumes"]
    assert not any("views-data" in str(volume) for s in services.values() for volume in s.get("volumes", []))


def test_prometheus_scrapes_the_compose_services_where_they_listen() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    listening = {
        "ingress": _services()["ingress"]["environment"]["LGSP_INGRESS__PORT"],
        "views-serve": _services()["views-serve"]["environment"]["LGSP_VIEWS__PORT"],
        "views-run": _option(_services()["views-run"]["command"], "--metrics-port"),
        "simulator": _option(_services()["simulator"]["command"], "--metrics-port"),
    }
    expected = {
        "lgsp-ingress": f"ingress:{listening['ingress']}",
        "lgsp-views-api": f"views-serve:{listening['views-serve']}",
        "lgsp-views-builder": f"views-run:{listening['views-run']}",
        "lgsp-simulator": f"simulator:{listening['simulator']}",
    }
    assert {job: targets[job] for job in expected} == expected


def _click_command(command: Any, path: list[str]) -> Any:
    """The (typer-vendored) click command at ``path``: typer groups keep subcommands in ``commands``."""
    for name in path:
        subcommands = getattr(command, "commands", {})
        assert name in subcommands, f"`{command.name}` has no subcommand {name}"
        command = subcommands[name]
    return command


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _nested(environment: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name, value in environment.items():
        if name.startswith("LGSP_"):
            *sections, field = name.removeprefix("LGSP_").lower().split("__")
            node = settings
            for section in sections:
                node = node.setdefault(section, {})
            node[field] = value
    return settings


def test_the_kafka_ui_is_a_read_only_tool_on_the_registry_ccompat_api() -> None:
    """kafbat UI (`--profile tools`) browses the topics decoded, through the registry's ccompat API."""
    services = _services()
    ui = services["kafka-ui"]
    assert ui["image"].startswith("ghcr.io/kafbat/kafka-ui:")
    assert ui["profiles"] == ["tools"]
    env = ui["environment"]
    bus_env = _compose()["x-lgsp-env"]
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == bus_env["LGSP_KAFKA__BOOTSTRAP_SERVERS"]
    assert env["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"] == bus_env["LGSP_REGISTRY__URL"]
    assert env["KAFKA_CLUSTERS_0_READONLY"] == "true"
    assert all("profiles" not in services[name] for name in BUS_SERVICES)
