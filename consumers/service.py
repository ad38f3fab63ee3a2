"""``lgsp views run``: the view builder process (consumer runner + views + store + /metrics)."""

from __future__ import annotations

import asyncio
import logging

from bus.consumer.runner import RunStats
from bus.consumer.service import ConsumerSpec, run_consumer
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
    viewset = ViewSet.from_settings(settings, metrics=view_metrics)
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
