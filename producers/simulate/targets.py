"""Target rates the simulator is calibrated to: ``producers/data/province_targets.csv``.

One row per province (by statistics code) and one row, keyed ``ministries``, for every ministry and central
body. The file's comment header names the published figures each value comes from; everything else is an
illustrative spread around those figures. Rates are probabilities; volumes are per calendar day at scale 1.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from pathlib import Path

from bus.errors import ConfigError
from bus.types import ProvinceCode

MINISTRIES_KEY = "ministries"
_TEXT_COLUMNS = ("key", "name", "provenance")

_RATE_COLUMNS = (
    "electronic_rate",
    "dual_form_share",
    "signed_rate",
    "online_share",
    "full_process_share",
    "postal_share",
    "digitised_rate",
    "on_time_rate",
    "fees_online_rate",
    "report_late_rate",
    "report_missed_rate",
    "report_revised_rate",
)


@dataclass(frozen=True, slots=True)
class Targets:
    """Target rates and volumes of one province, or of the ministries as a whole."""

    key: str
    name: str
    documents_per_day: float
    dossiers_per_day: float
    electronic_rate: float
    """Documents sent electronically, with or without a paper copy / all documents (the electronic-document
    rate of ``bus/kpis.py`` and of the seeds' figures)."""
    dual_form_share: float
    """Of the documents sent electronically, those also sent on paper (ELECTRONIC_AND_PAPER)."""
    signed_rate: float
    """Of the documents sent electronically (only or with paper), those digitally signed."""
    online_share: float
    full_process_share: float
    """Dossiers ONLINE at the FULL level / dossiers received (the KPI); at most ``online_share``."""
    postal_share: float
    digitised_rate: float
    on_time_rate: float
    fees_online_rate: float
    report_late_rate: float
    report_missed_rate: float
    """Periodic reports never filed / reports owed."""
    report_revised_rate: float
    provenance: str

    def __post_init__(self) -> None:
        for name in _RATE_COLUMNS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"province targets {self.key}: {name}={value} is not a rate in [0, 1]")
        if self.full_process_share > self.online_share:
            raise ConfigError(f"province targets {self.key}: full_process_share exceeds online_share")
        if self.online_share + self.postal_share > 1.0:
            raise ConfigError(f"province targets {self.key}: online_share + postal_share exceeds 1")
        if self.documents_per_day < 0 or self.dossiers_per_day < 0:
            raise ConfigError(f"province targets {self.key}: volumes must not be negative")


@dataclass(frozen=True)
class TargetTable:
    """All rows of the targets file."""

    provinces: Mapping[ProvinceCode, Targets]
    ministries: Targets
    source: str

    def __iter__(self) -> Iterator[Targets]:
        yield from self.provinces.values()
        yield self.ministries

    def of(self, province: ProvinceCode | None) -> Targets:
        """The row of ``province``, or the ministries' row for None."""
        if province is None:
            return self.ministries
        try:
            return self.provinces[province]
        except KeyError:
            raise ConfigError(f"province targets have no row for province {province!r}") from None


def default_targets_path() -> Path:
    """The packaged targets file."""
    return Path(str(resources.files("producers").joinpath("data/province_targets.csv")))


@cache
def load_targets(path: Path | None = None) -> TargetTable:
    """Parse the targets file (default: the packaged one); ConfigError naming the problem if malformed."""
    path = path or default_targets_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read province targets {path}: {exc}") from exc
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return _table(list(csv.DictReader(rows)), str(path))


def _table(rows: list[dict[str, str]], source: str) -> TargetTable:
    parsed = [_row(row, source, index) for index, row in enumerate(rows, start=1)]
    keys = [row.key for row in parsed]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{source}: a key appears twice")
    ministries = [row for row in parsed if row.key == MINISTRIES_KEY]
    if len(ministries) != 1:
        raise ConfigError(f"{source}: needs exactly one `{MINISTRIES_KEY}` row")
    provinces = {ProvinceCode(row.key): row for row in parsed if row.key != MINISTRIES_KEY}
    return TargetTable(provinces=provinces, ministries=ministries[0], source=source)


def _row(row: dict[str, str], source: str, index: int) -> Targets:
    def cell(name: str) -> str:
        raw = row.get(name)
        if raw is None:
            raise ConfigError(f"{source} row {index}: column {name!r} is missing")
        return raw.strip()

    def number(name: str) -> float:
        try:
            value = float(cell(name))
        except ValueError:
            raise ConfigError(f"{source} row {index}: {name}={cell(name)!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{source} row {index}: {name} is not finite")
        return value

    numbers = {f.name: number(f.name) for f in fields(Targets) if f.name not in _TEXT_COLUMNS}
    return Targets(key=cell("key"), name=cell("name"), provenance=cell("provenance"), **numbers)
