"""A2 (satellite RTT) and A4 (20 % loss) through the whole service, not just one session.

Real snmpd behind the UDP fault proxy: one device with 600 ± 100 ms added to every
response (a VSAT hop), one with 20 % of datagrams lost each way, one direct.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import (
    Dev,
    ResultLog,
    running_service,
    scrape,
    v2c,
    wait_until,
    write_inventory,
)


@pytest.mark.slow
async def test_satellite_rtt_and_packet_loss(tmp_path: Path, snmpd,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    vsat = await UdpProxy.start(snmpd.endpoint, seed=7)
    vsat.to_client.delay, vsat.to_client.jitter = 0.6, 0.1
    lossy = await UdpProxy.start(snmpd.endpoint, seed=11)
    lossy.to_agent.drop = lossy.to_client.drop = 0.2
    try:
        devices = [
            Dev("direct", snmpd.port, "c", extra={"interval": 3}),
            # full system + IF-MIB walk over a 600 ms hop: within its 8 s budget
            Dev("vsat", vsat.port, "c", extra={"interval": 10, "timeout": 1.5, "retries": 1,
                                                "poll_deadline": 8}),
            Dev("lossy", lossy.port, "c", extra={"interval": 3, "timeout": 0.25,
                                                 "retries": 3}),
        ]
        inv = write_inventory(tmp_path / "inv.yaml", devices, {"c": v2c("BW_C")},
                              {"timeout": 1, "retries": 1})
        log = ResultLog()
        async with running_service(inv, {"BW_C": "public"}) as service:
            service.result_listeners.append(log)
            await wait_until(lambda: len(log.for_device("vsat")) >= 1
                             and len(log.for_device("lossy")) >= 3, within=40,
                             what="a vsat poll and three lossy polls")
            scraped = await scrape(service)
            retries = service.transport.stats.retries
    finally:
        vsat.close()
        lossy.close()

    # A2: the walk completed over the slow hop, without a false "down".
    (sat,) = log.for_device("vsat")[:1]
    assert sat.ok and not sat.problems, (sat.error, sat.problems)
    assert sat.requests >= 5 and sat.duration >= 0.6 * 3  # several round trips, each ≥ 0.5 s
    assert any(s.metric == "borderwatch_interface_receive_bytes_total" for s in sat.samples)
    direct = log.for_device("direct")
    assert direct and all(r.ok for r in direct)
    assert max(r.duration for r in direct) < sat.duration / 5  # not slowed by the VSAT hop
    assert not [r for r in caplog.records if "vsat" in r.getMessage()
                and r.levelno >= logging.WARNING]

    # A4: retries absorb the loss, are counted, and no poll yields a sample twice; a poll
    # that lost too much says so (failed, or partial with a problem), never silently.
    assert retries > 0
    requests = {labels["result"]: v for labels, v in
                scraped["samples"]["borderwatch_snmp_requests_total"]}
    assert requests["retry"] == retries
    lossy_results = log.for_device("lossy")
    assert sum(r.ok for r in lossy_results) >= 2
    for r in lossy_results:
        keys = Counter((s.metric, s.labels) for s in r.samples)
        assert not [k for k, n in keys.items() if n > 1]
        complete = r.ok and not r.problems
        assert complete or r.problems or (not r.ok and r.error)
        if complete:
            assert len(r.samples) == len(log.for_device("direct")[-1].samples)
