"""The HTML report in real headless Chromium, opened from a file with the network unused:
no console error, no request beyond the file itself, every site of the repository's
inventory on the map (one SVG circle each), in Vietnamese and in English. The screenshots
are written to the test's tmp dir, and the top of the page to docs/ with
BORDERWATCH_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import pytest
from demo_month import END, START, write_demo_month
from report_history import REPO, run_report

sys.path.insert(0, str(REPO / "tests" / "status"))
from chromium import Chromium

from borderwatch.collector.inventory import load_inventory
from borderwatch.reports.period import Period

INVENTORY = REPO / "inventory.yaml"
PAGE_WAIT = 60.0


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_month(INVENTORY, tmp_path_factory.mktemp("month") / "history.sqlite")


def _problems(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions, failed loads and any request to the network."""
    out = []
    for e in events:
        method, params = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            out.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent" and \
                not params["request"]["url"].startswith(("file:", "data:", "about:")):
            out.append(f"network request: {params['request']['url']}")
        elif method == "Network.loadingFailed":
            out.append(f"load failed: {params.get('errorText')}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_html_report_in_chromium(month: Path, tmp_path: Path, lang: str) -> None:
    p = Period(START, END)
    html = tmp_path / f"report-{lang}.html"
    result = run_report(["--from", p.label(START, False), "--to", p.label(END, False),
                         "--inventory", str(INVENTORY), "--history", str(month),
                         "--lang", lang, "-o", str(html)])
    assert result.returncode == 0, result.stderr
    inv = load_inventory(INVENTORY, resolve_secrets=False)
    sites = {s.id for s in inv.sites}
    async with Chromium.launch(tmp_path / "chromium") as browser, browser.page() as page:
        await page.send("Log.enable")
        await page.send("Network.enable")
        await page.send("Emulation.setDeviceMetricsOverride", width=1000, height=900,
                        deviceScaleFactor=1, mobile=False)
        await page.navigate(html.as_uri())
        await page.wait_for("document.readyState === 'complete'", PAGE_WAIT, "the page loaded")
        on_map = await page.evaluate(
            "[...document.querySelectorAll('svg.map circle.site')].map(c => c.dataset.siteId)")
        assert sorted(on_map) == sorted(sites)
        assert await page.evaluate("document.querySelectorAll('svg.map line.link').length") \
            == len(inv.links)
        assert await page.evaluate("document.documentElement.lang") == lang
        body = await page.evaluate("document.body.innerText")
        thanhloa = next(s for s in inv.sites if s.id == "bp-thanhloa")
        assert (thanhloa.name if lang == "vi" else thanhloa.name_en) in body
        heading = {"vi": "Điểm lỗi đơn (N-1)", "en": "Single points of failure (N-1)"}[lang]
        assert heading in body
        # the outage timeline has a row per site that was not up all month
        assert await page.evaluate(
            "document.querySelectorAll('svg.timeline rect.seg.isolated').length") >= 3
        await page.screenshot(tmp_path / f"report-{lang}.png")
        # print to PDF on A4 (inches) with the print stylesheet: a multi-page document
        pdf = base64.b64decode((await page.send(
            "Page.printToPDF", within=120.0, paperWidth=8.27, paperHeight=11.69,
            preferCSSPageSize=True, printBackground=True))["data"])
        (tmp_path / f"report-{lang}.pdf").write_bytes(pdf)
        assert pdf.startswith(b"%PDF")
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3  # pages, not the /Pages tree
        box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
        assert box and round(float(box[1])) == 595 and round(float(box[2])) == 842  # A4, pt
        assert _problems(page.events) == []
        if os.environ.get("BORDERWATCH_UPDATE_SCREENSHOTS") == "1":
            # the docs show the first screens (map, availability): the whole page is ~8 MP
            shot = await page.send("Page.captureScreenshot", format="png",
                                   captureBeyondViewport=True, clip={
                                       "x": 0, "y": 0, "width": 1000, "height": 2300,
                                       "scale": 1})
            (REPO / "docs" / f"report-{lang}.png").write_bytes(base64.b64decode(shot["data"]))
