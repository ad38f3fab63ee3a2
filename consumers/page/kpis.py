"""The indicators the page can colour the map by, and the colour classes of their values.

The columns are the scoreboard's (fixed in ARCHITECTURE.md, "Wave 2 names"); a column the scoreboard does not
answer yet is left out of the page rather than shown empty. The class breaks are the one place that decides a
tile's colour: the CSS only names the six classes (``.b0`` … ``.b5``, and ``.nodata``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Final

from consumers.page.text import Lang


@dataclass(frozen=True)
class Kpi:
    column: str
    vi: str
    en: str
    vi_note: str
    en_note: str

    def label(self, lang: Lang) -> str:
        return self.vi if lang is Lang.VI else self.en

    def note(self, lang: Lang) -> str:
        return self.vi_note if lang is Lang.VI else self.en_note


KPIS: Final = (
    Kpi("electronic_rate", "Văn bản điện tử", "Electronic documents",
        "Văn bản gửi dưới dạng điện tử / tổng văn bản gửi",
        "Documents sent electronically / all documents sent"),
    Kpi("electronic_only_rate", "Văn bản chỉ điện tử", "Electronic only",
        "Văn bản chỉ gửi điện tử, không kèm bản giấy", "Documents sent electronically with no paper copy"),
    Kpi("online_rate", "Hồ sơ trực tuyến", "Dossiers online",
        "Hồ sơ nộp trực tuyến / hồ sơ tiếp nhận", "Dossiers submitted online / dossiers received"),
    Kpi("full_online_rate", "Trực tuyến toàn trình", "Full-process online",
        "Hồ sơ trực tuyến toàn trình / hồ sơ tiếp nhận", "Full-process online dossiers / dossiers received"),
    Kpi("on_time_rate", "Giải quyết đúng hạn", "Resolved on time",
        "Hồ sơ giải quyết đúng hạn / hồ sơ đã giải quyết", "Dossiers resolved on time / dossiers resolved"),
    Kpi("digitised_rate", "Số hóa hồ sơ", "Digitised",
        "Hồ sơ được số hóa / hồ sơ tiếp nhận", "Digitised dossiers / dossiers received"),
    Kpi("report_completeness", "Báo cáo đầy đủ", "Reports filed",
        "Báo cáo đã nộp / báo cáo phải nộp", "Reports filed / reports owed"),
    Kpi("report_on_time_rate", "Báo cáo đúng hạn", "Reports on time",
        "Báo cáo nộp đúng hạn / báo cáo đã nộp", "Reports filed on time / reports filed"),
)  # fmt: skip
BY_COLUMN: Final = {kpi.column: kpi for kpi in KPIS}
DEFAULT: Final = "electronic_rate"

BREAKS: Final = (0.5, 0.65, 0.8, 0.9, 0.95)
"""Upper-open class bounds: below 50 %, 50–65 %, 65–80 %, 80–90 %, 90–95 %, 95 % and above (the plan
targets of 2019–2025 sit at 65, 85 and 95 %)."""
CLASSES: Final = len(BREAKS) + 1


def colour_class(value: float | None) -> str:
    """The CSS class of a tile or a legend entry: ``b0`` (lowest) … ``b5``, or ``nodata``."""
    return "nodata" if value is None else f"b{bisect_right(BREAKS, value)}"


def class_ranges() -> list[tuple[str, float, float]]:
    """``(class, low, high)`` of each colour class, lowest first (for the legend)."""
    bounds = (0.0, *BREAKS, 1.0)
    return [(f"b{i}", bounds[i], bounds[i + 1]) for i in range(CLASSES)]


def available(columns: tuple[str, ...]) -> list[Kpi]:
    """The page's indicators that the scoreboard answers (its ``columns``)."""
    return [kpi for kpi in KPIS if kpi.column in columns]
