"""Agency lookup (bus.agency_lookup, ``lgsp agencies show | search``): levels, parents, roll-ups, search."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from bus.agencies import load_catalog
from bus.agency_lookup import describe, level_of, parent_of, search
from bus.errors import ValidationError
from bus.types import AgencyCode
from lgsp.cli import app
from producers.ingress.auth import Authorizer, Principal

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("000.00.00.H29", 1, None),
        ("000.00.03.H29", 2, "000.00.00.H29"),
        ("000.01.03.H41", 3, "000.00.03.H41"),
        ("002.01.03.H41", 4, "000.01.03.H41"),
        ("000.00.00.G12", 1, None),
    ],
)
def test_level_and_parent_come_from_the_leftmost_non_zero_group(
    code: str, level: int, parent: str | None
) -> None:
    assert level_of(code) == level
    assert parent_of(code) == parent


def test_a_department_is_described_with_its_province_and_parent() -> None:
    info = describe("000.00.03.H41", load_catalog())
    assert info.known
    assert (info.name, info.kind, info.level) == ("Sở Tư pháp tỉnh Nghệ An", "department", 2)
    assert info.province is not None
    assert info.province.code == "40"
    assert info.parent is not None
    assert info.parent.code == "000.00.00.H41"
    assert info.parent.name == "Ủy ban nhân dân tỉnh Nghệ An"


def test_an_unlisted_well_formed_code_is_described_as_unknown_and_a_malformed_one_is_refused() -> None:
    info = describe("000.07.03.H41", load_catalog())
    assert not info.known
    assert info.name is None
    assert info.province is not None
    assert info.province.code == "40"
    with pytest.raises(ValidationError):
        describe("H41", load_catalog())


def test_search_ignores_case_and_diacritics_and_puts_level_one_first() -> None:
    found = search("tu phap nghe an", load_catalog())
    assert [i.code for i in found] == ["000.00.03.H41"]
    hcmc = search("HỒ CHÍ MINH", load_catalog())
    assert hcmc[0].code == "000.00.00.H29"
    assert all(i.level >= hcmc[0].level for i in hcmc)
    assert search("   ", load_catalog()) == []


@pytest.mark.parametrize("code", ["000.00.00.H29", "000.00.03.H29", "000.00.00.G12"])
def test_the_words_for_whom_a_key_may_publish_match_the_ingress_rule(code: str) -> None:
    """A committee's description names its whole province exactly when the ingress lets it publish for it."""
    catalog = load_catalog()
    info = describe(code, catalog)
    authorizer = Authorizer(catalog)
    department_of_same_province = "000.00.05." + code.rpartition(".")[2]
    allowed = authorizer.may_publish(Principal(AgencyCode(code)), department_of_same_province)
    assert any("every unit of province" in rule for rule in info.may_publish_for) == allowed


def test_cli_show_and_search() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["agencies", "show", "000.00.00.H41", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["province"] == {"code": "40", "name": "Tỉnh Nghệ An"}
    unknown = runner.invoke(app, ["agencies", "show", "000.09.00.H41"])
    assert unknown.exit_code == 1
    assert "not in the catalog" in unknown.output
    malformed = runner.invoke(app, ["agencies", "show", "nghe-an"])
    assert malformed.exit_code == 2
    found = runner.invoke(app, ["agencies", "search", "bo tai chinh"])
    assert found.exit_code == 0
    assert found.output.startswith("000.00.00.G12")


async def test_the_ingress_answers_agency_lookups() -> None:

    from tests.unit.test_ingress_app import fake_ingress

    app = fake_ingress()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        known = await client.get("/v1/agencies/000.00.03.H41")
        unknown = await client.get("/v1/agencies/000.07.03.H41")
        malformed = await client.get("/v1/agencies/nghe-an")
        spec = (await client.get("/openapi.json")).json()
    assert known.status_code == 200
    assert known.json()["name"] == "Sở Tư pháp tỉnh Nghệ An"
    assert known.json()["parent"]["code"] == "000.00.00.H41"
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["agency"]["province"]["code"] == "40"
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "code"
    assert "/v1/agencies/{code}" in spec["paths"]
