"""Error-status answers from a REAL agent: snmpsim's `error` variation (A17, A19)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Snmpsim, free_udp_port, start_snmpsim

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import SnmpErrorStatus, Tag, parse_oid
from borderwatch.collector.snmp.v2c import V2cSession

pytest_plugins = ("snmp_fixtures",)  # transport

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
RECORDS = [
    "1.3.6.1.2.1.1.5.0|4|errdev",
    "1.3.6.1.2.1.1.6.0|4:error|op=get,status=generror,value=x",
    "1.3.6.1.2.1.1.7.0|2:error|op=get,status=noaccess,value=1",
    "1.3.6.1.2.1.1.8.0|67:error|op=get,status=authorizationerror,value=1",
    *(f"{IF_DESCR}.{i}|4|eth{i}" for i in range(1, 31)),
    "1.3.6.1.2.1.2.2.1.3.1|2:error|op=any,status=toobig,value=6",  # right after ifDescr
]


@pytest.fixture(scope="module")
def error_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """A small snmpsim of our own: one data file whose records answer with errors."""
    root: Path = tmp_path_factory.mktemp("snmpsim-errors")
    (root / "data" / "err").mkdir(parents=True)
    (root / "data" / "err" / "dev.snmprec").write_text("\n".join(RECORDS) + "\n")
    server = start_snmpsim(root / "data", root / "cache", [("127.0.0.1", free_udp_port())],
                           probe_community="err/dev", probe_oid="1.3.6.1.2.1.1.5.0",
                           log_path=root / "snmpsim.log")
    try:
        yield server
    finally:
        server.stop()


def session(agent: Snmpsim, transport: SnmpTransport) -> V2cSession:
    settings = SessionSettings(agent.address, agent.port, community=Secret("err/dev"),
                               timeout=2.0, retries=2, max_repetitions=25)
    return V2cSession(settings, transport)


def deadline() -> float:
    return asyncio.get_running_loop().time() + 30


@pytest.mark.parametrize(("oid", "name"), [("1.3.6.1.2.1.1.6.0", "genErr"),
                                           ("1.3.6.1.2.1.1.7.0", "noAccess"),
                                           ("1.3.6.1.2.1.1.8.0", "authorizationError")])
async def test_a19_error_status_from_a_real_agent(error_agent: Snmpsim, transport, oid: str,
                                                  name: str) -> None:
    s = session(error_agent, transport)
    with pytest.raises(SnmpErrorStatus) as info:
        await s.get([parse_oid("1.3.6.1.2.1.1.5.0"), parse_oid(oid)], deadline=deadline())
    assert info.value.name == name and info.value.index == 2
    assert str(info.value).startswith(f"agent answered {name} (index 2) to get of")
    assert s.requests_sent == 1  # no retry storm: an answer is an answer
    ok = await s.get([parse_oid("1.3.6.1.2.1.1.5.0")], deadline=deadline())
    assert ok[0].tag == Tag.OCTET_STRING and ok[0].value == b"errdev"


async def test_a17_toobig_from_a_real_agent(error_agent: Snmpsim, transport) -> None:
    # GETBULK answers are tooBig whenever they would cross the erroring record: the walk
    # halves max-repetitions and goes on, gets every row before it, then reports tooBig
    # once even a single row fails, with max-repetitions restored (it was not about size).
    s = session(error_agent, transport)
    with pytest.raises(SnmpErrorStatus, match=r"tooBig .* after 30 rows") as info:
        await s.walk(parse_oid(IF_DESCR), deadline=deadline())
    assert info.value.name == "tooBig"
    assert s.requests_sent <= 15
    assert s.max_repetitions == 25
