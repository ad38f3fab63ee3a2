"""The portal's local yyyyMMddHHmmss dossier times, accepted by the ingress when configured."""

from __future__ import annotations

from datetime import datetime

import pytest

from bus.portal_time import portal_time, with_portal_times
from producers.ingress.problems import ProblemError
from producers.ingress.requests import to_records
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit


def test_local_digits_become_utc() -> None:
    assert portal_time("20250701083000") == "2025-07-01T01:30:00.000Z"
    assert portal_time("20250701003000") == "2025-06-30T17:30:00.000Z"  # the day before, in UTC
    assert portal_time("20251301083000") is None  # month 13: left for the contract to refuse
    assert portal_time("2025-07-01T08:30:00+07:00") is None


def test_the_ingress_option_converts_dossier_times_and_only_with_it() -> None:
    event = samples.dossier(0)
    event["data"] = {**event["data"], "received_at": "20250701083000"}
    with pytest.raises(ProblemError):
        to_records([event], batch=False)
    (dossier,) = to_records([event], batch=False, portal_times=True)
    assert dossier.avro["received_at"] == portal_millis("2025-07-01T01:30:00+00:00")


def portal_millis(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_other_event_types_are_left_alone() -> None:
    report = samples.report(1)
    assert with_portal_times(report) is report
