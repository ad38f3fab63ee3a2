"""Screenshots of the national page over a view store, as the browser test takes them (how the README's
pictures in docs/img/ were made):

    .venv/bin/python -m tests.page_screenshots STORE.db OUTDIR [PROVINCE]
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.page_server import serving

CHROMIUM = "/usr/bin/chromium"


def take(store: Path, out: Path, province: str = "79") -> list[Path]:
    """``page.png`` (the map by dossiers online, ``province`` compared in the trends) and ``province.png``."""
    out.mkdir(parents=True, exist_ok=True)
    shots = [("page.png", f"/?kpi=online_rate&compare={province}"), ("province.png", f"/province/{province}")]
    with serving(store) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="vi-VN")
            for name, path in shots:
                page.goto(url + path)
                page.screenshot(path=str(out / name), full_page=True)
        finally:
            browser.close()
    return [out / name for name, _ in shots]


if __name__ == "__main__":
    print("\n".join(str(p) for p in take(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])))
