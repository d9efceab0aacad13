"""`timeout: auto` in the running service: the estimate is exported as a metric, written to
`var/snmp_timeouts.json` at shutdown and read back at the next start (a restart does not
start the device over at 2 s). A real snmpd behind the UDP proxy (a 0.6 s round trip)."""

from __future__ import annotations

import json
from pathlib import Path

from fakes.udp_proxy import UdpProxy
from runtime_helpers import (
    Dev,
    running_service,
    scrape,
    v2c,
    values_by_device,
    wait_until,
    write_inventory,
)

TIMEOUT = "borderwatch_device_snmp_timeout_seconds"


async def test_estimate_is_a_metric_and_survives_a_restart(tmp_path: Path, snmpd) -> None:
    proxy = await UdpProxy.start(snmpd.endpoint)
    proxy.to_agent.delay = proxy.to_client.delay = 0.3
    try:
        inv = tmp_path / "inventory.yaml"
        write_inventory(inv, [Dev("vsat", proxy.port, "public",
                                  extra={"profile": ["system"], "interval": 1})],
                        {"public": v2c("BW_P")}, {})
        env = {"BW_P": "public"}
        async with running_service(inv, env, base_dir=tmp_path) as service:
            timing = service.devices["vsat"].session.timing  # type: ignore[attr-defined]
            await wait_until(lambda: timing.estimator.samples >= 3, within=60,
                             what="three answers from the VSAT device")
            learnt = timing.timeout()
            exported = values_by_device(await scrape(service), TIMEOUT)["vsat"]
        assert learnt < 2.0  # no longer the initial 2 s: learnt from a 0.6 s round trip
        assert exported < 2.0 and timing.estimator.srtt >= 0.6
        saved = json.loads((tmp_path / "var" / "snmp_timeouts.json").read_text())
        assert saved["devices"]["vsat"]["srtt"] >= 0.6
        proxy.to_agent.blackhole = True  # nothing answers after the restart
        async with running_service(inv, env, base_dir=tmp_path) as service:
            timing = service.devices["vsat"].session.timing  # type: ignore[attr-defined]
            # restored, not learnt again: nothing answers now
            assert timing.estimator.samples >= 3 and timing.estimator.srtt >= 0.6
            assert "vsat" in values_by_device(await scrape(service), TIMEOUT)
    finally:
        proxy.close()
