"""One real poll of an snmpsim dump by the collector's Poller, for the writer/schema tests.

Both Influx back ends (VictoriaMetrics and influxd) are fed PollResults of real polls, so
what they store is what borderwatch would write for a real device.
"""

from __future__ import annotations

import asyncio

from servers import Snmpsim

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import PollResult
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.topology_spec import DeviceSpec


async def poll_dump(poller: Poller, sim: Snmpsim, transport: SnmpTransport, dump: str,
                    site: str) -> PollResult:
    """Poll `dump` (device id = dump name) at `site`; fails the test if the poll failed."""
    settings = SessionSettings(sim.address, sim.port, community=Secret(sim.community_for(dump)),
                               timeout=5.0, retries=1)
    session = open_session(settings, transport)
    try:
        result = await poller.poll(DeviceSpec(dump, site), session,
                                   asyncio.get_running_loop().time() + 60)
    finally:
        await session.close()
    assert result.ok, result.error
    return result
