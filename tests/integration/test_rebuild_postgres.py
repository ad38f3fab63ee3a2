"""``lgsp views rebuild`` on PostgreSQL: members of one consumer group build the view set (no shards), and
``--into NEW`` builds a second set while the first keeps serving, until ``switch`` flips them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bus.errors import StoreError
from bus.settings import Settings
from consumers.rebuild import rebuild
from consumers.store import open_store
from consumers.store.postgres import PostgresStore
from consumers.viewset import ViewSet, build_views
from tests.faults.pgbuild import create_topics, publish, scenario_settings, simulated_events
from tests.views_compare import mismatches, view_differences

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


async def test_group_rebuild_then_blue_green_switch(
    settings: Settings, topic_prefix: str, postgres_url: str
) -> None:
    config = scenario_settings(settings, topic_prefix, postgres_url)
    await create_topics(config)
    events = simulated_events(3000, seed=21)
    await publish(config, events)

    built = await rebuild(config, processes=2)
    assert built.shards == 2
    serving = ViewSet(open_store(postgres_url), build_views(config), topic_prefix=topic_prefix)
    try:
        assert mismatches(serving, events, as_of=AS_OF, sla_hours=config.views.document_sla_hours) == []
        with pytest.raises(StoreError, match="already holds views"):
            await rebuild(config, processes=1)

        await rebuild(config, processes=2, into="green")  # main keeps serving meanwhile
        green_views = ViewSet(
            open_store(postgres_url, view_set="green"), build_views(config), topic_prefix=topic_prefix
        )
        try:
            assert view_differences(green_views, serving, as_of=AS_OF) == []
        finally:
            green_views.close()
        store = serving.store
        assert isinstance(store, PostgresStore)
        assert store.view_sets() == {"green": False, "main": True}
        assert store.switch("green") == "main"
        assert store.view_sets() == {"green": True, "main": False}
        # the serving view set reads the new current set from its next snapshot on
        assert mismatches(serving, events, as_of=AS_OF, sla_hours=config.views.document_sla_hours) == []
        store.drop_set("main")
        assert store.view_sets() == {"green": True}
    finally:
        serving.close()
