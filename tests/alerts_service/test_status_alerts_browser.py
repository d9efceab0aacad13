"""The /status page shows open incidents when alerts run: real headless Chromium, real
collector and snmpd, the hub blackholed by the T2 proxy; the row names the root cause and
the cut-off sites by their Vietnamese names, and disappears after recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_network import ENV, build
from runtime_helpers import running_service, wait_until
from servers import Snmpd
from status.chromium import Chromium

PAGE_WAIT = 30.0
ROWS_JS = """[...document.querySelectorAll('#alerts tr[data-incident]')]
    .map(r => [...r.children].map(td => td.textContent))"""


@pytest.mark.slow
async def test_status_page_lists_the_open_incident(tmp_path: Path, snmpd: Snmpd) -> None:
    net = await build(tmp_path, snmpd.port, {})  # no receivers: evaluation only
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            async with Chromium.launch(tmp_path / "chromium") as browser, \
                    browser.page() as page:
                await page.navigate(f"{service.http.url}/status")
                await page.wait_for("document.getElementById('alerts-open')?.hidden === false "
                                    "&& document.querySelector('#alerts .empty') !== null",
                                    PAGE_WAIT, "an empty open-incidents section")
                net.cut("hub-sw")
                net.cut("post-sw")
                await page.wait_for(f"{ROWS_JS}.length === 1", PAGE_WAIT, "the incident row")
                (row,) = await page.evaluate(ROWS_JS)
                severity, status, cause, cut_off, _since = row
                assert severity == "nghiêm trọng / critical" and status == "firing"
                assert cause == "Nút truyền dẫn Đồng Đăng"
                assert set(cut_off.split(", ")) == {"Nút truyền dẫn Đồng Đăng",
                                                    "Đồn Biên phòng Thanh Lòa"}
                net.cut("hub-sw", False)
                net.cut("post-sw", False)
                await page.wait_for("document.querySelector('#alerts .empty') !== null",
                                    PAGE_WAIT, "no open incident after recovery")
    finally:
        net.close()
