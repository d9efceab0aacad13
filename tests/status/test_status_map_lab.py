"""The status page's live map and problem list in real headless Chromium, on the lab.

The suite network of lab/quality.py (seven sites of the real inventory, with their real
coordinates) runs as real snmpsim agents; the collector runs in this test's event loop.
Quiet, the map draws every site and every link, the problem list says there is none and
the healthy sites are folded into their count. The lab then cuts fibre Q01 (core — Đồng
Đăng hub): without a reload, the hub and the three gates behind it turn isolated on the
map and head the problem list "behind link Q01", Q01 is drawn as the root cause, and the
other sites stay up. A click on a site opens its details. On a phone-sized viewport the
page does not scroll sideways and the problems come first, the map under them. Screenshots of
the three states are written to the test's tmp dir, and to docs/ with
BORDERWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from chromium import Chromium, Page
from runtime_helpers import running_service, wait_until

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.quality import COMMUNITY_VAR, REPO, LabProcess, free_port, inventory_data

pytestmark = pytest.mark.slow

PAGE_WAIT = 60.0  # the page refreshes every 3 s; a poll interval is 4 s, a fault takes a few
CUT_OFF = ("hub-dongdang", "bg-huunghi", "bg-cocnam", "bg-tanthanh")
MAP_SITES_JS = """Object.fromEntries([...document.querySelectorAll('#map [data-map-site]')]
    .map(e => [e.dataset.mapSite, e.dataset.status]))"""
PROBLEMS_JS = """[...document.querySelectorAll('#problem-list li')]
    .map(e => [e.dataset.problem, e.dataset.problemSite || e.dataset.problemLink || '',
               e.textContent])"""


def _lab_inventory(directory: Path) -> Path:
    """The suite network without alerts, each site at its coordinates in inventory.yaml."""
    data = inventory_data(free_port(), "http://127.0.0.1:9/unused")
    del data["alerts"]  # the map and the problem list need no alert configuration
    real = {s.id: s for s in load_inventory(REPO / "inventory.yaml",
                                            resolve_secrets=False).sites}
    for site in data["sites"]:
        site["lat"], site["lon"] = real[site["id"]].lat, real[site["id"]].lon
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


@pytest_asyncio.fixture
async def lab(tmp_path: Path) -> AsyncIterator[tuple[LabProcess, Path, dict[str, str]]]:
    inventory = _lab_inventory(tmp_path)
    community = "m-" + os.urandom(6).hex()
    lab = LabProcess(inventory, tmp_path / "lab", community)
    await asyncio.to_thread(lab.start)
    try:
        yield lab, inventory, {COMMUNITY_VAR: community}
    finally:
        await asyncio.to_thread(lab.stop)


async def _map_is(page: Page, wanted: dict[str, str], what: str) -> dict[str, str]:
    expr = f"(() => {{ const s = {MAP_SITES_JS}; const w = {json.dumps(wanted)};" \
           " return Object.keys(w).every(k => s[k] === w[k]) ? s : null; })()"
    return await page.wait_for(expr, PAGE_WAIT, what)


def _console_errors(events: list[dict]) -> list[str]:
    return [f"{e['method']}: {e.get('params')}" for e in events
            if e["method"] == "Runtime.exceptionThrown"
            or (e["method"] == "Runtime.consoleAPICalled"
                and e.get("params", {}).get("type") in ("error", "assert"))]


async def _shot(page: Page, tmp_path: Path, name: str) -> None:
    shot = await page.screenshot(tmp_path / f"status-{name}.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("BORDERWATCH_UPDATE_SCREENSHOTS") == "1":
        await asyncio.to_thread(shutil.copy, shot, REPO / "docs" / shot.name)


async def test_map_and_problems_follow_a_fibre_cut(
        lab: tuple[LabProcess, Path, dict[str, str]], tmp_path: Path) -> None:
    process, inventory, env = lab
    inv = load_inventory(inventory, resolve_secrets=False)
    everyone_up = {s.id: "up" for s in inv.sites}
    async with running_service(inventory, env) as service:
        await wait_until(lambda: all(s.up for s in service.state.device_snapshots()),
                         within=PAGE_WAIT, what="every lab device answering")
        async with Chromium.launch(tmp_path / "chromium") as browser, browser.page() as page:
            await page.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                            deviceScaleFactor=1, mobile=False)
            await page.navigate(f"{service.http.url}/status")
            assert await _map_is(page, everyone_up, "every site up on the map") == everyone_up
            assert await page.evaluate(
                "document.querySelectorAll('#map [data-map-link]').length") == len(inv.links)
            assert await page.evaluate(PROBLEMS_JS) == [
                ["none", "", "Không có sự cố / no problems"]]
            assert await page.evaluate(  # healthy sites folded into their count
                "document.querySelector('details[data-group=up]').open") is False
            assert await page.evaluate(
                "document.querySelector('details[data-group=up] h2').textContent") \
                == f"Hoạt động / up ({len(inv.sites)})"
            await _shot(page, tmp_path, "quiet")

            await page.evaluate("window.__noReload = 'still here'")
            await process.fault("cut_link", "Q01")
            cut = {**everyone_up, **dict.fromkeys(CUT_OFF, "isolated")}
            assert await _map_is(page, cut, "the hub and its gates isolated on the map") == cut
            root = await page.wait_for(
                "[...document.querySelectorAll('#map [data-root-cause=true]')]"
                ".map(e => e.dataset.mapLink).join(',') || null",
                PAGE_WAIT, "link Q01 drawn as the root cause")
            assert root == "Q01"
            assert await page.evaluate(
                "document.querySelector('#map [data-map-link=Q01]').dataset.state") == "down"
            problems = await page.evaluate(PROBLEMS_JS)
            isolated = [p for p in problems if p[0] == "isolated"]
            assert sorted(p[1] for p in isolated) == sorted(CUT_OFF)
            assert problems[:len(CUT_OFF)] == isolated  # the worst first
            assert all("sau / behind: tuyến / link Q01" in p[2] for p in isolated)
            assert ["link", "Q01"] in [p[:2] for p in problems]
            assert await page.evaluate("window.__noReload") == "still here"

            # a click on a site of the map opens its details (its devices, why isolated)
            await page.evaluate(
                "document.querySelector('#map [data-map-site=\"bg-cocnam\"]')"
                ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
            detail = await page.wait_for(
                "(() => { const d = document.querySelector('#site-detail [data-detail-site]');"
                " return d && !d.closest('[hidden]') ? d.textContent : null; })()",
                PAGE_WAIT, "the site's details")
            assert "Cửa khẩu Cốc Nam" in detail and "sau / behind: tuyến / link Q01" in detail
            await _shot(page, tmp_path, "cut")

            await page.send("Emulation.setDeviceMetricsOverride", width=390, height=844,
                            deviceScaleFactor=2, mobile=True)
            await page.wait_for("document.documentElement.clientWidth === 390", PAGE_WAIT,
                                "the phone-sized viewport")
            await asyncio.sleep(3.5)  # one refresh: the map redraws its sizes for the phone
            assert await page.evaluate(  # nothing scrolls sideways on a phone
                "document.documentElement.scrollWidth") <= 390
            map_box, problems_box = await page.evaluate(
                "['map', 'problems'].map(id => { const r = document.getElementById(id)"
                ".getBoundingClientRect(); return [r.left, r.top, r.width]; })")
            assert problems_box[1] < map_box[1]  # one column, the problems first
            assert map_box[2] <= 390
            await _shot(page, tmp_path, "phone")

            await process.fault("restore_link", "Q01")
            assert await _map_is(page, everyone_up, "every site up again") == everyone_up
            assert _console_errors(page.events) == []
