"""The generated Prometheus rules in a REAL Prometheus scraping a real `borderwatch run`.

The network of alert_network.py (core — hub — post on a real snmpd, each agent behind a
fault proxy) with its fast rules file; `borderwatch rules` turns that file into Prometheus
rules, which Prometheus evaluates every second over what the service exports. Every rule
must evaluate without error against the real series, and the hub failure must show in
Prometheus as it shows in the engine: the post isolated, the hub down, named in the
summaries, then resolved. Detection times are printed (-s), not asserted.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alert_network import ENV, build
from runtime_helpers import running_service, wait_until
from servers import REPO_ROOT, Prometheus, Snmpd


def firing(prom: Prometheus) -> dict[tuple[str, str], dict[str, Any]]:
    """(alertname, site) → alert, for the firing alerts Prometheus holds now."""
    alerts = prom._get("/api/v1/alerts")["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("site", "")): a for a in alerts
            if a["state"] == "firing"}


def rule_health(prom: Prometheus) -> dict[str, tuple[str, str]]:
    """alert name → (health, last error) of every rule Prometheus loaded."""
    groups = prom._get("/api/v1/rules")["data"]["groups"]
    return {r["name"]: (r["health"], r.get("lastError", "")) for g in groups
            for r in g["rules"]}


async def test_generated_rules_follow_a_hub_failure_in_prometheus(
        tmp_path: Path, snmpd: Snmpd,
        prometheus_factory: Callable[..., Prometheus]) -> None:
    net = await build(tmp_path, snmpd.port, {})
    rules = tmp_path / "borderwatch.rules.yml"
    gen = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "borderwatch.cli", "rules", "--inventory",
                         str(net.inventory), "-o", str(rules)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            prom = await asyncio.to_thread(prometheus_factory,
                                           [f"127.0.0.1:{service.http.port}"],
                                           scrape_interval="1s", rule_files=[rules])
            await asyncio.to_thread(prom.wait_for, "borderwatch_site_status",
                                    lambda r: len(r) == 12)  # 3 sites × 4 statuses
            health: dict[str, tuple[str, str]] = {}

            def evaluated() -> bool:
                health.update(rule_health(prom))
                return all(h != "unknown" for h, _ in health.values())

            await wait_until(evaluated, 30, "every rule evaluated")
            assert {n: h for n, h in health.items() if h != ("ok", "")} == {}
            assert "SiteIsolated" in health and "InterfaceErrors" in health
            await asyncio.sleep(3)
            assert await asyncio.to_thread(firing, prom) == {}  # a quiet network: nothing
            assert service.alerts.sent == []

            cut_at = time.time()
            net.cut("hub-sw")
            net.cut("post-sw")  # behind the hub: unreachable too
            now: dict[tuple[str, str], dict[str, Any]] = {}

            def both() -> bool:
                now.clear()
                now.update(firing(prom))
                return {("SiteIsolated", "post"), ("SiteDown", "hub")} <= set(now)

            await wait_until(lambda: any(k[0] == "SiteIsolated" for k in firing(prom)), 30,
                             "SiteIsolated in Prometheus")
            isolated_at = time.time()
            await wait_until(both, 30, "SiteIsolated(post) and SiteDown(hub) in Prometheus")
            assert now[("SiteIsolated", "post")]["annotations"]["summary_vi"] == \
                "Mất liên lạc Đồn Biên phòng Thanh Lòa: bị cô lập khỏi trung tâm"
            assert now[("SiteDown", "hub")]["annotations"]["summary_en"].startswith(
                "Nút truyền dẫn Đồng Đăng is down")  # no name_en: the Vietnamese name
            # the engine saw the same incident: the hub down, the post cut off behind it
            await wait_until(lambda: len(service.alerts.sent) == 1, 30, "the engine's page")
            page = service.alerts.sent[0]
            assert ({s.site_id for s in page.cut_off}, page.down_sites) == (
                {"hub", "post"}, ("hub",))

            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            back_at = time.time()
            await wait_until(lambda: not any(k[0] in ("SiteIsolated", "SiteDown")
                                             for k in firing(prom)), 30,
                             "the site alerts resolved in Prometheus")
            print(f"\nPrometheus: SiteIsolated {isolated_at - cut_at:.1f} s after the cut; "
                  f"resolved {time.time() - back_at:.1f} s after recovery (keep_firing_for 2s)")
    finally:
        net.close()
