"""`timeout: auto` against a REAL agent (snmpd), directly and behind the UDP fault proxy
set to a long round trip. No timing asserts: the proxy's configured delay is a lower
bound on every round trip (a loaded machine only adds to it), and the comparisons are
against that bound, with a gap by design between the slow and the fast case."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from servers import Snmpd

from borderwatch.collector.poller import Poller
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.v2c import V2cSession
from borderwatch.collector.timeout_state import TimeoutCollector, load, restore, save
from borderwatch.collector.topology_spec import DeviceSpec

pytest_plugins = ("snmp_fixtures",)  # transport, udp_proxy

ONE_WAY, JITTER = 0.5, 0.05  # each direction: round trips of 0.9 to 1.1 s
MIN_RTT = 2 * (ONE_WAY - JITTER)


def session(endpoint: tuple[str, int], transport: SnmpTransport,
            **kw: object) -> V2cSession:
    options: dict[str, object] = {"timeout": "auto", "retries": "auto"}
    options.update(kw)
    return V2cSession(SessionSettings(endpoint[0], endpoint[1], community=Secret("public"),
                                      **options), transport)  # type: ignore[arg-type]


async def polls(session: V2cSession, count: int, device: str = "d1") -> list[bool]:
    """`count` polls of the system and if-mib profiles; whether each succeeded fully."""
    poller = Poller()
    spec = DeviceSpec(device_id=device, site_id="s", profiles=("if-mib",))
    out = []
    for _ in range(count):
        result = await poller.poll(spec, session, asyncio.get_running_loop().time() + 60)
        out.append(result.ok and not result.problems)
    return out


async def test_auto_converges_above_a_long_round_trip_where_a_short_fixed_one_fails(
        snmpd: Snmpd, transport: SnmpTransport, udp_proxy) -> None:
    proxy = await udp_proxy(snmpd.endpoint, seed=13)
    for direction in (proxy.to_agent, proxy.to_client):
        direction.delay, direction.jitter = ONE_WAY, JITTER
    far = session(proxy.endpoint, transport)
    assert all(await polls(far, 6))
    est = far.timing.estimator
    assert est.samples > 0 and est.srtt >= MIN_RTT
    assert far.timing.timeout() > est.srtt >= MIN_RTT  # converged above the round trip
    # A fixed timeout shorter than the round trip: both attempts (same request-id) expire
    # before the first answer can arrive, so every poll fails.
    short = session(proxy.endpoint, transport, timeout=MIN_RTT / 3, retries=1)
    assert not any(await polls(short, 2, device="d2"))
    # The same agent without the proxy: the estimate converges low, below the slow one.
    near = session(snmpd.endpoint, transport)
    assert all(await polls(near, 8, device="d3"))
    assert near.timing.timeout() < MIN_RTT < far.timing.timeout()


async def test_retries_follow_measured_loss(snmpd: Snmpd, transport: SnmpTransport,
                                            udp_proxy) -> None:
    proxy = await udp_proxy(snmpd.endpoint, seed=29)
    proxy.to_agent.drop = proxy.to_client.drop = 0.1  # 19 % of round trips lost
    lossy = session(proxy.endpoint, transport)
    clean = session(snmpd.endpoint, transport)
    await polls(lossy, 25)
    await polls(clean, 5, device="d2")
    assert proxy.to_agent.dropped + proxy.to_client.dropped > 0
    assert lossy.timing.estimator.loss > 0
    # ~19 % of attempts lost: 0.19**5 > 1e-4; an estimate as low as 0.1 still gives 3
    assert lossy.timing.retries() >= 3
    assert clean.timing.retries() <= lossy.timing.retries()


async def test_estimates_survive_a_restart_and_are_exported(
        snmpd: Snmpd, transport: SnmpTransport, udp_proxy, tmp_path: Path) -> None:
    proxy = await udp_proxy(snmpd.endpoint, seed=5)
    for direction in (proxy.to_agent, proxy.to_client):
        direction.delay, direction.jitter = ONE_WAY, JITTER
    first = session(proxy.endpoint, transport)
    await polls(first, 3)
    learnt = first.timing.timeout()
    path = tmp_path / "var" / "snmp_timeouts.json"
    save(path, {"d1": first.timing})
    assert "public" not in path.read_text()  # addresses and secrets stay out of it
    # "restart": a new session starts at the initial 2 s; the saved estimate brings back
    # the learnt one before any answer
    again = session(proxy.endpoint, transport)
    assert again.timing.timeout() == 2.0
    assert restore({"d1": again.timing}, load(path)) == 1
    assert again.timing.timeout() == learnt
    registry = CollectorRegistry()
    registry.register(TimeoutCollector({"d1": again.timing}, {"d1": "post-1"}))
    text = generate_latest(registry).decode()
    assert f'borderwatch_device_snmp_timeout_seconds{{device="d1",site="post-1"}} {learnt!r}' \
        in text
    assert 'borderwatch_device_snmp_srtt_seconds{device="d1",site="post-1"}' in text
    # a broken file is ignored, not fatal
    path.write_text("{not json")
    assert load(path) == {}
    path.write_text(json.dumps({"version": 99, "devices": {}}))
    assert load(path) == {}
