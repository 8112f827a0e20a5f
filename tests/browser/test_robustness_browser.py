"""The robustness lab in real headless Chromium: every tab click takes effect.

Streamlit resets a widget whose parameters change between runs; the tabs' default once followed
the URL (which follows the tab), so the run after each click reset them and every other click
was lost: the tab, its content and the URL all stayed put.

The lab opens on 50 test digits (`n=50`, the smallest setting): which tab a click opens does not
depend on how many digits the transfer matrix behind it attacks, and 1,000 made every visit to
that tab a computation.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import RunLog, open_page

pytestmark = pytest.mark.browser

COMPUTE_MS = 240_000
TAB_LABELS = {"curves": "Accuracy vs ε", "training": "Adversarial training",
              "transfer": "Transferability"}


def test_every_tab_click_takes_effect(browser: Any, app_server: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(COMPUTE_MS)
    log = RunLog.of(page)
    try:
        open_page(page, app_server, "/robustness?section=curves&n=50")
        for section in ("training", "transfer", "curves", "training", "curves", "transfer"):
            before = time.perf_counter()
            page.get_by_role("tab", name=TAB_LABELS[section]).click()
            log.settle(after=before, timeout_s=COMPUTE_MS / 1000)
            selected = page.get_by_role("tab", selected=True).inner_text()
            assert TAB_LABELS[section] in selected, (section, selected)
            assert f"section={section}" in page.url, (section, page.url)
    finally:
        context.close()
