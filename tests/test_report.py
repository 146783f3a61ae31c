"""The HTML report, read as a person would: rendered in headless Chromium, each category of results opened and each
figure's "eye" button pressed; every figure must then be shown as a decoded PNG, and the tidy table as a page."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import install_system_packages
from iftforget.analysis.figure_plan import FIGURE_CATEGORIES
from iftforget.analysis.tables import POOLED_COLUMNS, UNIT_COLUMNS
from test_figures_from_cache import FROM_CACHE, cached_results, run_in

pytestmark = pytest.mark.system

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
# Injected into a copy of the report: clicks through the report's menu like a reader and records what is shown.
READER = (Path(__file__).parent / "report_reader.js").read_text()


def chromium(config: pytest.Config) -> str:
    """The Chromium binary; installed from Debian's archive when missing (skipped only if that is impossible)."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    install_system_packages(config, ["chromium"], "headless browser for tests/test_report.py", recommends=True)
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium, but there is no `chromium` on PATH")
    return found


def read_report(report: Path, workdir: Path, browser: str) -> dict:
    """Open the report in headless Chromium, let the reader script click through it, and return what it saw."""
    page = report.read_text()
    end = page.rfind("</body>")
    reading = workdir / "report-read.html"
    reading.write_text(page[:end] + f"<script>{READER}</script>" + page[end:])
    profile = workdir / "chromium-profile"
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=300000", "--dump-dom",
         reading.as_uri()],
        capture_output=True, text=True, timeout=300,
    )
    marker = '<pre id="reader-log">'
    start = result.stdout.rfind(marker)
    assert start >= 0, f"the report did not render in Chromium:\n{result.stderr[-3000:]}"
    log = result.stdout[start + len(marker):]
    return json.loads(html.unescape(log[: log.index("</pre>")]))


def test_report_shows_every_figure_and_the_tidy_table(tmp_path, pytestconfig):
    layout = cached_results(tmp_path, seeds=[0, 1])
    report = tmp_path / "report.html"
    run_in(tmp_path, *FROM_CACHE, "--report", str(report), "--report-after-run")
    seen = read_report(report, tmp_path, chromium(pytestconfig))
    assert seen["error"] is None, seen["error"]

    # The menu: one category per kind of figure the grid has, in the numbered order, then the tables.
    kinds = {kind for _, kind, _, _ in layout.figure_specs()}
    numbered = sorted([FIGURE_CATEGORIES[kind] for kind in kinds] + [FIGURE_CATEGORIES["table"]],
                      key=lambda name: int(name.split(".")[0]))
    assert seen["categories"] == numbered, " | ".join(seen["categories"])  # one string: pytest cuts lists short
    assert {"pooled_scores", "scores", "decomposition", "transitions"} <= kinds  # the figures the study reads
    shown_pngs = {}
    for view in seen["shown"]:
        if view["format"] == "PNG":
            assert len(view["images"]) == 1, view
            image = view["images"][0]
            shown_pngs[(view["subcategory"], image["file"])] = image
    # A category with a single subcategory opens straight onto its files (no subcategory link to press).
    specs = [(kind, subcategory, Path(path).name) for path, kind, subcategory, _ in layout.figure_specs()
             if path.endswith(".png")]
    subcategories = {kind: {subcategory for k, subcategory, _ in specs if k == kind} for kind in kinds}
    expected = {(subcategory if len(subcategories[kind]) > 1 else None, name) for kind, subcategory, name in specs}
    assert set(shown_pngs) == expected
    # Decoded images of a readable size at a column width (about 1000 px at 300 dpi).
    assert all(image["width"] >= 600 and image["height"] >= 300 for image in shown_pngs.values())

    tables = [page for view in seen["shown"] for page in view["pages"]]
    assert [page["file"] for page in tables] == ["forgetting.html", "pooled.html"]
    for page, columns in zip(tables, (UNIT_COLUMNS, POOLED_COLUMNS), strict=True):
        assert all(f"<th>{column}</th>" in page["text"] for column in columns), page["file"]
    assert "<td>residual</td>" in tables[0]["text"]  # the reader keeps the first 12,000 characters of a page
