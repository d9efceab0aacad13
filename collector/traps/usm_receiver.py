"""The receiving side of SNMPv3 USM (RFC 3414) for notifications.

Two engines are authoritative here, as RFC 3412 §6.4 / RFC 3414 §1.5.1 say:

- a **trap** is sent by the device's own engine: its keys are the device user's keys
  localised to the engine ID the message carries;
- an **inform** is sent to *our* engine: the sender first discovers our engine ID, boots
  and time (a probe answered with a usmStatsUnknownEngineIDs Report), then sends the
  inform with keys localised to our engine ID, and we acknowledge it in kind.

Only the device's inventory user, at its credential's security level, is accepted. Our
boots come from the wall clock's minutes at start (they grow across restarts, which is
what the replay window needs); time counts seconds since start.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable

from borderwatch.collector.snmp.ber import (
    INFORM_REQUEST,
    REPORT,
    RESPONSE,
    SNMPV2_TRAP,
    MalformedPacket,
    encode_signed,
    encode_varbind,
    tlv,
)
from borderwatch.collector.snmp.types import Tag
from borderwatch.collector.snmp.usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS, EngineKeys
from borderwatch.collector.snmp.v3_message import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    Envelope,
    UsmParams,
    authentic,
    decode_envelope,
    decode_scoped_pdu,
    encode_message,
)
from borderwatch.collector.traps.message import (
    Rejected,
    Trap,
    TrapCredential,
    acknowledgement_varbinds,
    split_v2,
)

UNKNOWN_ENGINE_IDS = (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0)
NOT_IN_TIME_WINDOWS = (1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0)
TIME_WINDOW = 150  # seconds (RFC 3414 §3.2 step 7)
KEYS_KEPT = 4096  # localised key sets cached (per user and engine); cleared beyond


def default_engine_id(listen: str) -> bytes:
    """A stable engine ID of this receiver: RFC 3411 format 5 (octets) under enterprise
    32473, from a hash of the host name and the listen address."""
    digest = hashlib.sha256(f"{socket.gethostname()}|{listen}".encode()).digest()
    return bytes.fromhex("80007ed905") + digest[:8]


class UsmReceiver:
    """Our engine (for informs) and the keys of the inventory's v3 users, per engine ID."""

    def __init__(self, engine_id: bytes, *, boots: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine_id = engine_id
        self.boots = boots if boots is not None else max(1, int(time.time() // 60) & 0x7FFFFFFF)
        self._clock = clock
        self._started = clock()
        self._keys: dict[tuple[TrapCredential, bytes], EngineKeys] = {}

    def engine_time(self) -> int:
        """Seconds since this engine started (snmpEngineTime)."""
        return int(self._clock() - self._started)

    def _keys_for(self, cred: TrapCredential, engine_id: bytes) -> EngineKeys:
        key = (cred, engine_id)
        keys = self._keys.get(key)
        if keys is None:
            if len(self._keys) >= KEYS_KEPT:
                self._keys.clear()
            auth = AUTH_PROTOCOLS[cred.auth_protocol] if cred.auth_protocol else None
            priv = PRIV_PROTOCOLS[cred.priv_protocol] if cred.priv_protocol else None
            keys = self._keys[key] = EngineKeys(
                engine_id, auth, cred.auth_key.reveal().encode() if cred.auth_key else None,
                priv, cred.priv_key.reveal().encode() if cred.priv_key else None)
        return keys

    def _report(self, env: Envelope, request_id: int, oid: tuple[int, ...],
                keys: EngineKeys | None) -> bytes:
        """A Report PDU naming `oid` (usmStats counter), in reply to `env`."""
        vbl = encode_varbind(oid, Tag.COUNTER32, 1)
        pdu = tlv(REPORT, tlv(Tag.INTEGER, encode_signed(request_id)) + b"\x02\x01\x00"
                  + b"\x02\x01\x00" + tlv(0x30, vbl))
        flags = FLAG_AUTH if keys is not None else 0
        usm = UsmParams(self.engine_id, self.boots, self.engine_time(),
                        env.usm.user if keys is not None else b"")
        return encode_message(env.msg_id, flags, usm, pdu, context_engine_id=self.engine_id,
                              context_name=b"", keys=keys)

    def decode(self, data: bytes, cred: TrapCredential) -> Trap | Rejected:
        """A v3 datagram from a device with `cred`: the trap, a Report to send, or why not."""
        try:
            env = decode_envelope(data)
        except MalformedPacket as exc:
            return Rejected("malformed", f"v3: {exc}")
        flags = env.flags
        if not env.usm.engine_id and flags & FLAG_REPORTABLE and not flags & FLAG_AUTH:
            # engine discovery before an inform: tell the sender our engine ID, boots, time
            try:
                request_id = decode_scoped_pdu(env.data).message.request_id
            except MalformedPacket as exc:
                return Rejected("malformed", f"v3 discovery: {exc}")
            return Rejected("discovery", "v3 engine discovery answered",
                            self._report(env, request_id, UNKNOWN_ENGINE_IDS, None))
        if cred.version != "3":
            return Rejected("bad_credentials", "v3 message from a device without a v3 credential")
        if env.usm.user != cred.user:
            return Rejected("bad_credentials", "v3 message of another user")
        want = (FLAG_AUTH if cred.auth_protocol else 0) | (FLAG_PRIV if cred.priv_protocol else 0)
        if flags & (FLAG_AUTH | FLAG_PRIV) != want:
            return Rejected("bad_credentials", "v3 message at another security level")
        ours = env.usm.engine_id == self.engine_id
        keys = self._keys_for(cred, env.usm.engine_id)
        if flags & FLAG_AUTH and not authentic(data, env, keys):
            return Rejected("bad_credentials", "v3 message with a wrong digest (auth key)")
        plain = env.data
        if flags & FLAG_PRIV:
            try:
                plain = keys.decrypt(env.data, env.usm.boots, env.usm.time, env.priv_params)
            except ValueError as exc:
                return Rejected("bad_credentials", f"v3 decryption failed ({exc})")
        try:
            scoped = decode_scoped_pdu(plain)
        except MalformedPacket:
            return Rejected("bad_credentials", "v3 scoped PDU unreadable (priv key?)")
        msg = scoped.message
        if msg.pdu_type not in (SNMPV2_TRAP, INFORM_REQUEST):
            return Rejected("unsupported", f"v3 PDU 0x{msg.pdu_type:02x}")
        if msg.pdu_type == INFORM_REQUEST:
            if not ours:
                return Rejected("bad_credentials", "v3 inform for another engine ID")
            if flags & FLAG_AUTH and (env.usm.boots != self.boots or
                                      abs(env.usm.time - self.engine_time()) > TIME_WINDOW):
                return Rejected("time_window", "v3 inform outside the time window",
                                self._report(env, msg.request_id, NOT_IN_TIME_WINDOWS, keys))
        parts = split_v2(msg.varbinds)
        if parts is None:
            return Rejected("malformed", "v3 notification without snmpTrapOID.0")
        trap_oid, uptime, rest = parts
        if msg.pdu_type == SNMPV2_TRAP:
            return Trap("3", "trap", trap_oid, rest, uptime, engine_id=env.usm.engine_id)
        pdu = tlv(RESPONSE, tlv(Tag.INTEGER, encode_signed(msg.request_id)) + b"\x02\x01\x00"
                  + b"\x02\x01\x00" + tlv(0x30, acknowledgement_varbinds(msg.varbinds)))
        ack = encode_message(env.msg_id, flags & (FLAG_AUTH | FLAG_PRIV),
                             UsmParams(self.engine_id, self.boots, self.engine_time(),
                                       env.usm.user), pdu,
                             context_engine_id=scoped.context_engine_id,
                             context_name=scoped.context_name,
                             keys=keys if flags & FLAG_AUTH else None)
        return Trap("3", "inform", trap_oid, rest, uptime, ack)
