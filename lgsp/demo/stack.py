"""The demo's first steps: Kafka and the registry, the topics, the schemas, an ingress key and a sample event.

Topics and schemas are set up in this process with the same library calls as ``lgsp topics create`` and
``lgsp schemas register`` (both idempotent), which saves two interpreter start-ups.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bus.cloudevents import format_time
from bus.errors import DevStackError
from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import DevSettings, Settings
from bus.topics import TopicStatus, ensure_topics_report
from lgsp.demo.options import DEMO_AGENCY, DemoPaths
from lgsp.devstack import DevStack, artifacts
from lgsp.devstack.secure import write_admin_env
from producers.ingress.auth import ApiKeyStore
from producers.simulate import DEFAULT_START

Say = Callable[[str], None]


def start_dev_stack(
    settings: Settings, ports: Mapping[str, int | None], say: Say, *, secure: bool = False
) -> Settings:
    """Start the local stack (reused when up; jars fetched on first use); ``settings`` pointing at it, as
    its admin (Kafka and registry) when ``secure``."""
    given = {key: value for key, value in ports.items() if value is not None}
    dev = DevSettings.model_validate({**settings.dev.model_dump(), **given})
    stack = DevStack(dev)
    if not artifacts.is_cached(dev):
        say(
            f"first run: fetching Kafka {dev.kafka_version} and Apicurio Registry {dev.registry_version} "
            f"from Maven Central with Maven into {dev.cache_dir} (about 170 MB, once; a few minutes)"
        )
        for item in stack.fetch():
            say(f"  {item.name}: {'downloaded' if item.downloaded else 'cached'} {item.path}")
    status = stack.status()
    layout = stack.layout
    mode = "secure " if secure else ""
    if status.ready and layout is not None and layout.secure == secure:
        say(f"reusing the {mode}local stack that is already running (`lgsp dev status`)")
    else:
        flag = " --secure" if secure else ""
        say(
            f"starting the {mode}local stack: Kafka (KRaft) and Apicurio Registry, JVMs on loopback "
            f"(`lgsp dev up{flag}`)"
        )
        status = stack.up(secure=secure)
    if status.bootstrap_servers is None or status.registry_url is None:
        raise DevStackError(
            f"the local stack in {dev.state_dir} runs without its registry; `lgsp dev down` first"
        )
    say(f"Kafka {status.bootstrap_servers}, registry {status.registry_url} (state: {dev.state_dir})")
    # Plain: the bootstrap servers and the URL; secure: also the admin's TLS, SCRAM and registry credentials.
    admin, registry_admin = stack.admin_settings(), stack.registry_admin_settings()
    if secure:
        write_admin_env(dev.state_dir, admin, registry_admin)  # as `lgsp dev up --secure` does
    kafka = admin.model_dump(exclude_unset=True)
    registry = registry_admin.model_dump(exclude_unset=True)
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update=kafka),
            "registry": settings.registry.model_copy(update=registry),
            "dev": dev,
        }
    )


@dataclass(frozen=True)
class Provisioned:
    """What the topic and schema steps did."""

    topics: tuple[str, ...]
    topics_created: int
    subjects: int
    versions: int
    versions_created: int


def provision(settings: Settings) -> Provisioned:
    """Create the topics and register every schema version (both idempotent)."""
    return asyncio.run(_provision(settings))


async def _provision(settings: Settings) -> Provisioned:
    outcomes = await ensure_topics_report(settings)
    async with SchemaRegistryClient(settings.registry) as client:
        subjects = await register_schemas(client, sorted(EVENT_TYPES))
    versions = [item for subject in subjects for item in subject.versions]
    return Provisioned(
        topics=tuple(o.plan.name for o in outcomes),
        topics_created=sum(o.status is TopicStatus.CREATED for o in outcomes),
        subjects=len(subjects),
        versions=len(versions),
        versions_created=sum(item.created for item in versions),
    )


def issue_demo_key(paths: DemoPaths) -> str:
    """A fresh ingress key for the demo agency (replacing the previous demo's), kept in clear for the user."""
    store = ApiKeyStore.load_or_empty(paths.keys_file)
    token = store.add_key(DEMO_AGENCY)
    store.save(paths.keys_file)
    _write_private(paths.key_file, token + "\n")
    return token


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write_sample_event(path: Path, event_id: str) -> Path:
    """A valid ``DossierSynced`` CloudEvent from the demo agency, to post to the ingress with curl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(sample_dossier(event_id), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return path


def sample_dossier(event_id: str, received: datetime = DEFAULT_START + timedelta(hours=9)) -> dict[str, Any]:
    """A birth registration dossier received online in Hồ Chí Minh City and resolved on time."""
    finished = received + timedelta(days=2)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": DEMO_AGENCY,
        "type": "vn.gov.lgsp.dossier.DossierSynced",
        "time": format_time(finished),
        "datacontenttype": "application/json",
        "data": {
            "dossier_code": "000.00.00.H29-250701-900001",
            "procedure_code": "1.000494.000.00.00.H29",
            "procedure_name": "Đăng ký khai sinh có yếu tố nước ngoài",
            "sector_code": "HT",
            "sector_name": "Hộ tịch",
            "processing_agency": {"code": DEMO_AGENCY, "name": "Ủy ban nhân dân Thành phố Hồ Chí Minh"},
            "province_code": "79",
            "applicant_type": "CITIZEN",
            "channel": "ONLINE",
            "online_level": "FULL",
            "status": "RESOLVED",
            "received_at": format_time(received),
            "due_at": format_time(received + timedelta(days=5)),
            "finished_at": format_time(finished),
            "fees_paid_online": True,
            "digitised": True,
            "version": 1,
            "result_digitised": True,
        },
    }
