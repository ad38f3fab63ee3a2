"""The page's words (Vietnamese first, English available) and its number and date formats.

Numbers follow ``vi-VN`` in Vietnamese (``1.234``, ``86,5 %``, dates ``05/12/2026``) and ``en`` otherwise.
Every label the page shows is here, once, under one key for both languages.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Final


class Lang(StrEnum):
    VI = "vi"
    EN = "en"


TEXT: Final[dict[str, tuple[str, str]]] = {
    # key: (Vietnamese, English)
    "title": ("Bảng điều hành chính quyền điện tử", "E-government scoreboard"),
    "subtitle": (
        "Nền tảng LGSP · 34 tỉnh, thành phố (từ 01/7/2025)",
        "LGSP bus · 34 provinces (since 1 July 2025)",
    ),
    "nation": ("Cả nước", "Nation"),
    "central": ("Trung ương", "Central agencies"),
    "kpi": ("Chỉ tiêu", "Indicator"),
    "map": ("Bản đồ", "Map"),
    "map_label": (
        "Bản đồ ô lưới 34 tỉnh, thành phố, tô màu theo chỉ tiêu {kpi}. "
        "Bảng xếp hạng bên cạnh có cùng số liệu.",
        "Tile map of the 34 provinces, coloured by {kpi}. The ranking beside it holds the same numbers.",
    ),
    "map_note": (
        "Mỗi ô là một tỉnh, thành phố, đặt theo vị trí địa lý tương đối.",
        "One tile per province, placed roughly where it lies.",
    ),
    "legend": ("Chú giải", "Legend"),
    "no_data": ("Chưa có số liệu", "No data"),
    "ranking": ("Xếp hạng", "Ranking"),
    "province": ("Tỉnh, thành phố", "Province"),
    "value": ("Giá trị", "Value"),
    "trends": ("Diễn biến theo thời gian", "Trends"),
    "trend_compare": ("So sánh với", "Compare with"),
    "none": ("(không)", "(none)"),
    "by_month": ("Theo tháng", "By month"),
    "by_day": ("Theo ngày", "By day"),
    "show": ("Xem", "Show"),
    "period": ("Kỳ", "Period"),
    "live": ("Trực tiếp", "Live"),
    "updated": ("Cập nhật lúc", "Updated at"),
    "language": ("English", "Tiếng Việt"),
    "skip": ("Bỏ qua, tới nội dung chính", "Skip to the content"),
    "open_province": ("Mở trang {name}", "Open {name}"),
    "back": ("← Toàn quốc", "← Nation"),
    "merged_from": ("Hợp nhất từ", "Merged from"),
    "agencies": ("Cơ quan, đơn vị", "Agencies"),
    "agency": ("Cơ quan", "Agency"),
    "unit_other": ("Đơn vị khác", "Other unit"),
    "documents_sent": ("Văn bản đi", "Documents sent"),
    "dossiers_received": ("Hồ sơ tiếp nhận", "Dossiers received"),
    "dossiers_by_status": ("Hồ sơ theo trạng thái", "Dossiers by status"),
    "dossiers_by_procedure": ("Hồ sơ theo thủ tục hành chính", "Dossiers by procedure"),
    "procedure": ("Thủ tục", "Procedure"),
    "status": ("Trạng thái", "Status"),
    "count": ("Số lượng", "Count"),
    "reports": ("Nghĩa vụ báo cáo", "Report obligations"),
    "report": ("Báo cáo", "Report"),
    "filed_on_time": ("Đúng hạn", "On time"),
    "filed_late": ("Trễ hạn", "Late"),
    "missing": ("Chưa nộp, quá hạn", "Missing"),
    "due_later": ("Chưa đến hạn", "Due later"),
    "evidence": ("Bằng chứng", "Evidence"),
    "signed_records": ("Các bản ghi đã ký phía sau", "The signed records behind it"),
    "evidence_of": ("Các sự kiện sau {what}", "Events behind {what}"),
    "events": ("sự kiện", "events"),
    "of": ("trên", "of"),
    "no_rows": ("Chưa có dữ liệu.", "Nothing yet."),
    "top_note": ("{shown} trên {total} thủ tục nhiều hồ sơ nhất", "Top {shown} of {total} procedures"),
    "data_table": ("Bảng số liệu", "Data table"),
    "chart_label": ("{kpi}: {series}, {first} đến {last}", "{kpi}: {series}, {first} to {last}"),
    "api": ("Dữ liệu: API JSON", "Data: JSON API"),
    "points_vs_nation": ("{points} điểm so với cả nước", "{points} points against the nation"),
    "no_values": (
        "Chưa có số liệu trong các kỳ này (báo cáo được tính theo kỳ báo cáo: xem theo tháng).",
        "No values in these periods (reports count per reporting period: see by month).",
    ),
}

STATUS_TEXT: Final[dict[str, tuple[str, str]]] = {
    "REGISTERED": ("Mới đăng ký", "Registered"),
    "ACCEPTED": ("Đã tiếp nhận", "Accepted"),
    "NOT_ACCEPTED": ("Không tiếp nhận", "Not accepted"),
    "PROCESSING": ("Đang xử lý", "Processing"),
    "SUPPLEMENT_REQUESTED": ("Yêu cầu bổ sung", "Supplement requested"),
    "FINANCIAL_OBLIGATION_REQUESTED": ("Chờ thực hiện nghĩa vụ tài chính", "Awaiting fees"),
    "WITHDRAWN": ("Công dân rút hồ sơ", "Withdrawn"),
    "STOPPED": ("Dừng xử lý", "Stopped"),
    "RESOLVED": ("Đã giải quyết", "Resolved"),
    "RETURNED": ("Đã trả kết quả", "Result returned"),
    "UNKNOWN": ("Không rõ", "Unknown"),
}


def t(lang: Lang, key: str, **values: str) -> str:
    """The text ``key`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    vi, en = TEXT[key]
    text = vi if lang is Lang.VI else en
    return text.format(**values) if values else text


def status_text(lang: Lang, status: str) -> str:
    """The name of a dossier status code."""
    vi, en = STATUS_TEXT.get(status, (status, status))
    return vi if lang is Lang.VI else en


def fmt_int(lang: Lang, value: int) -> str:
    """``1.234`` (vi-VN) or ``1,234`` (en)."""
    text = f"{value:,d}"
    return text.replace(",", ".") if lang is Lang.VI else text


def fmt_rate(lang: Lang, value: float | None, *, digits: int = 1) -> str:
    """A 0–1 fraction as a percentage: ``86,5 %`` (vi-VN, a no-break space) or ``86.5%``; ``—`` for None."""
    if value is None:
        return "—"
    text = f"{value * 100:.{digits}f}"
    return text.replace(".", ",") + "\u00a0%" if lang is Lang.VI else text + "%"


def fmt_day(lang: Lang, day: str) -> str:
    """``2025-07-03`` as ``03/07/2025`` (vi-VN) or ``3 Jul 2025``; a month ``2025-07`` as ``07/2025`` or
    ``Jul 2025``."""
    if len(day) == 7:
        parsed = date.fromisoformat(day + "-01")
        return f"{parsed.month:02d}/{parsed.year}" if lang is Lang.VI else parsed.strftime("%b %Y")
    parsed = date.fromisoformat(day)
    return (
        f"{parsed.day:02d}/{parsed.month:02d}/{parsed.year}"
        if lang is Lang.VI
        else parsed.strftime("%-d %b %Y")
    )


def fmt_short_period(lang: Lang, period: str) -> str:
    """An axis label: ``T7`` / ``Jul`` for a month, ``03/07`` / ``3 Jul`` for a day."""
    if len(period) == 7:
        parsed = date.fromisoformat(period + "-01")
        return f"T{parsed.month}/{parsed.year % 100:02d}" if lang is Lang.VI else parsed.strftime("%b %y")
    parsed = date.fromisoformat(period)
    return f"{parsed.day:02d}/{parsed.month:02d}" if lang is Lang.VI else parsed.strftime("%-d %b")
