"""V3Session against a broken or hostile USM agent (tests/snmp/v3_fake_agent.py).

What net-snmp never does: answers with a wrong MAC, encrypted with another key, at a lower
security level than asked, a time window that never fits, or an authenticated answer
older than the time window (a replay). Each must end the request
with a clear error that holds no key, not a timeout and never a wrong value.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from v3_fake_agent import ANSWER, AUTH_PASSWORD, PRIV_PASSWORD, USER, V3FakeAgent

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import SnmpAuthError, SnmpError, SnmpMalformed, VarBind

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)


def settings(port: int) -> SessionSettings:
    return SessionSettings("127.0.0.1", port, "3", user=USER.decode(), auth_protocol="SHA",
                           auth_key=Secret(AUTH_PASSWORD.decode()), priv_protocol="AES",
                           priv_key=Secret(PRIV_PASSWORD.decode()), timeout=0.5, retries=1)


async def get_from(fault: str | None, transport: SnmpTransport) -> tuple[list[VarBind], int]:
    agent, port = await V3FakeAgent.start(fault)
    session = open_session(settings(port), transport)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        return await session.get([SYS_NAME], deadline=deadline), agent.requests
    finally:
        await session.close()
        agent.close()


async def test_a_sound_agent_answers(transport: SnmpTransport) -> None:
    varbinds, requests = await get_from(None, transport)
    assert [vb.value for vb in varbinds] == [ANSWER]
    assert requests == 2  # discovery + the GET


@pytest.mark.parametrize(("fault", "kind", "text"), [
    ("tamper-mac", SnmpAuthError, "answer failed authentication (wrong auth key or protocol)"),
    ("other-priv-key", SnmpAuthError, "decryption error (wrong priv key or protocol): the "
                                      "authenticated answer did not decrypt"),
    ("no-auth", SnmpMalformed, "response at another security level than asked"),
    ("time-window", SnmpAuthError, "not in time window (engine boots/time)"),
])
async def test_faults_end_with_clear_errors(fault: str, kind: type[SnmpError], text: str,
                                            transport: SnmpTransport,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(kind) as info:
        await get_from(fault, transport)
    message = str(info.value)
    assert text in message and "get of 1.3.6.1.2.1.1.5.0" in message, message
    assert " 127.0.0.1:" in message  # the target
    everything = message + repr(info.value) + caplog.text
    for secret in (AUTH_PASSWORD, PRIV_PASSWORD):
        assert secret.decode() not in everything and secret.hex() not in everything


async def test_time_window_gives_up_after_a_bounded_number_of_resyncs(
        transport: SnmpTransport) -> None:
    agent, port = await V3FakeAgent.start("time-window")
    session = open_session(settings(port), transport)
    try:
        with pytest.raises(SnmpAuthError):
            await session.get([SYS_NAME], deadline=asyncio.get_running_loop().time() + 10)
        assert agent.requests == 1 + 4  # discovery, then the request and three re-syncs
    finally:
        await session.close()
        agent.close()


async def test_an_answer_older_than_the_time_window_is_refused(
        transport: SnmpTransport) -> None:
    agent, port = await V3FakeAgent.start("replay")
    session = open_session(settings(port), transport)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        first = await session.get([SYS_NAME], deadline=deadline)  # its time is now trusted
        assert [vb.value for vb in first] == [ANSWER]
        with pytest.raises(SnmpAuthError) as info:
            await session.get([SYS_NAME], deadline=deadline)
        assert "answer outside the time window (engine boots 5, time 800; expected about " \
            "boots 5, time 10" in str(info.value)
        assert "an old or replayed message" in str(info.value)
    finally:
        await session.close()
        agent.close()


async def test_concurrent_requests_of_a_new_session_share_one_discovery(
        transport: SnmpTransport) -> None:
    agent, port = await V3FakeAgent.start(None)
    session = open_session(settings(port), transport)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        answers = await asyncio.gather(*(session.get([SYS_NAME], deadline=deadline)
                                         for _ in range(5)))
        assert [a[0].value for a in answers] == [ANSWER] * 5
        assert agent.requests == session.requests_sent == 1 + 5
    finally:
        await session.close()
        agent.close()
