"""A USM agent on loopback for the faults net-snmp cannot be made to produce.

It answers engine discovery with a Report, then GETs and GETBULKs of one user with a
fixed varbind, and a `fault` decides what goes wrong: a tampered MAC, an answer encrypted
with another key, an answer at a lower security level, a notInTimeWindow report forever,
answers after the first stamped 200 s older than the agent's clock (a replay).
Its messages are built with collector.snmp.v3_message, which test_usm_differential.py
checks against pysnmp, and real-agent interop is test_v3_snmpd.py: this agent only
stands in for a broken or hostile one.
"""

from __future__ import annotations

import asyncio

from borderwatch.collector.snmp.ber import RESPONSE, encode_signed, encode_varbind, tlv
from borderwatch.collector.snmp.types import Tag
from borderwatch.collector.snmp.usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS, EngineKeys
from borderwatch.collector.snmp.v3 import NOT_IN_TIME_WINDOWS, UNKNOWN_ENGINE_IDS
from borderwatch.collector.snmp.v3_message import (
    FLAG_AUTH,
    FLAG_PRIV,
    UsmParams,
    decode_envelope,
    decode_scoped_pdu,
    encode_message,
)

ENGINE_ID = bytes.fromhex("80001f8880fa4e0000000000000001")
USER = b"fakeuser"
AUTH_PASSWORD = b"fake-auth-pass"
PRIV_PASSWORD = b"fake-priv-pass"
ANSWER = b"fake agent"


def _pdu(pdu_type: int, request_id: int, varbinds: list[tuple]) -> bytes:
    vbl = b"".join(encode_varbind(oid, tag, value) for oid, tag, value in varbinds)
    return tlv(pdu_type, tlv(2, encode_signed(request_id)) + b"\x02\x01\x00\x02\x01\x00"
               + tlv(0x30, vbl))


class V3FakeAgent(asyncio.DatagramProtocol):
    """SHA/AES-128 user `fakeuser`; `fault` is None or one of FAULTS."""

    FAULTS = ("tamper-mac", "other-priv-key", "no-auth", "time-window", "replay")

    def __init__(self, fault: str | None) -> None:
        self.fault = fault
        self.boots, self.time = 5, 1000
        self.keys = EngineKeys(ENGINE_ID, AUTH_PROTOCOLS["SHA"], AUTH_PASSWORD,
                               PRIV_PROTOCOLS["AES-128"], PRIV_PASSWORD)
        self.other = EngineKeys(ENGINE_ID, AUTH_PROTOCOLS["SHA"], AUTH_PASSWORD,
                                PRIV_PROTOCOLS["AES-128"], b"not-the-priv-pass")
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def start(cls, fault: str | None) -> tuple[V3FakeAgent, int]:
        """A running agent on 127.0.0.1 and its port."""
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(
            lambda: cls(fault), local_addr=("127.0.0.1", 0))
        return agent, transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _usm(self) -> UsmParams:
        return UsmParams(ENGINE_ID, self.boots, self.time, USER)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.requests += 1
        envelope = decode_envelope(data)
        if not envelope.usm.engine_id:  # discovery
            report = _pdu(0xA8, 0, [(UNKNOWN_ENGINE_IDS, Tag.COUNTER32, 1)])
            reply = encode_message(envelope.msg_id, 0, self._usm(), report,
                                   context_engine_id=ENGINE_ID, context_name=b"", keys=None)
            self.transport.sendto(reply, addr)
            return
        plain = self.keys.decrypt(envelope.data, envelope.usm.boots, envelope.usm.time,
                                  envelope.priv_params)
        request = decode_scoped_pdu(plain).message
        flags, keys = FLAG_AUTH | FLAG_PRIV, self.keys
        pdu = _pdu(RESPONSE, request.request_id,
                   [(vb.oid, Tag.OCTET_STRING, ANSWER) for vb in request.varbinds])
        if self.fault == "time-window":
            flags, pdu = FLAG_AUTH, _pdu(0xA8, request.request_id,
                                         [(NOT_IN_TIME_WINDOWS, Tag.COUNTER32, 1)])
        elif self.fault == "no-auth":
            flags = 0
        elif self.fault == "other-priv-key":
            keys = self.other
        usm = self._usm()
        if self.fault == "replay" and self.requests > 2:  # after discovery and one good answer
            # what a recorded answer carries: the boots/time of when it was recorded
            usm = UsmParams(ENGINE_ID, self.boots, self.time - 200, USER)
        reply = encode_message(envelope.msg_id, flags, usm, pdu,
                               context_engine_id=ENGINE_ID, context_name=b"", keys=keys)
        if self.fault == "tamper-mac":
            envelope = decode_envelope(reply)
            at = envelope.auth_offset
            reply = reply[:at] + bytes((reply[at] ^ 1,)) + reply[at + 1:]
        self.transport.sendto(reply, addr)
