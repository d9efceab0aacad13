"""The status page in real headless Chromium against the real collector and real snmpd.

Four sites (status_world): the hub and the border post behind it reach snmpd through UDP
fault proxies. The test opens /status, checks the sites' Vietnamese names and statuses in
the DOM, blackholes the two proxies, and waits for the page to show the hub down and the
post isolated behind it WITHOUT a reload (a marker set on `window` must survive), then
lets the traffic through again and waits for the page to recover. A screenshot of the
outage is saved in the test's tmp dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium import Chromium, Page
from fakes.udp_proxy import UdpProxy
from runtime_helpers import find_leaks, running_service, wait_until
from servers import start_snmpd
from status_world import SITES, canaries, env_for, snmpd_conf, write_inventory

DEFAULTS = {"interval": 1, "timeout": 0.4, "retries": 1}  # a dead device is seen in ~1 s
BEHIND_PROXY = ("dd-agg1", "bptl-sw1")
PAGE_WAIT = 30.0  # seconds; the page refreshes every 3 s, polls every 1 s

STATUSES_JS = """Object.fromEntries([...document.querySelectorAll('[data-site-id]')]
    .map(e => [e.dataset.siteId, e.dataset.status]))"""
NAMES_JS = "[...document.querySelectorAll('.site .name')].map(e => e.textContent)"


async def _statuses_are(page: Page, wanted: dict[str, str], what: str) -> dict[str, str]:
    expr = f"(() => {{ const s = {STATUSES_JS}; const w = {json.dumps(wanted)};" \
           " return Object.keys(w).every(k => s[k] === w[k]) ? s : null; })()"
    return await page.wait_for(expr, PAGE_WAIT, what)


@pytest.mark.slow
async def test_status_page_renders_and_follows_a_device_going_down(tmp_path: Path) -> None:
    communities = canaries()
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf=snmpd_conf(communities))
    proxies: dict[str, UdpProxy] = {}
    try:
        for device_id in BEHIND_PROXY:
            proxies[device_id] = await UdpProxy.start(snmpd.endpoint)
        endpoints = {d: proxies[d].endpoint if d in proxies else snmpd.endpoint
                     for d in communities}
        inv = write_inventory(tmp_path / "inventory.yaml", endpoints, defaults=DEFAULTS)
        async with running_service(inv, env_for(communities)) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()),
                             within=20, what="every device answering")
            async with Chromium.launch(tmp_path / "chromium") as browser, \
                    browser.page() as page:
                await page.navigate(f"{service.http.url}/status")
                await page.wait_for("document.querySelectorAll('[data-site-id]').length === 4",
                                    PAGE_WAIT, "the four sites on the page")
                assert await page.evaluate("document.characterSet") == "UTF-8"
                names = await page.evaluate(NAMES_JS)
                assert sorted(names) == sorted(s["name"] for s in SITES)
                assert "Đồn Biên phòng Thanh Lòa" in names  # NFC text, as in the inventory
                up = {s["id"]: "up" for s in SITES}
                await _statuses_are(page, up, "every site up")
                assert await page.evaluate(
                    "document.querySelector('[data-group=up] h2').textContent") \
                    == "Hoạt động / up (4)"
                assert await page.evaluate("document.getElementById('conn').className") == "ok"
                assert await page.evaluate(
                    "document.querySelector('#links .empty') !== null"), "no link is down"
                # No alerts engine runs in the service, so no alerts section may be shown.
                assert await page.evaluate("document.body.innerText.toLowerCase()"
                                           ".includes('alert')") is False

                await page.evaluate("window.__noReload = 'still here'")
                first_generated = await page.evaluate("document.body.dataset.generatedAt")
                for proxy in proxies.values():
                    proxy.to_agent.blackhole = True
                seen = await _statuses_are(
                    page, {"core-ls": "up", "xa-yt": "up", "hub-dd": "down",
                           "bp-tl": "isolated"}, "hub down and the post isolated behind it")
                assert seen == {"core-ls": "up", "hub-dd": "down", "bp-tl": "isolated",
                                "xa-yt": "up"}
                assert await page.evaluate("window.__noReload") == "still here"
                assert await page.evaluate("document.body.dataset.generatedAt") \
                    != first_generated
                hub_device = await page.evaluate(
                    "document.querySelector('[data-device-id=\"dd-agg1\"]').textContent")
                assert "không trả lời / down" in hub_device and "timeout" in hub_device
                behind = await page.evaluate(
                    "document.querySelector('[data-site-id=\"bp-tl\"] .why').textContent")
                assert behind == "sau / behind: Nút truyền dẫn Đồng Đăng"
                order = await page.evaluate(
                    "[...document.querySelectorAll('[data-group]')].map(e => e.dataset.group)")
                assert order == ["down", "isolated", "up"]  # worst first
                html = await page.evaluate("document.documentElement.outerHTML")
                assert find_leaks(html, communities.values()) == []
                shot = await page.screenshot(tmp_path / "status-outage.png")
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                print(f"screenshot: {shot}")

                for proxy in proxies.values():
                    proxy.to_agent.blackhole = False
                await _statuses_are(page, up, "every site up again")
                assert await page.evaluate("window.__noReload") == "still here"
    finally:
        for proxy in proxies.values():
            proxy.close()
        snmpd.stop()


@pytest.mark.slow
async def test_status_page_lists_a_link_down(tmp_path: Path, snmpsim_dumps) -> None:
    """yt-sw1 is a real Cisco C3560 dump (snmpsim) whose Gi0/1 is operationally down: the
    site answers (up), and link L3 that ends on Gi0/1 is listed as down with its reason."""
    communities = canaries()
    communities["yt-sw1"] = snmpsim_dumps.community_for("cisco-c3560")
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf=snmpd_conf(communities))
    try:
        endpoints = {d: snmpd.endpoint for d in communities} | {"yt-sw1": snmpsim_dumps.endpoint}
        inv = write_inventory(tmp_path / "inventory.yaml", endpoints,
                              defaults={"interval": 2, "timeout": 1.5, "retries": 0},
                              interfaces={"yt-sw1": "Gi0/1"})
        async with running_service(inv, env_for(communities)) as service:
            await wait_until(lambda: {lk.link_id: lk.state
                                      for lk in service.state.link_snapshots()}["L3"] == "down",
                             within=20, what="link L3 seen down by the collector")
            async with Chromium.launch(tmp_path / "chromium") as browser, \
                    browser.page() as page:
                await page.navigate(f"{service.http.url}/status")
                row = await page.wait_for(
                    "(() => { const r = document.querySelector('#links [data-link-id=L3]');"
                    " return r && [...r.cells].map(c => c.textContent); })()",
                    PAGE_WAIT, "link L3 in the links-down table")
                assert row[:3] == ["L3", "Trung tâm điều hành Lạng Sơn ↔ Trạm xã Yên Trạch",
                                   "fiber"]
                assert "yt-sw1 Gi0/1 down" in row[3]
                assert await page.evaluate("document.querySelectorAll('#links tr[data-link-id]')"
                                           ".length") == 1
                statuses = await page.evaluate(STATUSES_JS)
                assert statuses["xa-yt"] == "up"  # the device answers; only its port is down
                html = await page.evaluate("document.documentElement.outerHTML")
                assert find_leaks(html, communities.values()) == []
    finally:
        snmpd.stop()
