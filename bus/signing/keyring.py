"""The keyring: public keys the views trust, on the compacted topic ``lgsp.keys`` (key id -> entry JSON).

Only ``lgsp agencies keys add | revoke`` write it (and onboarding tools through :func:`publish_entry`); with
the secure stack its ACLs let only the admin write it. Readers load the whole topic (compaction keeps the
latest entry per key id) and can :meth:`KeyringReader.refresh` to pick up new keys and revocations.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bus.cluster_defaults import cluster_defaults
from bus.errors import BrokerUnavailableError, ConfigError
from bus.kafka_client import connection_kwargs
from bus.settings import Settings
from bus.signing.keys import KeyEntry, Role, create_agency_key, now_ms
from bus.topics import admin_kwargs, replication

log = logging.getLogger(__name__)

KEYS_TOPIC: Final = "lgsp.keys"
_READ_TIMEOUT_MS: Final = 1000
_FETCH_WAIT_MS: Final = 50
"""The broker answers a request of one connection only after the one before it: a long-polling fetch of the
caught-up keyring held every refresh's end-offset request for the fetch's whole wait (500 ms, each batch of
the views). The reader pauses its partition when caught up; this bounds a fetch still in flight."""
_TOPIC_ALREADY_EXISTS: Final = 36


def keys_topic(settings: Settings) -> str:
    """The real keyring topic (the settings' topic prefix + ``lgsp.keys``)."""
    return settings.topics.prefix + KEYS_TOPIC


class Keyring:
    """Key entries by key id (the latest entry of each id wins, as compaction keeps it)."""

    def __init__(self, entries: Iterable[KeyEntry] = ()) -> None:
        self._entries: dict[str, KeyEntry] = {e.key_id: e for e in entries}
        self.version = 0
        """Changes whenever an entry does (a copy elsewhere, in a decode worker, knows when to renew)."""

    def get(self, key_id: str) -> KeyEntry | None:
        return self._entries.get(key_id)

    def put(self, entry: KeyEntry) -> None:
        if self._entries.get(entry.key_id) != entry:
            self._entries[entry.key_id] = entry
            self.version += 1

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.agency, e.valid_from_ms, e.key_id)))

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self) -> Mapping[str, KeyEntry]:
        return dict(self._entries)


async def ensure_keys_topic(settings: Settings) -> None:
    """Create the compacted keyring topic if it is missing (one partition: a total order of changes)."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    try:
        await admin.start()
        # Look before creating: on the secure bus a principal without Create (the views) is answered
        # TOPIC_AUTHORIZATION_FAILED, not TOPIC_ALREADY_EXISTS, for a topic that exists.
        if keys_topic(settings) in await admin.list_topics():
            return
        cluster = await cluster_defaults(admin)
        replicas, min_isr = replication(settings.topics, cluster)
        configs = {"cleanup.policy": "compact", "min.insync.replicas": min_isr}
        topic = NewTopic(keys_topic(settings), 1, replicas, topic_configs=configs)
        response = await admin.create_topics([topic], timeout_ms=settings.kafka.request_timeout_ms)
        for name, error_code, *rest in response.topic_errors:
            if error_code not in (0, _TOPIC_ALREADY_EXISTS):  # idempotent
                raise BrokerUnavailableError(f"could not create {name}: error {error_code} {rest}")
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot create the keyring topic: {exc!r}") from exc
    finally:
        await admin.close()


async def publish_entry(settings: Settings, entry: KeyEntry) -> None:
    """Write ``entry`` to the keyring topic (acks=all), creating the topic if needed."""
    await publish_entries(settings, [entry])


async def publish_entries(settings: Settings, entries: Sequence[KeyEntry]) -> None:
    """Write ``entries`` to the keyring topic in order (acks=all), creating the topic if needed."""
    await ensure_keys_topic(settings)
    producer = AIOKafkaProducer(**connection_kwargs(settings.kafka), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        for entry in entries:
            value = json.dumps(entry.to_json(), sort_keys=True).encode()
            await producer.send_and_wait(keys_topic(settings), value, key=entry.key_id.encode())
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot write to the keyring topic: {exc!r}") from exc
    finally:
        await producer.stop()


class KeyringReader:
    """Reads the keyring topic to its end; :meth:`refresh` reads what was added since."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._partition = TopicPartition(keys_topic(settings), 0)
        self.keyring = Keyring()

    async def start(self) -> Keyring:
        await ensure_keys_topic(self._settings)
        consumer = AIOKafkaConsumer(
            **connection_kwargs(self._settings.kafka),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=_FETCH_WAIT_MS,
        )
        try:
            await consumer.start()
            consumer.assign([self._partition])
            consumer.pause(self._partition)  # fetched only while a refresh reads (see _FETCH_WAIT_MS)
            await consumer.seek_to_beginning(self._partition)
        except KafkaError as exc:
            await consumer.stop()
            raise BrokerUnavailableError(f"cannot read the keyring topic: {exc!r}") from exc
        self._consumer = consumer
        await self.refresh()
        return self.keyring

    async def refresh(self) -> Keyring:
        """Apply every entry written since the last read (up to the end offset now)."""
        consumer = self._consumer
        if consumer is None:
            raise ConfigError("the keyring reader is not started")
        try:
            end = (await consumer.end_offsets([self._partition]))[self._partition]
            if await consumer.position(self._partition) < end:
                consumer.resume(self._partition)
                try:
                    while await consumer.position(self._partition) < end:
                        fetched = await consumer.getmany(self._partition, timeout_ms=_READ_TIMEOUT_MS)
                        for record in fetched.get(self._partition, []):
                            entry = _entry(record.value)
                            if entry is not None:
                                self.keyring.put(entry)
                finally:
                    consumer.pause(self._partition)
        except KafkaError as exc:
            # Kafka is down (the batch in hand was fetched before): keep the keys read so far rather than stop
            # the views; the next batch reads on. A record signed by a key added meanwhile is a dead letter
            # (signer.unknown) that `lgsp dlq replay` brings back.
            log.warning(
                "keyring: cannot read %s, keeping the %d keys read so far: %r",
                self._partition.topic,
                len(self.keyring),
                exc,
            )
        return self.keyring

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


async def load_keyring(settings: Settings) -> Keyring:
    """The whole keyring, read once."""
    reader = KeyringReader(settings)
    try:
        return await reader.start()
    finally:
        await reader.close()


def _entry(value: bytes | None) -> KeyEntry | None:
    # A malformed value on the keyring is skipped: only admins write it, and one typo must not stop the views.
    if value is None:
        return None
    try:
        raw: Any = json.loads(value)
        return KeyEntry.from_json(raw)
    except (ValueError, ConfigError):
        return None


def create_keys(key_dir: Path, agencies: Iterable[str]) -> list[KeyEntry]:
    """A new key in ``key_dir`` for each agency (the demo, the test stacks: tools that publish for many
    agencies); publish the returned entries with :func:`publish_entries`."""
    return [create_agency_key(agency, key_dir).entry for agency in agencies]


async def ensure_keys(
    settings: Settings, key_dir: Path, agencies: Iterable[str], *, role: Role = "agency"
) -> tuple[list[KeyEntry], list[KeyEntry]]:
    """``(kept, made)``: one usable key of ``role`` per agency in ``key_dir`` and on the keyring, for stacks
    started again and again (docker compose's init). A key of ``key_dir`` the keyring does not hold usable
    (a new Kafka volume, a revocation) is deleted and replaced; nothing else is touched."""
    keyring = await load_keyring(settings)
    kept, made = await asyncio.to_thread(_settle_keys, keyring, key_dir, list(dict.fromkeys(agencies)), role)
    await publish_entries(settings, made)
    return kept, made


def _settle_keys(
    keyring: Keyring, key_dir: Path, wanted: list[str], role: Role
) -> tuple[list[KeyEntry], list[KeyEntry]]:
    now = now_ms()
    have: dict[str, KeyEntry] = {}
    for path in sorted(key_dir.glob("*.pem")) if key_dir.is_dir() else ():
        entry = keyring.get(path.stem)
        usable = entry is not None and entry.role == role and entry.usable_at(now)
        if entry is not None and usable and entry.agency in wanted and entry.agency not in have:
            have[entry.agency] = entry
        else:
            path.unlink()
    made = [create_agency_key(a, key_dir, role=role).entry for a in wanted if a not in have]
    return [have[a] for a in wanted if a in have], made
