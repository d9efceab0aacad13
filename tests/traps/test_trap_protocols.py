"""The receiver against net-snmp's snmptrap / snmpinform: every mapped trap in every SNMP
version and PDU is decoded, authenticated and understood; informs are acknowledged (the
tool exits 0 only then); unknown sources and bad credentials are counted, logged once
per source, and never handed on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from trap_cli import KINDS, Sender, send

from borderwatch.collector.secret import Secret
from borderwatch.collector.traps.mapping import meaning
from borderwatch.collector.traps.message import Trap, TrapCredential
from borderwatch.collector.traps.receiver import Source, TrapReceiver
from borderwatch.collector.traps.usm_receiver import UsmReceiver

COMMUNITY = "tr-c0mmunity-5e"
AUTH, PRIV = "tr-auth-pass-91", "tr-priv-pass-37"
V2 = Sender("127.0.13.1", community=COMMUNITY)
V3 = Sender("127.0.13.2", user="trapper", auth=("SHA-256", AUTH), priv=("AES", PRIV))
SOURCES = {
    V2.source: Source("sw-v2", TrapCredential("2c", community=Secret(COMMUNITY))),
    V3.source: Source("sw-v3", TrapCredential("3", user=b"trapper", auth_protocol="SHA-256",
                                              auth_key=Secret(AUTH), priv_protocol="AES-128",
                                              priv_key=Secret(PRIV))),
}
CASES = [("1", "trap", V2), ("2c", "trap", V2), ("2c", "inform", V2), ("3", "trap", V3),
         ("3", "inform", V3)]
# what `meaning` must name each trap (the v1 forms too) and the metric it must set
EXPECTED = {
    "linkDown": ("linkDown ifIndex 1", "borderwatch_interface_up", 0),
    "linkUp": ("linkUp ifIndex 1", "borderwatch_interface_up", 1),
    "coldStart": ("coldStart", None, None),
    "warmStart": ("warmStart", None, None),
    "upsTrapOnBattery": ("upsTrapOnBattery", "borderwatch_ups_on_battery", 1),
    "upsTrapAlarmEntryAdded": ("upsTrapAlarmEntryAdded upsAlarmOnBattery",
                               "borderwatch_ups_on_battery", 1),
    "upsTrapAlarmEntryRemoved": ("upsTrapAlarmEntryRemoved upsAlarmOnBattery",
                                 "borderwatch_ups_on_battery", 0),
    "labMainsLost": ("labMainsLost", "borderwatch_power_mains_ok", 0),
    "labMainsRestored": ("labMainsRestored", "borderwatch_power_mains_ok", 1),
    "labRadioFade": ("labRadioFade ifIndex 1, -90 dBm", "borderwatch_radio_signal_dbm", -90),
    "labRadioFadeCleared": ("labRadioFadeCleared ifIndex 1, -45 dBm",
                            "borderwatch_radio_signal_dbm", -45),
}


class Got:
    """What the receiver handed on."""

    def __init__(self) -> None:
        self.traps: list[tuple[str, Trap]] = []

    def __call__(self, device: str, trap: Trap, _at: float) -> None:
        self.traps.append((device, trap))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TrapReceiver, Got, str]]:
    got = Got()
    rx = TrapReceiver(SOURCES, got, UsmReceiver(bytes.fromhex("80007ed905aabbccddeeff0011")),
                      rate=1000, burst=1000, queue=100)
    host, port = await rx.start("127.0.0.1", 0)
    try:
        yield rx, got, f"{host}:{port}"
    finally:
        await rx.close()


async def _send(sender: Sender, dest: str, kind: str, version: str, pdu: str) -> int:
    res = await asyncio.to_thread(send, sender, dest, kind, version, pdu)
    return res.returncode


async def _until(predicate, what: str, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not seen: {what}")


@pytest.mark.parametrize(("version", "pdu", "sender"), CASES,
                         ids=[f"v{v}-{p}" for v, p, _ in CASES])
async def test_every_trap_in_every_version(receiver, version, pdu, sender) -> None:
    rx, got, dest = receiver
    for kind in KINDS:
        before = len(got.traps)
        rc = await _send(sender, dest, kind, version, pdu)
        assert rc == 0, f"{kind} v{version} {pdu}: the tool failed (inform not acknowledged?)"
        await _until(lambda b=before: len(got.traps) > b, f"{kind} v{version} {pdu}")
        device, trap = got.traps[-1]
        assert device == SOURCES[sender.source].device_id
        assert (trap.version, trap.pdu) == (version, pdu)
        name, metric, value = EXPECTED[kind]
        what = meaning(trap)
        assert what.describe() == name
        assert what.reboot == (kind in ("coldStart", "warmStart"))
        if metric is None:
            assert what.updates == ()
        else:
            assert (what.updates[0].metric, what.updates[0].value) == (metric, value)
    informs = len(KINDS) if pdu == "inform" else 0
    assert rx.stats.informs_acknowledged == informs
    assert rx.stats.results["accepted"] == len(KINDS)
    assert rx.stats.results["bad_credentials"] == 0


BAD = [
    ("v1 wrong community", Sender(V2.source, community="guess"), "1", "trap"),
    ("v2c wrong community", Sender(V2.source, community="guess"), "2c", "trap"),
    ("v2c inform wrong community", Sender(V2.source, community="guess"), "2c", "inform"),
    ("v3 wrong auth key", Sender(V3.source, user="trapper", auth=("SHA-256", "wrong-pass-00"),
                                 priv=("AES", PRIV)), "3", "trap"),
    ("v3 wrong priv key", Sender(V3.source, user="trapper", auth=("SHA-256", AUTH),
                                 priv=("AES", "wrong-pass-00")), "3", "trap"),
    ("v3 other user", Sender(V3.source, user="intruder", auth=("SHA-256", AUTH),
                             priv=("AES", PRIV)), "3", "trap"),
    ("v3 lower level", Sender(V3.source, user="trapper", auth=("SHA-256", AUTH)), "3", "trap"),
    ("v3 inform wrong auth key", Sender(V3.source, user="trapper",
                                        auth=("SHA-256", "wrong-pass-00"),
                                        priv=("AES", PRIV)), "3", "inform"),
    ("v2c from a v3 device", Sender(V3.source, community=COMMUNITY), "2c", "trap"),
]


async def test_bad_credentials_counted_logged_once_not_acted_on(receiver, caplog) -> None:
    rx, got, dest = receiver
    caplog.set_level(logging.WARNING, "collector.traps.receiver")
    for _name, sender, version, pdu in BAD:
        for _ in range(2):
            await _send(sender, dest, "linkDown", version, pdu)
    # informs retry (-r 2): each inform is up to 3 datagrams, all refused
    await _until(lambda: rx.stats.results["bad_credentials"] >= 2 * len(BAD),
                 "every bad trap counted")
    assert got.traps == []
    assert rx.stats.informs_acknowledged == 0
    lines = [r.getMessage() for r in caplog.records]
    # once per source and reason: the two sources log each reason once at most
    assert len(lines) == len(set(lines)) and len(lines) <= 2 * 4
    for line in lines:
        for secret in (COMMUNITY, AUTH, PRIV, "guess", "wrong-pass-00"):
            assert secret not in line


async def test_unknown_source_counted_logged_once(receiver, caplog) -> None:
    rx, got, dest = receiver
    caplog.set_level(logging.WARNING, "collector.traps.receiver")
    stranger = Sender("127.0.13.9", community=COMMUNITY)
    for _ in range(3):
        await _send(stranger, dest, "linkDown", "2c", "trap")
    await _until(lambda: rx.stats.results["unknown_source"] >= 3, "three unknown")
    assert got.traps == []
    assert [r.getMessage() for r in caplog.records] == [
        "trap from 127.0.13.9 dropped: no device of the inventory has this address (further "
        "ones are counted in borderwatch_traps_received_total)"]
