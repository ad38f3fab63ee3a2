"""The report id is validated: ``{agency}/{report code}/{period}``, the form ``make_report_id`` makes."""

from __future__ import annotations

import pytest

from bus.cloudevents import from_structured
from bus.errors import ValidationError
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit


def test_a_report_id_that_disagrees_with_its_fields_is_refused_with_the_expected_id() -> None:
    obj = samples.report(3)
    from_structured(obj)  # the sample's id is the conventional one
    obj["data"]["report_id"] = obj["data"]["report_id"].replace("2025-Q2", "2025-Q3")
    with pytest.raises(ValidationError) as caught:
        from_structured(obj)
    assert caught.value.rule == "report_id.format"
    assert "2025-Q2" in str(caught.value)  # the message names the id expected from the fields
    (problem,) = caught.value.problems
    assert problem.hint is not None
    assert "{agency}/{report code}/{period}" in problem.hint
    assert "make_report_id" in problem.hint
