"""``run_demo``: the steps of ``lgsp demo`` in order, and the clean-up whatever happens.

Child processes are stopped on every way out (success, error, Ctrl-C, SIGTERM) unless the demo completed
with ``keep_running``; a demo that was killed outright leaves pid files that the next ``lgsp demo`` or
``lgsp demo --stop`` uses to stop what it left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from rich.console import Console

from bus.agencies import load_catalog
from bus.errors import ConfigError, DevStackError
from bus.metrics import MetricsServer, new_process_registry, serve_metrics
from bus.settings import KafkaSettings, Settings
from bus.signing.keyring import create_keys, publish_entries
from lgsp.demo import children
from lgsp.demo.children import Child, ChildSpec
from lgsp.demo.options import DemoOptions, DemoPaths, Ports, demo_settings, resolve_ports, settings_env
from lgsp.demo.progress import LiveProgress
from lgsp.demo.report import how_to_stop, kpi_line, look_further, print_scoreboard, read_scoreboard
from lgsp.demo.scrape import scrape_now
from lgsp.demo.stack import issue_demo_key, provision, start_dev_stack, write_sample_event
from lgsp.demo.traffic import CatchUp, simulate, wait_caught_up
from lgsp.security.onboarding import service_settings
from producers.simulate.run import RunReport

READY_TIMEOUT_S: Final = 180.0
"""Three Python processes importing the bus at once on a busy two-core machine take a while."""
STEPS: Final = 5
_SHORT_TYPE: Final = {
    "vn.gov.lgsp.document.DocumentSent": "DocumentSent",
    "vn.gov.lgsp.document.DocumentStatusChanged": "DocumentStatusChanged",
    "vn.gov.lgsp.dossier.DossierSynced": "DossierSynced",
    "vn.gov.lgsp.report.ReportFiled": "ReportFiled",
}


_FAMILIES: Final = {
    "documents": ("vn.gov.lgsp.document.DocumentSent", "vn.gov.lgsp.document.DocumentStatusChanged"),
    "dossiers": ("vn.gov.lgsp.dossier.DossierSynced",),
    "reports": ("vn.gov.lgsp.report.ReportFiled",),
}
"""The three event families the bus exists for, by their Avro names."""


def family_line(by_type: Mapping[str, int]) -> str:
    """Each event family's count, every family named even when it has none."""
    counts = {family: sum(by_type.get(name, 0) for name in names) for family, names in _FAMILIES.items()}
    return "event families: " + ", ".join(f"{family} {count:,}" for family, count in counts.items())


@dataclass
class _Steps:
    """Numbered step headings, and plain indented lines under them."""

    console: Console
    number: int = 0

    def next(self, title: str) -> None:
        self.number += 1
        self.console.print(f"[bold][{self.number}/{STEPS}][/bold] {title}", highlight=False)

    def say(self, text: str) -> None:
        self.console.print(f"      {text}", highlight=False, soft_wrap=True)


def run_demo(options: DemoOptions, settings: Settings, console: Console) -> None:
    """Run the demo; raises :class:`bus.errors.LgspError` on failure and ``KeyboardInterrupt`` on Ctrl-C."""
    began = time.monotonic()
    paths = DemoPaths.under(settings.dev.state_dir)
    steps = _Steps(console)
    console.print(f"[bold]LGSP bus demo[/bold] (its files: {paths.home})", highlight=False)
    left = children.stop(paths.home)
    if left:
        steps.say(f"stopped what the previous demo left running: {', '.join(left)}")
    ports = resolve_ports(options.ports, settings, ingress=options.ingress)
    settings = _stack_topics_schemas(options, settings, paths, ports, steps)
    principals = _principals(settings, steps) if options.secure else {}
    key = _prepare_files(paths, options.ingress)
    kept = False
    started: list[Child] = []
    server: MetricsServer | None = None
    try:
        steps.next("the views (lgsp views run, lgsp views serve)" + (" and the ingress" if key else ""))
        started = _start_children(settings, ports, paths, steps, principals)
        steps.next(
            f"the simulated nation: {options.traffic.duration_s:g} s at {options.traffic.rate:g} events/s "
            f"(seed {options.traffic.seed})"
        )
        registry = new_process_registry()
        server = serve_metrics(registry, ports.host, ports.simulator_metrics)
        report, catch_up = _traffic(settings, options, ports, registry, console)
        _say_traffic(steps, report, catch_up, options)
        steps.next("the national scoreboard")
        print_scoreboard(console, read_scoreboard(settings))
        _say_metrics(console, ports)
        console.print(f"\ndemo completed in {time.monotonic() - began:.0f} s", highlight=False)
        kept = options.keep_running
        look_further(console, settings, ports, paths, key, kept=kept)
        how_to_stop(
            console,
            kept=kept,
            waiting=options.wait and not kept,
            dev_stack=options.dev_stack,
            page=ports.url(ports.views, "/"),
        )
        if options.wait and not kept:
            _wait_for_ctrl_c(started)
    finally:
        if server is not None and not kept:
            server.close()
        if not kept:
            _stop_children(paths, started, console)


def _stack_topics_schemas(
    options: DemoOptions, settings: Settings, paths: DemoPaths, ports: Ports, steps: _Steps
) -> Settings:
    """Steps 1 and 2; the settings the rest of the demo (and its children) use."""
    steps.next("Kafka and the schema registry")
    if options.dev_stack:
        settings = start_dev_stack(settings, options.dev_ports, steps.say, secure=options.secure)
    else:
        steps.say(
            f"from settings: Kafka {settings.kafka.bootstrap_servers}, registry {settings.registry.url}"
        )
    settings = demo_settings(settings, paths, ports)
    steps.next("topics and schemas")
    done = provision(settings)
    steps.say(f"topics ready: {', '.join(done.topics)} ({done.topics_created} created now)")
    steps.say(
        f"schemas: {done.subjects} subjects, {done.versions} versions registered "
        f"({done.versions_created} new), compatibility levels from schemas/compatibility.json"
    )
    return _signing_keys(settings, paths, steps)


def _signing_keys(settings: Settings, paths: DemoPaths, steps: _Steps) -> Settings:
    """A signing key per People's Committee and ministry (the simulated nation's publishers), on the
    keyring: the views apply only signed records (docs/security.md)."""
    key_dir = paths.home / "signing-keys"
    shutil.rmtree(key_dir, ignore_errors=True)  # fresh keys each run: the keyring may be a new stack's
    catalog = load_catalog()
    made = create_keys(key_dir, [a.code for a in catalog.signers()])
    asyncio.run(publish_entries(settings, made))
    steps.say(f"signing keys: one per agency ({len(made)}) in {key_dir}, public keys on the keyring")
    return settings.model_copy(
        update={"signing": settings.signing.model_copy(update={"key_dir": key_dir, "key_file": None})}
    )


def _prepare_files(paths: DemoPaths, ingress: bool) -> str | None:
    """A fresh view store; with the ingress, a key for the demo agency and a sample event to post."""
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.clear_store()
    if not ingress:
        return None
    write_sample_event(paths.sample_event, str(uuid.uuid4()))
    return issue_demo_key(paths)


def child_specs(ports: Ports) -> list[ChildSpec]:
    """The processes the demo starts, each with its readiness URL."""
    specs = [
        ChildSpec(
            "views-run",
            f"the view builder (lgsp views run, /metrics on :{ports.builder_metrics})",
            ("views", "run", "--metrics-port", str(ports.builder_metrics)),
            ports.url(ports.builder_metrics, "/metrics"),
        ),
        ChildSpec(
            "views-serve",
            f"the views API (lgsp views serve on :{ports.views})",
            ("views", "serve", "--host", ports.host, "--port", str(ports.views)),
            ports.url(ports.views, "/healthz"),
        ),
    ]
    if ports.ingress is not None:
        specs.append(
            ChildSpec(
                "ingress",
                f"the HTTP ingress (lgsp ingress on :{ports.ingress})",
                ("ingress", "--host", ports.host, "--port", str(ports.ingress)),
                ports.url(ports.ingress, "/readyz"),
            )
        )
    return specs


def _principals(settings: Settings, steps: _Steps) -> dict[str, KafkaSettings]:
    """The secure bus: the children's own principals (least privilege, lgsp.security.acls), as `lgsp dev up
    --secure` makes them; the demo itself stays the admin (it creates topics, registers schemas, publishes
    the keyring and plays the nation's agencies)."""
    if not settings.kafka.uses_sasl:
        raise ConfigError(
            "--secure needs the admin's SASL settings (LGSP_KAFKA__SECURITY_PROTOCOL=SASL_SSL, ...): "
            "`set -a; . <state>/admin.env` after `lgsp dev up --secure`, or drop --no-dev-stack"
        )
    out = settings.dev.state_dir / "principals"
    views = service_settings(settings, "views", out_dir=out)
    ingress = service_settings(settings, "ingress", out_dir=out)
    steps.say(
        f"secure bus: the views run as User:{views.sasl_username}, the ingress as "
        f"User:{ingress.sasl_username} (settings in {out}); they read the registry without credentials"
    )
    return {"views-run": views, "views-serve": views, "ingress": ingress}


def child_settings(settings: Settings, name: str, principals: Mapping[str, KafkaSettings]) -> Settings:
    """What child ``name`` runs with: its own principal on a secure bus, and never the registry's admin
    credentials (the children only read schemas)."""
    return settings.model_copy(
        update={
            "kafka": principals.get(name, settings.kafka),
            "registry": settings.registry.model_copy(update={"username": None, "password": None}),
        }
    )


def _start_children(
    settings: Settings,
    ports: Ports,
    paths: DemoPaths,
    steps: _Steps,
    principals: Mapping[str, KafkaSettings],
) -> list[Child]:
    started: list[Child] = []
    begin = time.monotonic()
    for spec in child_specs(ports):
        # settings_env carries every setting; an LGSP_ variable of ours (the admin's passwords) must not leak.
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("LGSP_")}
        env = {**inherited, **settings_env(child_settings(settings, spec.name, principals))}
        started.append(children.spawn(spec, paths.home, env))
    children.wait_ready(started, READY_TIMEOUT_S)
    for child in started:
        steps.say(f"{child.spec.what}: pid {child.pid}, log {child.managed.log_file.name}")
    steps.say(f"ready in {time.monotonic() - begin:.0f} s")
    steps.say(f"the national page follows the views live: {ports.url(ports.views)}/")
    return started


def _traffic(
    settings: Settings, options: DemoOptions, ports: Ports, registry: CollectorRegistry, console: Console
) -> tuple[RunReport, CatchUp]:
    timeout_s = max(120.0, options.traffic.duration_s)

    async def both(progress: LiveProgress) -> tuple[RunReport, CatchUp]:
        report, tally = await simulate(settings, options.traffic, ports, registry, progress)
        return report, await wait_caught_up(settings, ports, tally, progress, timeout_s)

    with LiveProgress(console, options.traffic.duration_s) as progress:
        return asyncio.run(both(progress))


def _say_traffic(steps: _Steps, report: RunReport, catch_up: CatchUp, options: DemoOptions) -> None:
    truth = report.truth
    mix = ", ".join(f"{short} {truth.by_type.get(name, 0):,}" for name, short in _SHORT_TYPE.items())
    steps.say(
        f"published {report.emitted:,} events in {report.elapsed_s:.1f} s "
        f"({report.events_per_s:,.0f}/s): {mix}"
    )
    steps.say(family_line(truth.by_type))
    if report.invalid_sent:
        steps.say(
            f"{report.invalid_sent:,} of them invalid on purpose (--bad-ratio {options.traffic.bad_ratio:g})"
        )
    if catch_up.caught_up:
        steps.say(
            f"the views applied every record on the topics ({catch_up.on_topics:,}, earlier runs' included) "
            f"{catch_up.waited_s:.1f} s after the last publish"
        )
    else:
        steps.say(
            f"[yellow]the views have applied {catch_up.applied:,} of {catch_up.on_topics:,} records after "
            f"{catch_up.waited_s:.0f} s; the scoreboard below is partial[/yellow]"
        )


def _say_metrics(console: Console, ports: Ports) -> None:
    samples = scrape_now(ports.url(ports.views, "/metrics"))
    if samples is None:
        raise DevStackError(f"the views API does not answer on {ports.url(ports.views, '/metrics')}")
    console.print(f"national KPI gauges on {ports.url(ports.views, '/metrics')}: {kpi_line(samples)}")


def _wait_for_ctrl_c(started: list[Child]) -> None:
    """Keep serving until Ctrl-C (or SIGTERM); a child that dies meanwhile ends the wait with its error."""
    try:
        while True:
            for child in started:
                if child.exited() is not None:
                    raise DevStackError(child.failure())
            time.sleep(1.0)
    except KeyboardInterrupt:
        return


def _stop_children(paths: DemoPaths, started: list[Child], console: Console) -> None:
    with _quiet_interrupts():
        stopped = children.stop(paths.home, started)
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}", highlight=False)


@contextmanager
def _quiet_interrupts() -> Iterator[None]:
    """A second Ctrl-C while the children are stopped must not leave them running."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def stop_demo(settings: Settings, console: Console) -> list[str]:
    """``lgsp demo --stop``: stop the processes a demo left running (``--keep-running``, or a killed demo)."""
    paths = DemoPaths.under(settings.dev.state_dir)
    stopped = children.stop(paths.home)
    if stopped:
        console.print(f"stopped the demo's {', '.join(stopped)}", highlight=False)
    else:
        console.print(f"no demo process is running (from {paths.home})", highlight=False)
    console.print("the local Kafka and registry (if any) keep running: `lgsp dev down` stops them")
    return stopped
