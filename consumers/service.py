"""``lgsp views run``: the view builder process (consumer runner + views + store + /metrics)."""

from __future__ import annotations

import asyncio
import logging

from bus.consumer.retry import Backoff, StopRequested, retrying
from bus.consumer.runner import RunStats
from bus.consumer.service import ConsumerSpec, run_consumer
from bus.errors import LgspError
from bus.metrics import (
    ConsumerMetrics,
    Dependency,
    DependencyMetrics,
    MetricsServer,
    ViewMetrics,
    new_process_registry,
    serve_metrics,
)
from bus.settings import Settings
from consumers.admission import ViewsTrust
from consumers.viewset import VIEW_NAMES, ViewSet

log = logging.getLogger(__name__)


async def run_views(
    settings: Settings,
    *,
    stop: asyncio.Event,
    until_caught_up: bool = False,
    metrics_port: int | None = None,
) -> RunStats:
    """Build the views from the topics until ``stop`` (or, with ``until_caught_up``, until every record that
    was on the topics at start is applied). ``metrics_port`` serves ``/metrics`` (0: any free port)."""
    registry = new_process_registry()
    consumer_metrics = ConsumerMetrics(registry)
    view_metrics = ViewMetrics(registry)
    dependencies = DependencyMetrics(registry, (Dependency.KAFKA, Dependency.REGISTRY, Dependency.STORE))
    server: MetricsServer | None = None
    if metrics_port is not None:
        server = serve_metrics(registry, settings.views.host, metrics_port)
        log.info("serving metrics on %s", server.url)
    try:
        viewset = await open_views(settings, dependencies, stop, metrics=view_metrics)
    except StopRequested:
        log.info("stop requested while waiting for the view store; nothing was applied")
        if server is not None:
            server.close()
        return RunStats()
    view_metrics.declare(VIEW_NAMES)
    try:
        async with ViewsTrust(settings, registry) as trust:
            spec = ConsumerSpec(
                group_id=settings.views.group_id,
                topics=viewset.topics(),
                sink=viewset,
                topic_types=viewset.topic_types(),
                admit=trust.admission,
                prepare=trust.refresh,
            )
            return await run_consumer(
                settings,
                spec,
                stop=stop,
                until_caught_up=until_caught_up,
                metrics=consumer_metrics,
                dependencies=dependencies,
            )
    finally:
        viewset.close()
        if server is not None:
            server.close()


async def open_views(
    settings: Settings,
    dependencies: DependencyMetrics,
    stop: asyncio.Event,
    *,
    metrics: ViewMetrics | None = None,
) -> ViewSet:
    """The views on their store, waiting (with the consumer's backoff, until ``stop``) while the store is down
    or busy: a builder or an API that starts while its PostgreSQL restarts waits for it, as the builder does
    when the store goes away later, instead of exiting. Errors that retrying cannot cure (no permission, a
    bad schema) still raise; :class:`~bus.consumer.retry.StopRequested` if ``stop`` is set meanwhile."""

    def failed(error: LgspError) -> None:
        dependencies.set(Dependency.STORE, up=False)

    viewset = await retrying(
        lambda: asyncio.to_thread(ViewSet.from_settings, settings, metrics=metrics),
        what="opening the view store",
        stop=stop,
        backoff=Backoff(),
        on_retry=failed,
    )
    dependencies.set(Dependency.STORE, up=True)
    return viewset
