"""What the demo prints at the end: the scoreboard, the national KPIs as /metrics shows them, where to look
further and how to stop."""

from __future__ import annotations

import shlex
from typing import Final

from rich.console import Console

from bus.kafka_client import kafka_environment
from bus.metrics import NATIONAL, Kpi
from bus.settings import Settings
from consumers.base import ViewQuery, ViewResult
from consumers.viewset import ViewSet
from lgsp.commands.scoreboard_table import narrow_table
from lgsp.demo.options import DemoPaths, Ports
from lgsp.demo.scrape import Samples
from lgsp.devstack.secure import ADMIN_ENV

_KPI_LABELS: Final = {
    Kpi.ELECTRONIC_DOCUMENT_RATIO: "electronic documents",
    Kpi.DOSSIER_ONLINE_RATIO: "dossiers online",
    Kpi.DOSSIER_ON_TIME_RATIO: "on time",
    Kpi.REPORT_COMPLETENESS_RATIO: "reports filed",
}


def read_scoreboard(settings: Settings) -> ViewResult:
    """The scoreboard view, read from the demo's store (as ``lgsp views show scoreboard`` does)."""
    with ViewSet.from_settings(settings) as viewset:
        return viewset.query("scoreboard", ViewQuery())


def print_scoreboard(console: Console, result: ViewResult) -> None:
    console.print(narrow_table(result))


def kpi_line(samples: Samples) -> str:
    """The national KPI gauges of a views-API scrape, as percentages."""
    parts = []
    for kpi, label in _KPI_LABELS.items():
        found = samples.select(kpi.value, province=NATIONAL)
        if found:
            parts.append(f"{label} {found[0].value * 100:.1f}%")
    return " · ".join(parts) or "no KPI yet"


def shell_env(settings: Settings) -> list[str]:
    """The ``export`` lines that point the ``lgsp`` commands at the demo's stack and store."""
    env = {
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": settings.registry.url,
        "LGSP_STORE__URL": settings.store.url,
    }
    if settings.topics.prefix:
        env["LGSP_TOPICS__PREFIX"] = settings.topics.prefix
    secure = settings.kafka.uses_sasl
    if secure:  # everything but the password, which stays in the 0600 file
        env |= {
            k: v for k, v in kafka_environment(settings.kafka).items() if k != "LGSP_KAFKA__SASL_PASSWORD"
        }
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    if secure:
        admin_env = settings.dev.state_dir / ADMIN_ENV
        lines.append(f"set -a; . {shlex.quote(str(admin_env))}; set +a   # the admin's passwords (0600)")
    return lines


def look_further(
    console: Console, settings: Settings, ports: Ports, paths: DemoPaths, key: str | None, *, kept: bool
) -> None:
    """Where to look: the pages, the APIs, every /metrics, the CLI, Prometheus and Grafana."""
    views = ports.url(ports.views)
    say = console.print
    say("\n[bold]Look further[/bold]", highlight=False)
    say(f"  national page     {views}/  (map, trends; one province: {views}/province/79)", soft_wrap=True)
    say(f"  views API         {views}/v1/views/scoreboard  (also documents, dossiers, reports; ?province=79)")
    say(f"  its OpenAPI docs  {views}/docs")
    say("  /metrics          " + "  ".join(_metrics_urls(ports, kept=kept)), highlight=False)
    if ports.ingress is not None and key is not None:
        ingress = ports.url(ports.ingress)
        say(f"  HTTP ingress      {ingress}/docs; post the sample event as {paths.sample_event.name} shows:")
        say(
            f"    curl -sS -H 'Authorization: Bearer {key}' "
            f"-H 'Content-Type: application/cloudevents+json' "
            f"--data @{shlex.quote(str(paths.sample_event))} {ingress}/v1/events",
            highlight=False,
            soft_wrap=True,
        )
        say(f"    (the key is also in {paths.key_file})", highlight=False)
    say(
        "  from a shell      " + "\n                    ".join(shell_env(settings)),
        highlight=False,
        soft_wrap=True,
    )
    say("                    lgsp views show scoreboard | documents --province 79 | dossiers | reports")
    say("                    lgsp dlq show   (the poison the simulator sent on purpose, and why)")
    say(
        "  Prometheus        prometheus --config.file=deploy/prometheus/prometheus.local.yml "
        "--web.listen-address=127.0.0.1:9090 --storage.tsdb.path=.lgsp/prometheus",
        highlight=False,
        soft_wrap=True,
    )
    say("                    (scrapes the default ports, with the alert rules; see docs/operators.md)")
    say("  with Docker       docker compose up --build -d: the whole bus plus Prometheus (127.0.0.1:9090)")
    say("                    and Grafana (127.0.0.1:3000) with the dashboards")
    say(f"  logs              {paths.home}/*.log", highlight=False)


def _metrics_urls(ports: Ports, *, kept: bool) -> list[str]:
    urls = [
        f"{ports.url(ports.views, '/metrics')} (views API, KPI gauges)",
        f"{ports.url(ports.builder_metrics, '/metrics')} (view builder)",
    ]
    if ports.ingress is not None:
        urls.append(f"{ports.url(ports.ingress, '/metrics')} (ingress)")
    if not kept:
        urls.append(f"{ports.url(ports.simulator_metrics, '/metrics')} (simulator)")
    return ["\n                    " + url if i else url for i, url in enumerate(urls)]


def how_to_stop(console: Console, *, kept: bool, waiting: bool, dev_stack: bool, page: str) -> None:
    say = console.print
    if kept or waiting:
        say(f"\n[bold]The national page is live[/bold] at {page}", highlight=False)
    if kept:
        say("[bold]Still running[/bold] in the background: the views (run and serve) and the ingress.")
        say("  stop them:        lgsp demo --stop")
    elif waiting:
        say("[bold]Running until you press Ctrl-C[/bold] (or `lgsp demo --stop` from another shell).")
    else:
        say("\nThe demo's processes are stopped now; `lgsp demo --keep-running` leaves them up.")
    if dev_stack:
        say("  the local Kafka and registry keep running: `lgsp dev down` stops them (--purge also deletes")
        say("  their data; the topics keep every demo's events until then)")
