"""The agency catalog and the report catalog."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest

from bus.agencies import (
    AgencyCatalog,
    catalog_from_json,
    check_agency_code_shape,
    is_agency_code,
    load_catalog,
)
from bus.errors import ConfigError, UnknownAgencyError, ValidationError
from bus.events import Period, PeriodType
from bus.reporting import VIETNAM, load_report_catalog, report_catalog_from_json

pytestmark = pytest.mark.unit

PROVINCES_2025 = {
    "01": "Thành phố Hà Nội", "04": "Tỉnh Cao Bằng", "08": "Tỉnh Tuyên Quang", "11": "Tỉnh Điện Biên",
    "12": "Tỉnh Lai Châu", "14": "Tỉnh Sơn La", "15": "Tỉnh Lào Cai", "19": "Tỉnh Thái Nguyên",
    "20": "Tỉnh Lạng Sơn", "22": "Tỉnh Quảng Ninh", "24": "Tỉnh Bắc Ninh", "25": "Tỉnh Phú Thọ",
    "31": "Thành phố Hải Phòng", "33": "Tỉnh Hưng Yên", "37": "Tỉnh Ninh Bình", "38": "Tỉnh Thanh Hóa",
    "40": "Tỉnh Nghệ An", "42": "Tỉnh Hà Tĩnh", "44": "Tỉnh Quảng Trị", "46": "Thành phố Huế",
    "48": "Thành phố Đà Nẵng", "51": "Tỉnh Quảng Ngãi", "52": "Tỉnh Gia Lai", "56": "Tỉnh Khánh Hòa",
    "66": "Tỉnh Đắk Lắk", "68": "Tỉnh Lâm Đồng", "75": "Tỉnh Đồng Nai", "79": "Thành phố Hồ Chí Minh",
    "80": "Tỉnh Tây Ninh", "82": "Tỉnh Đồng Tháp", "86": "Tỉnh Vĩnh Long", "91": "Tỉnh An Giang",
    "92": "Thành phố Cần Thơ", "96": "Tỉnh Cà Mau",
}  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> AgencyCatalog:
    return load_catalog()


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(
        resources.files("bus").joinpath("data/agencies.json").read_text(encoding="utf-8")
    )
    return raw


def test_the_34_provinces(catalog: AgencyCatalog) -> None:
    assert {p.code: p.name for p in catalog.provinces()} == PROVINCES_2025
    cities = {p.short_name for p in catalog.provinces() if p.is_city}
    assert cities == {"Hà Nội", "Hải Phòng", "Huế", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ"}


def test_the_63_former_provinces_are_each_merged_once(catalog: AgencyCatalog) -> None:
    former = [name for p in catalog.provinces() for name in p.merged_from]
    assert len(former) == len(set(former)) == 63
    legacy = [code for p in catalog.provinces() for code in p.legacy_committees]
    assert sorted(legacy) == [f"000.00.00.H{n:02d}" for n in range(1, 64)]


def test_known_committee_codes(catalog: AgencyCatalog) -> None:
    assert catalog.province("79").committee == "000.00.00.H29"
    assert catalog.province("40").committee == "000.00.00.H41"
    assert catalog.get("000.00.00.H29").code_status == "confirmed"
    assert catalog.get("000.00.00.G22").name == "Văn phòng Chính phủ"


def test_ministries_as_listed_in_the_domain(catalog: AgencyCatalog) -> None:
    numbers = [a.code.rsplit(".", 1)[1] for a in catalog.ministries()]
    assert numbers == [f"G{n:02d}" for n in (1, 2, 3, 6, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22)]
    assert all(a.province is None for a in catalog.ministries())


def test_every_province_has_a_committee_and_departments(catalog: AgencyCatalog) -> None:
    for province in catalog.provinces():
        committee = catalog.get(province.committee)
        assert committee.kind == "province_committee"
        assert committee.province == province.code
        departments = catalog.departments(province.code)
        assert len(departments) >= 5
        assert all(d.code_status == "illustrative" for d in departments)
        assert all(catalog.province_of(d.code) == province.code for d in departments)


def test_every_code_has_the_qd20_shape_and_names_are_nfc(catalog: AgencyCatalog) -> None:
    assert len(catalog) == len({a.code for a in catalog})
    for agency in catalog:
        assert is_agency_code(agency.code), agency.code
        assert unicodedata.is_normalized("NFC", agency.name)
        assert agency.code_status in {"confirmed", "derived", "illustrative"}


def test_the_data_file_names_its_sources() -> None:
    raw = _raw()
    assert any("202/2025/QH15" in s for s in raw["sources"])
    assert any("20/2020/QĐ-TTg" in s for s in raw["sources"])
    assert set(raw["code_status"]) == {"confirmed", "derived", "illustrative"}


@pytest.mark.parametrize(
    ("code", "province"),
    [
        ("000.00.00.H29", "79"),
        ("000.00.03.H29", "79"),
        ("000.12.34.H29", "79"),  # a unit not listed still rolls up by its level-1 group
        ("000.00.00.H09", "79"),  # Bình Dương, merged into Hồ Chí Minh City
        ("000.00.00.K29", "79"),  # People's Council
        ("000.00.00.H57", "46"),
        ("000.00.00.G22", None),
        ("000.00.00.G01", None),
        ("000.00.00.H99", None),
        ("not a code", None),
    ],
)
def test_province_of(catalog: AgencyCatalog, code: str, province: str | None) -> None:
    assert catalog.province_of(code) == province


def test_get_unknown_and_malformed(catalog: AgencyCatalog) -> None:
    with pytest.raises(UnknownAgencyError) as unknown:
        catalog.get("000.00.99.H29", field="meta.source")
    assert (unknown.value.field, unknown.value.rule) == ("meta.source", "agency_code.known")
    with pytest.raises(ValidationError) as malformed:
        catalog.get("H29")
    assert malformed.value.rule == "agency_code.shape"
    assert catalog.find("000.00.99.H29") is None
    with pytest.raises(ValidationError):
        catalog.province("99")


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("000.00.00.G22", True),
        ("G22", False),
        ("000.00.00.g22", False),
        ("000..00.G22", False),
        ("000.00.00.G22.", False),
        ("0" * 21 + ".000.00.00.G22", True),  # 35 characters: a unit below level 4 adds groups on the left
        ("0" * 22 + ".000.00.00.G22", False),  # 36 characters
        ("0" * 31 + ".G22", False),  # not the groups of QCVN 102:2016
        ("000.00.3.H41", False),  # #19: a level-2 group of one character
        ("0000.00.00.H41", False),
        ("000.00.00.G2", False),
    ],
)
def test_agency_code_shape(code: str, ok: bool) -> None:
    assert is_agency_code(code) is ok
    if not ok:
        with pytest.raises(ValidationError, match="sender"):
            check_agency_code_shape(code, field="sender")


def test_malformed_catalog_data() -> None:
    raw = _raw()
    del raw["ministries"]
    with pytest.raises(ConfigError):
        catalog_from_json(raw)


def test_report_catalog_obligations() -> None:
    reports = load_report_catalog()
    quarter = Period(PeriodType.QUARTER, 2025, 3)
    expected = reports.expected(quarter)
    regimes = {o.report.code for o in expected}
    assert regimes == {r.code for r in reports.reports() if PeriodType.QUARTER in r.period_types}
    kstt = [o for o in expected if o.report.code == "BC-KSTT-01"]
    assert len(kstt) == 34 + 17  # every province and every ministry
    first = kstt[0]
    assert first.report_id == f"{first.agency}/BC-KSTT-01/2025-Q3"
    assert first.deadline_at == datetime(2025, 9, 20, 23, 59, 59, tzinfo=VIETNAM).astimezone(UTC)


def test_report_catalog_monthly_and_per_agency() -> None:
    reports = load_report_catalog()
    monthly = reports.expected(Period(PeriodType.MONTH, 2025, 2))
    assert {o.report.code for o in monthly} == {"BC-KTXH-01"}
    assert len(monthly) == 34
    assert monthly[0].deadline_at == datetime(2025, 2, 20, 16, 59, 59, tzinfo=UTC)
    assert "BC-KTXH-01" not in {r.code for r in reports.owed_by("000.00.00.G22")}
    assert "BC-KTXH-01" in {r.code for r in reports.owed_by("000.00.00.H29")}
    assert reports.get("BC-NONE") is None


def test_period_deadline_is_clamped_to_the_month() -> None:
    february = Period(PeriodType.MONTH, 2024, 2)
    assert february.day_of_last_month(31).day == 29
    assert Period(PeriodType.HALF_YEAR, 2025, 2).end.isoformat() == "2025-12-31"
    with pytest.raises(ValueError, match=r"1\.\.4"):
        Period(PeriodType.QUARTER, 2025, 5)


def test_malformed_report_catalog() -> None:
    data = {"reports": [{"code": "X", "name": "x", "period_types": ["MONTH"], "owed_by": ["communes"],
                         "deadline_day": 20, "indicators": []}]}  # fmt: skip
    with pytest.raises(ConfigError):
        report_catalog_from_json(data, load_catalog())
