"""The service pages through a REAL Alertmanager: real snmpd agents, a blackholed hub
(T2 proxy), Alertmanager → the test's webhook receiver (grouped per incident, 1 s timers).

Exactly one firing notification naming the root cause (the hub) and the cut-off post,
then one resolve after recovery; Alertmanager down during the incident (A38): the alert
is queued in the outbox, delivered when Alertmanager is back, and re-posted before its
endsAt so no false resolve reaches the webhook. Detection times are printed (-s), not
asserted (no timing asserts in tests).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alert_network import ENV, Network, build
from am_server import Alertmanager, start_alertmanager
from hook_receiver import Receiver
from runtime_helpers import running_service, wait_until
from servers import Snmpd

RESEND = 1.0  # re-post interval: endsAt is 4 s ahead, the outage below lasts longer


def am_alerts(recv: Receiver) -> list[tuple[str, dict]]:
    """(status, alert) of every alert in every webhook POST Alertmanager made."""
    return [(a["status"], a) for body in recv.ok("/am") for a in body["alerts"]]


async def _setup(tmp: Path, snmpd: Snmpd, recv: Receiver) -> tuple[Network, Alertmanager]:
    am = await asyncio.to_thread(start_alertmanager, tmp / "am", recv.url("/am"))
    net = await build(tmp, snmpd.port, {"alertmanager": {
        "url": am.url, "resend_interval": RESEND, "timeout": 2},
        "dashboard_url": "http://grafana.example/d/bw?var-site={site}"})
    return net, am


async def _quiet(service, within: float = 20) -> None:
    await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), within,
                     "every device answering")
    await asyncio.sleep(2)  # a few ticks on a healthy network


async def test_hub_failure_pages_once_through_alertmanager_then_resolves(
        tmp_path: Path, snmpd: Snmpd) -> None:
    recv = await Receiver().start()
    net, am = await _setup(tmp_path, snmpd, recv)
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await _quiet(service)
            assert service.alerts.sent == [] and recv.hits == []  # quiet network: nothing
            cut_at = time.time()
            net.cut("hub-sw")
            net.cut("post-sw")  # behind the hub: unreachable too
            await wait_until(lambda: any(s == "firing" for s, _ in am_alerts(recv)), 30,
                             "the page at the webhook")
            paged_at = time.time()
            await asyncio.sleep(4 * RESEND + 2)  # past the first endsAt: re-posts kept it
            firing = [a for s, a in am_alerts(recv) if s == "firing"]
            assert len(firing) == 1, firing
            assert [s for s, _ in am_alerts(recv)] == ["firing"]  # no false resolve
            page = firing[0]
            assert page["labels"]["root_cause"] == "site:hub"
            assert page["labels"]["alertname"] == "SiteIsolated"
            assert page["labels"]["site"] in {"hub", "post"}
            assert set(page["labels"]["sites"].split(",")) == {"hub", "post"}
            assert "Đồn Biên phòng Thanh Lòa" in page["annotations"]["summary_vi"]
            assert "Đồng Đăng" in page["annotations"]["root_cause"]
            assert page["annotations"]["dashboard"].startswith(
                "http://grafana.example/d/bw?var-site=")
            assert len(service.alerts.sent) == 1
            our_page = service.alerts.sent[0].at
            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            back_at = time.time()
            await wait_until(lambda: any(s == "resolved" for s, _ in am_alerts(recv)), 30,
                             "the resolve at the webhook")
            resolved_at = time.time()
            await asyncio.sleep(2)
            assert [s for s, _ in am_alerts(recv)] == ["firing", "resolved"]
            left = await asyncio.to_thread(am.alerts)
            assert [a for a in left if a["status"]["state"] == "active"] == []
            assert service.alerts.outbox.active("alertmanager") == {}
            print(f"\nengine page {our_page - cut_at:.1f} s after the cut; webhook "
                  f"{paged_at - cut_at:.1f} s; resolve at webhook {resolved_at - back_at:.1f}"
                  " s after recovery")
    finally:
        net.close()
        await asyncio.to_thread(am.stop)
        await recv.stop()


async def test_alertmanager_down_during_the_incident_delivers_once_when_back(
        tmp_path: Path, snmpd: Snmpd) -> None:
    """A38: stopped before the fault, started again (same storage) a while after it."""
    recv = await Receiver().start()
    net, am = await _setup(tmp_path, snmpd, recv)
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await _quiet(service)
            await asyncio.to_thread(am.stop)
            net.cut("hub-sw")
            net.cut("post-sw")
            await wait_until(lambda: len(service.alerts.sent) == 1, 30, "the engine's page")
            outbox = service.alerts.outbox
            await wait_until(lambda: outbox.rows()[0]["attempts"] >= 2, 30,
                             "failed deliveries while Alertmanager is down")
            assert outbox.pending() == 1 and recv.hits == []
            await asyncio.sleep(3)
            restarted = time.time()
            await asyncio.to_thread(am.start, restart=True)
            await wait_until(lambda: any(s == "firing" for s, _ in am_alerts(recv)), 30,
                             "the page after Alertmanager is back")
            delivered = time.time()
            await asyncio.sleep(4 * RESEND + 2)
            assert [s for s, _ in am_alerts(recv)] == ["firing"]  # once, no false resolve
            assert am_alerts(recv)[0][1]["labels"]["root_cause"] == "site:hub"
            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            await wait_until(lambda: any(s == "resolved" for s, _ in am_alerts(recv)), 30,
                             "the resolve")
            await asyncio.sleep(2)
            assert [s for s, _ in am_alerts(recv)] == ["firing", "resolved"]
            print(f"\npage at the webhook {delivered - restarted:.1f} s after Alertmanager "
                  "came back")
    finally:
        net.close()
        await asyncio.to_thread(am.stop)
        await recv.stop()
