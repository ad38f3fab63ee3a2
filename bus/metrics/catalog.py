"""Every metric of the bus, declared once as a :class:`~bus.metrics.spec.MetricSpec`, grouped by process.

A new metric is one spec here plus its place in a container (``bus.metrics.containers``); ``docs/metrics.md``
is regenerated from the catalog (``python -m bus.metrics > docs/metrics.md``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from bus.kpis import KPI_BY_GAUGE
from bus.metrics.spec import (
    BATCH_BUCKETS,
    BATCH_RECORDS_BUCKETS,
    BUSINESS_LAG_BUCKETS,
    EVENT_AGE_BUCKETS,
    LATENCY_BUCKETS,
    Kind,
    MetricSpec,
)

# --- Publishing: bus.Publisher (used by lgsp publish, lgsp ingress, lgsp simulate) -------------------------

EVENTS_PUBLISHED = MetricSpec(
    "lgsp_events_published_total",
    Kind.COUNTER,
    "Events acknowledged by Kafka (acks=all), by topic and CloudEvents type.",
    "How many events of each type reach each topic, and at what rate?",
    ("topic", "type"),
)
PUBLISH_ERRORS = MetricSpec(
    "lgsp_publish_errors_total",
    Kind.COUNTER,
    "Events not confirmed by Kafka within the delivery timeout, by topic and reason (timeout, unavailable, "
    "rejected).",
    "Are publishers losing events to the broker, and why?",
    ("topic", "reason"),
)
PUBLISH_DURATION = MetricSpec(
    "lgsp_publish_duration_seconds",
    Kind.HISTOGRAM,
    "Time from a publish call (one event or a batch) to Kafka's acknowledgement of all its events.",
    "How long does a publisher wait for the bus to take its events?",
    buckets=LATENCY_BUCKETS,
)

# --- HTTP ingress: lgsp ingress -----------------------------------------------------------------------------

INGRESS_REQUESTS = MetricSpec(
    "lgsp_ingress_requests_total",
    Kind.COUNTER,
    "HTTP requests answered by the ingress, by route template and status code.",
    "How much traffic do agency systems send, and how much of it fails (4xx theirs, 5xx ours)?",
    ("route", "status"),
)
INGRESS_DURATION = MetricSpec(
    "lgsp_ingress_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time to answer an HTTP request, by route template (202 only after Kafka acknowledged).",
    "What latency do agency systems see, per route?",
    ("route",),
    LATENCY_BUCKETS,
)
INGRESS_IN_FLIGHT = MetricSpec(
    "lgsp_ingress_in_flight_requests",
    Kind.GAUGE,
    "HTTP requests being processed right now (429 above LGSP_INGRESS__MAX_IN_FLIGHT).",
    "Is the ingress saturated?",
)

INGRESS_KEY_FILE_OK = MetricSpec(
    "lgsp_ingress_key_file_ok",
    Kind.GAUGE,
    "1 while the API key file (LGSP_INGRESS__API_KEYS_FILE) is readable and valid; 0 while it is missing or "
    "corrupt, when no key is accepted and /readyz answers 503.",
    "Can agencies authenticate at all?",
)

INGRESS_AUDIT_WRITTEN = MetricSpec(
    "lgsp_ingress_audit_written_total",
    Kind.COUNTER,
    "Audit records (one per event request: publish or refusal) the ingress appended to `lgsp.audit`.",
    "Is the audit trail being written?",
)
INGRESS_AUDIT_DROPPED = MetricSpec(
    "lgsp_ingress_audit_dropped_total",
    Kind.COUNTER,
    "Audit records the ingress dropped, by reason: `queue-full` (Kafka slower than the requests for longer "
    "than LGSP_AUDIT__QUEUE_MAX records) or `kafka` (sending failed). Requests are never held back for them.",
    "Is the audit trail complete?",
    ("reason",),
)

# --- Consumers: the runner behind lgsp views run ------------------------------------------------------------

EVENTS_CONSUMED = MetricSpec(
    "lgsp_events_consumed_total",
    Kind.COUNTER,
    "Events decoded and applied to the views (committed with their offsets), by group, topic and type.",
    "Are the views keeping up with what is published?",
    ("group", "topic", "type"),
)
EVENTS_DEAD_LETTERED = MetricSpec(
    "lgsp_events_dead_lettered_total",
    Kind.COUNTER,
    "Records sent to `<topic>.dlq` because they can never be applied, by group, source topic and reason "
    "(the lgsp_dlq_reason header: bad-wire-format, unknown-schema, invalid-event, unknown-agency, ...).",
    "Is anyone publishing poison, and of which kind?",
    ("group", "topic", "reason"),
)
SIGNATURES_REJECTED = MetricSpec(
    "lgsp_signature_rejections_total",
    Kind.COUNTER,
    "Records the views refused because their `lgsp_sig` envelope does not make them trustworthy, by topic, "
    "reason (signature.missing, signature.invalid, signer.unknown, signer.revoked, signer.not-entitled) and "
    "claimed source (the event's `source`; `other` outside the agency catalog). They go to `<topic>.dlq`.",
    "Is anyone writing to the topics without a key, with another agency's key, or with a revoked key?",
    ("topic", "reason", "source"),
)
UNSIGNED_ACCEPTED = MetricSpec(
    "lgsp_signature_unsigned_accepted_total",
    Kind.COUNTER,
    "Unsigned records the views applied anyway: signatures not required, or the source listed for a "
    "migration (LGSP_VIEWS__UNSIGNED_SOURCES), by topic and source.",
    "Which agencies still publish unsigned, and is the migration done?",
    ("topic", "source"),
)
BATCH_DURATION = MetricSpec(
    "lgsp_batch_processing_duration_seconds",
    Kind.HISTOGRAM,
    "Time to decode, apply and commit one batch (view writes and offsets in one store transaction).",
    "Is the store or the view code the bottleneck?",
    ("group",),
    BATCH_BUCKETS,
)
BATCH_RECORDS = MetricSpec(
    "lgsp_consumer_batch_records",
    Kind.HISTOGRAM,
    "Records in one batch handed to the views (a count, not seconds).",
    "Are batches full (the consumer is behind) or nearly empty (it is idle)?",
    ("group",),
    BATCH_RECORDS_BUCKETS,
)
EVENT_AGE = MetricSpec(
    "lgsp_event_age_seconds",
    Kind.HISTOGRAM,
    "Apply time minus the event's publish time (its published_at, stamped by the Publisher when the bus "
    "took it): the operations clock, how long the bus kept an event from the views. Historical traffic "
    "(old occurred-at) does not move it.",
    "How long does the bus take from an agency's publish to the national views?",
    ("group", "topic"),
    EVENT_AGE_BUCKETS,
)
EVENT_BUSINESS_LAG = MetricSpec(
    "lgsp_event_business_lag_seconds",
    Kind.HISTOGRAM,
    "Publish time minus the event's occurred-at: the domain clock, how late agencies hand what happened to "
    "the bus (a year for a simulation of the past year; the buckets reach three years).",
    "How late do agencies report, compared with when things happened?",
    ("group", "topic"),
    BUSINESS_LAG_BUCKETS,
)
CONSUMER_LAG = MetricSpec(
    "lgsp_consumer_lag_messages",
    Kind.GAUGE,
    "Records on the partition not yet applied: high watermark minus the next offset to apply.",
    "How far behind is each consumer group, on which partition?",
    ("group", "topic", "partition"),
)

# --- Views: lgsp views run (applied events) and lgsp views serve (KPI gauges) -------------------------------

VIEW_LAST_EVENT = MetricSpec(
    "lgsp_view_last_event_timestamp_seconds",
    Kind.GAUGE,
    "Unix time (wall clock) at which the view last applied an event. For a view fed by one topic the view "
    "label is that topic's short name (documents, dossiers, reports) so alerts can join it to the lag.",
    "Is a view stuck while events wait for it?",
    ("view",),
)
VIEW_EVENTS_APPLIED = MetricSpec(
    "lgsp_view_events_applied_total",
    Kind.COUNTER,
    "Events that changed, or were checked against, the view (duplicates and stale versions included).",
    "Which views do the work, and how much?",
    ("view",),
)


class Kpi(StrEnum):
    """The national KPI gauges, one series per province plus ``province="00"`` for the nation. Ratios 0..1."""

    ELECTRONIC_DOCUMENT_RATIO = "lgsp_kpi_electronic_document_ratio"
    DOSSIER_ONLINE_RATIO = "lgsp_kpi_dossier_online_ratio"
    DOSSIER_FULL_ONLINE_RATIO = "lgsp_kpi_dossier_full_online_ratio"
    DOSSIER_ON_TIME_RATIO = "lgsp_kpi_dossier_on_time_ratio"
    DOSSIER_DIGITISED_RATIO = "lgsp_kpi_dossier_digitised_ratio"
    REPORT_COMPLETENESS_RATIO = "lgsp_kpi_report_completeness_ratio"
    REPORT_ON_TIME_RATIO = "lgsp_kpi_report_on_time_ratio"


UNKNOWN_UNITS = MetricSpec(
    "lgsp_unknown_units_total",
    Kind.COUNTER,
    "Agencies named by applied events with a well-formed code under a known level-1 unit that the agency "
    "catalog does not list (communes, unlisted departments, pre-2025 codes), per province (central: "
    "ministries and central bodies); accepted and rolled up, listed by `lgsp views show agencies`.",
    "Which real units is the catalog missing?",
    ("province",),
)

_KPI_DOCS: Final[dict[Kpi, tuple[str, str]]] = {
    kpi: (KPI_BY_GAUGE[kpi.value].definition, KPI_BY_GAUGE[kpi.value].question) for kpi in Kpi
}
"""Each gauge's description is its KPI's one written definition (``bus.kpis``)."""

KPI_SPECS: Final[dict[Kpi, MetricSpec]] = {
    kpi: MetricSpec(kpi.value, Kind.GAUGE, f"{meaning} province=00 is the nation.", question, ("province",))
    for kpi, (meaning, question) in _KPI_DOCS.items()
}

# --- Simulator: lgsp simulate -------------------------------------------------------------------------------

SIMULATOR_GENERATED = MetricSpec(
    "lgsp_simulator_events_generated_total",
    Kind.COUNTER,
    "Events the simulator generated (published or written to a file), by CloudEvents type, injected ones "
    "included.",
    "Is the simulated nation producing the traffic mix it was asked for?",
    ("type",),
)
SIMULATOR_DUPLICATES = MetricSpec(
    "lgsp_simulator_duplicates_injected_total",
    Kind.COUNTER,
    "Events the simulator re-sent on purpose (--duplicates), by type.",
    "How many duplicates should the views have ignored?",
    ("type",),
)
SIMULATOR_INVALID = MetricSpec(
    "lgsp_simulator_invalid_injected_total",
    Kind.COUNTER,
    "Invalid events the simulator produced on purpose (--bad-ratio), by type.",
    "How many dead letters or 4xx answers should we expect?",
    ("type",),
)
SIMULATOR_TARGET_RATE = MetricSpec(
    "lgsp_simulator_target_rate_events_per_second",
    Kind.GAUGE,
    "The rate the simulator was asked for (--rate); 0 means as fast as it can.",
    "Is the simulator keeping to its configured rate?",
)

# --- Agencies that should be publishing: lgsp views serve, from the scoreboard ----------------------------

PROVINCE_EVENTS = MetricSpec(
    "lgsp_view_province_events",
    Kind.GAUGE,
    "What a province's or a ministry's agencies have published so far, as the views count it "
    "(view=documents: documents sent; dossiers: dossiers received; reports: reports filed). One series per "
    'level-1 unit of the agency catalog: province="79" (statistics code) or, for each ministry and central '
    'body, its level-1 G code (province="G22": 000.00.00.G22). A total that only grows: its history is the '
    "unit's cadence, a flat stretch is silence.",
    "Which province or ministry has gone silent in a family it normally publishes?",
    ("province", "view"),
)
REPORTS_OVERDUE = MetricSpec(
    "lgsp_reports_overdue",
    Kind.GAUGE,
    "Periodic reports whose deadline (report catalog) has passed without a filing, per province and per "
    'ministry (province="G22" as in lgsp_view_province_events): obligations due minus those filed.',
    "Has a report deadline passed unfiled, and where?",
    ("province",),
)

# --- Freshness of the views: lgsp views serve, measured without the builder ------------------------------

VIEW_STORE_LAG = MetricSpec(
    "lgsp_view_store_lag_messages",
    Kind.GAUGE,
    "Records on the topic not yet in the view store: the topic's end offsets minus the store's next offsets, "
    "partitions summed. Measured by views serve every few seconds, so it goes on while the builder is dead "
    "or stuck.",
    "How many events are the national views missing, whatever state the builder is in?",
    ("group", "topic"),
)
VIEW_STORE_BEHIND = MetricSpec(
    "lgsp_view_store_behind_seconds",
    Kind.GAUGE,
    "Age of the oldest record of the topic not yet in the view store (now minus its Kafka timestamp; 0 when "
    "none waits). Measured by views serve; the freshness objective (the views at most 2 minutes behind) "
    "is stated on it.",
    "How far behind the bus are the national views, in time?",
    ("group", "topic"),
)

# --- Every process ------------------------------------------------------------------------------------------

DEPENDENCY_UP = MetricSpec(
    "lgsp_dependency_up",
    Kind.GAUGE,
    "1 if the process's last use or probe of a dependency (kafka, registry, store) worked, 0 if it failed. "
    "Each process exports the dependencies it uses, from start-up.",
    "Which process has lost which dependency?",
    ("dependency",),
)
BUILD_INFO = MetricSpec(
    "lgsp_build_info",
    Kind.INFO,
    "Always 1; the labels name the running lgsp-bus version, the Python version, and whether the signing "
    "hash tree and the Avro writer run in C or in Python (signing_hashes, avro_writer: c, python; python "
    "when the install could not compile it).",
    "Which version is deployed where? Which hosts sign, verify or publish without the C code?",
    ("version", "python", "signing_hashes", "avro_writer"),
)
