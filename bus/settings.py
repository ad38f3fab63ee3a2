"""Settings by concern: environment variables with prefix ``LGSP_``, nested with ``__``.

Examples: ``LGSP_KAFKA__BOOTSTRAP_SERVERS``, ``LGSP_REGISTRY__URL``, ``LGSP_STORE__URL``,
``LGSP_VIEWS__GROUP_ID``. Secrets are ``SecretStr`` and never printed (see :func:`Settings.redacted`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home(kind: str) -> Path:
    return Path.home() / f".{kind}" / "lgsp"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "lgsp"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that signed the brokers' certificates; None: system CAs",
    )
    ssl_certfile: Path | None = Field(default=None, description="client certificate (PEM) for mutual TLS")
    ssl_keyfile: Path | None = Field(default=None, description="the client certificate's private key (PEM)")
    request_timeout_ms: int = Field(default=30_000, gt=0)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


class ProducerSettings(BaseModel):
    """Tuned for throughput with acks=all and the idempotent producer."""

    linger_ms: int = Field(default=10, ge=0)
    max_batch_size: int = Field(default=256 * 1024, gt=0, description="bytes per partition batch")
    compression_type: Literal["none", "gzip", "lz4", "zstd"] = "lz4"
    lz4_level: int = Field(
        default=1,
        ge=0,
        le=12,
        description="LZ4 frame compression level when compression_type is lz4: 0-2 fast, 3-12 high "
        "compression (Kafka's compression.lz4.level, KIP-390; aiokafka's and Kafka's default is 9). "
        "Applies to every producer of the process",
    )
    delivery_timeout_s: float = Field(
        default=30.0, gt=0, description="bound on retries before a publish fails"
    )
    max_request_size: int = Field(default=4 * 1024 * 1024, gt=0)


class RegistrySettings(BaseModel):
    url: str = Field(
        default="http://127.0.0.1:8081/apis/ccompat/v7",
        description="base URL of the Confluent-compatible API (Apicurio: .../apis/ccompat/v7)",
    )
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that signed an https registry's certificate (a private CA); None: "
        "the public CAs httpx trusts, or the file SSL_CERT_FILE names",
    )
    timeout_s: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=0.2, ge=0, description="first retry delay; doubles, capped at 5 s")
    auto_register: bool = Field(default=False, description="register unknown schemas when publishing")
    schema_cache_dir: Path | None = Field(
        default=None,
        description="keep schemas fetched by id in this directory: decoding survives a registry outage or a "
        "deleted subject (bus.schema_cache)",
    )


EVENT_TIME_AHEAD_S: Final = 300.0
"""How far an event's time may be ahead of the clock that receives it: the ingress's clock when it is
published over HTTP, the record's broker timestamp when the views apply it (clocks drift; a minute or
two of skew is normal, a day is a forged or broken clock)."""


class TopicSettings(BaseModel):
    prefix: str = Field(default="", description="prepended to every topic name; isolates tests and tenants")
    partitions: int = Field(default=6, gt=0)
    replication_factor: int | None = Field(
        default=None,
        gt=0,
        description="None: the cluster's default.replication.factor (bus.cluster_defaults)",
    )
    min_insync_replicas: int | None = Field(
        default=None, gt=0, description="None: the cluster's min.insync.replicas, at most the replicas"
    )
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, description="-1 keeps events forever")
    dlq_partitions: int = Field(default=1, gt=0)
    dlq_retention_ms: int = Field(default=30 * 24 * 3600 * 1000)


class StoreSettings(BaseModel):
    url: str = Field(default="sqlite:///lgsp-views.db", description="sqlite:///path or postgresql://...")


class ViewsSettings(BaseModel):
    group_id: str = "lgsp-views"
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    max_batch_records: int = Field(default=5000, gt=0)
    stale_after_s: float = Field(
        default=300.0,
        gt=0,
        description="`/readyz` of `views serve` says stale after this long without a commit",
    )
    poll_timeout_ms: int = Field(default=500, gt=0)
    document_sla_hours: float = Field(
        default=24.0, gt=0, description="a document not arrived after this is late"
    )
    decode_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "processes decoding and checking records (Avro, the contract, the views' signature check against "
            "the keyring, the event-time window, the report ranges) while the builder applies; 0: in process"
        ),
    )
    freshness_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="how often views serve measures how far the store is behind the topics (below the scrape "
        "interval, far below the 2-minute freshness objective)",
    )
    require_signatures: bool = Field(
        default=True,
        description="apply only records whose lgsp_sig verifies against the keyring (docs/security.md)",
    )
    max_future_s: float | None = Field(
        default=EVENT_TIME_AHEAD_S,
        ge=0,
        description="an event whose time is more than this ahead of its record's broker timestamp is "
        "dead-lettered (time.future); None: off (replays of simulated traffic whose clock runs ahead)",
    )
    obligations_since: date | None = Field(
        default=None,
        description="report obligations are counted from this date (reporting's go-live on the bus); "
        "None: from the earliest event time the views applied",
    )
    obligations_max_days: int = Field(
        default=3 * 366,
        gt=0,
        description="report obligations are counted over at most this many days before as-of (one event "
        "with a very old time cannot widen the window to decades)",
    )
    unsigned_sources: list[str] = Field(
        default_factory=list,
        description="during a migration: sources whose unsigned records are still applied (and counted)",
    )


class SigningSettings(BaseModel):
    """The key an SDK publisher signs with (docs/security.md). The private key file must be mode 0600."""

    key_file: Path | None = Field(default=None, description="PEM (PKCS#8) Ed25519 private key of the agency")
    key_id: str | None = Field(default=None, description="its key id in the keyring (`AGENCY#hex`)")
    key_dir: Path | None = Field(
        default=None,
        description="a directory of `<key id>.pem` files: tools publishing for many agencies (simulator, "
        "demo, tests) sign each event with the key of its source",
    )


class AuditSettings(BaseModel):
    """The ingress's audit trail on ``lgsp.audit`` (docs/operators.md, "The audit trail")."""

    enabled: bool = Field(default=True, description="append every publish and refusal to lgsp.audit")
    queue_max: int = Field(
        default=10_000,
        gt=0,
        description="audit records waiting to be sent; beyond it they are dropped (counted)",
    )
    batch_max: int = Field(default=500, gt=0, description="audit records sent to Kafka at once")
    flush_interval_s: float = Field(default=0.2, gt=0, description="how long a record may wait for a batch")
    retention_days: int = Field(
        default=400, gt=0, description="retention.ms of lgsp.audit when the ingress creates it"
    )


class IngressSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys_file: Path = Field(default=Path("ingress-keys.json"))
    max_batch_events: int = Field(default=1000, gt=0)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_in_flight: int = Field(
        default=64,
        gt=0,
        description="requests being read, validated or published at once (per worker) before 429",
    )
    max_in_flight_per_key: int = Field(
        default=8, gt=0, description="requests of one agency (all its keys) in flight at once before 429"
    )
    rate_per_key: float = Field(default=200.0, gt=0, description="requests/s of one agency on average")
    burst_per_key: int = Field(default=400, gt=0, description="requests one agency may send in a burst")
    body_timeout_s: float = Field(default=10.0, gt=0, description="time to receive a whole body before 408")
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="time to receive the headers, else closed"
    )
    max_header_bytes: int = Field(default=16 * 1024, gt=0, description="request line + headers, else 431")
    max_headers: int = Field(default=64, gt=0, description="header fields per request, else 431")
    max_connections: int = Field(default=1024, gt=0, description="open connections (per worker), else 503")
    max_future_s: float = Field(
        default=EVENT_TIME_AHEAD_S,
        ge=0,
        description="an event's time may be at most this far ahead of the ingress's clock",
    )
    max_past_s: float | None = Field(
        default=None, gt=0, description="an event's time at most this far back; None: any the contract allows"
    )
    event_time_window: bool = Field(
        default=True,
        description="false accepts any event time the contract allows (replays of simulated traffic whose "
        "clock runs ahead of the wall clock)",
    )
    portal_local_times: bool = Field(
        default=False,
        description="accept the portal's local yyyyMMddHHmmss times (Asia/Ho_Chi_Minh) in DossierSynced "
        "received_at/due_at/finished_at/returned_at, converted to UTC (bus/portal_time.py)",
    )
    ssl_certfile: Path | None = Field(default=None, description="serve HTTPS with this certificate (PEM)")
    ssl_keyfile: Path | None = Field(default=None, description="the certificate's private key (PEM)")
    retry_after_s: int = Field(default=2, gt=0)
    workers: int = Field(
        default=1,
        ge=0,
        description="uvicorn worker processes sharing the port, each with its own Publisher; 0: one per CPU",
    )


class SimulatorSettings(BaseModel):
    metrics_host: str = Field(default="127.0.0.1", description="address `lgsp simulate` serves /metrics on")
    metrics_port: int = Field(default=9101, ge=0, le=65535)


class DevSettings(BaseModel):
    """The local stack launched by ``lgsp dev``: real Kafka (KRaft) and Apicurio Registry, no Docker."""

    state_dir: Path = Field(default_factory=lambda: _default_home("local/state"))
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "lgsp")
    host: str = "127.0.0.1"
    kafka_port: int = Field(default=9092, ge=0, le=65535)
    controller_port: int = Field(default=9093, ge=0, le=65535)
    registry_port: int = Field(default=8081, ge=0, le=65535)
    postgres_port: int = Field(default=5432, ge=0, le=65535, description="`lgsp dev up --postgres`")
    kafka_version: str = "4.1.1"
    registry_version: str = "3.0.9"
    kafka_heap: str = "1g"
    registry_heap: str = "512m"
    start_timeout_s: float = Field(default=120.0, gt=0)
    stop_timeout_s: float = Field(default=30.0, gt=0, description="SIGTERM, then SIGKILL after this long")
    java: str = Field(default="java", description="the java command (or its path); Java 17+")
    mvn: str = Field(default="mvn", description="the Maven command (or its path); only needed to fetch jars")
    maven_repo: Path | None = Field(default=None, description="Maven local repository; None: Maven's default")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LGSP_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    views: ViewsSettings = Field(default_factory=ViewsSettings)
    ingress: IngressSettings = Field(default_factory=IngressSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    dev: DevSettings = Field(default_factory=DevSettings)

    def redacted(self) -> dict[str, Any]:
        """Settings as a JSON-able dict with every secret shown as ``**********``."""
        return self.model_dump(mode="json")
