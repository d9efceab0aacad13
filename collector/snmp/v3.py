"""`V3Session`: SNMPv3 with USM (RFC 3414) over our own BER codec and a shared UDP endpoint.

This replaced a pysnmp-based session that cost 12x the Go snmp_exporter's CPU per varbind
(pyasn1 decoding took most of it). pysnmp stays a test dependency: the differential tests
check this module's keys, MACs and ciphers against it.

Per session (one device) the state is the agent's engine: engine ID, boots and time (as a
local clock offset), and the credential's keys localised to that engine ID.

- Discovery (RFC 3414 4): an unauthenticated, empty-user GET; the agent's Report carries
  its engine ID (and, from net-snmp, boots and time).
- Time window: requests carry boots and the agent's time as estimated from the last
  authenticated message. A notInTimeWindow report (e.g. after the agent's engineBoots went
  down, A23) re-syncs to the report's boots/time and the request is sent again.
- An unknownEngineIDs report (the agent restarted with a new engine ID, A22) starts
  discovery again, then the request is sent again; the change is logged once.
- Other reports become distinct, secret-free SnmpAuthError messages (A21): unknown user,
  wrong digest, unsupported security level, decryption error; an authenticated answer that
  does not decrypt to a ScopedPDU is reported as a wrong priv key. net-snmp drops a request
  it cannot decrypt, so a wrong priv key towards it is a timeout: its message says that
  discovery worked, which points at the priv key.
- Nothing of an answer is believed before its MAC is checked; a Response must come back
  at the security level of the request. Answers are matched by a random in-flight msgID
  and source; unauthenticated unknownEngineID reports are believed, as pysnmp and net-snmp do.
- Replay guard (RFC 3414 3.2 step 7b): once the engine's boots/time came from an
  authenticated message, an authenticated Response older than the window (lower boots, or
  the same boots and a time more than 150 s behind the estimate) is refused with an error:
  a recorded answer played back by someone on the path. Until then (right after discovery,
  whose Report is not authenticated) there is nothing trustworthy to compare with.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence

from borderwatch.collector.snmp.ber import (
    GET_BULK_REQUEST,
    GET_REQUEST,
    RESPONSE,
    MalformedPacket,
    Message,
)
from borderwatch.collector.snmp.settings import SessionSettings, resolve_address
from borderwatch.collector.snmp.timing import RequestTiming
from borderwatch.collector.snmp.types import (
    OID,
    SnmpAuthError,
    SnmpDeadline,
    SnmpError,
    SnmpErrorStatus,
    SnmpMalformed,
    SnmpTimeout,
    VarBind,
    error_status_name,
    oid_str,
    timeout_error,
)
from borderwatch.collector.snmp.usm import (
    AUTH_PROTOCOLS,
    CRYPTO_MISSING,
    PRIV_PROTOCOLS,
    EngineKeys,
)
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
    encode_pdu,
    report_oid,
)
from borderwatch.collector.snmp.v3_transport import V3Endpoint
from borderwatch.collector.snmp.walk import TOO_BIG, ColumnWalker, Page

log = logging.getLogger(__name__)

_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
UNSUPPORTED_SEC_LEVELS = (*_USM_STATS, 1, 0)
NOT_IN_TIME_WINDOWS = (*_USM_STATS, 2, 0)
UNKNOWN_USER_NAMES = (*_USM_STATS, 3, 0)
UNKNOWN_ENGINE_IDS = (*_USM_STATS, 4, 0)
WRONG_DIGESTS = (*_USM_STATS, 5, 0)
DECRYPTION_ERRORS = (*_USM_STATS, 6, 0)
UNKNOWN_CONTEXTS = (1, 3, 6, 1, 6, 3, 12, 1, 5, 0)
UNAVAILABLE_CONTEXTS = (1, 3, 6, 1, 6, 3, 12, 1, 4, 0)

# Reports that end a request, with the message they get. Messages name the failure only.
_REPORT_ERRORS: dict[OID, str] = {
    WRONG_DIGESTS: "wrong auth key or protocol (Wrong SNMP PDU digest)",
    UNKNOWN_USER_NAMES: "unknown SNMPv3 user",
    DECRYPTION_ERRORS: "decryption error (wrong priv key or protocol)",
    UNSUPPORTED_SEC_LEVELS: "unsupported security level (the agent wants another auth/priv "
                            "level for this user)",
    NOT_IN_TIME_WINDOWS: "not in time window (engine boots/time)",
    UNKNOWN_ENGINE_IDS: "unknown engine ID (discovery failed)",
    UNKNOWN_CONTEXTS: "unknown context",
    UNAVAILABLE_CONTEXTS: "unavailable context",
}

# discovery, then at most two re-syncs (a new engine ID, then its time window) per request
_MAX_EXCHANGES = 4
TIME_WINDOW = 150  # seconds (RFC 3414 2.2.3)


def require_v3_crypto() -> None:
    """Fail at start-up, not at the first poll, when v3 privacy cannot work (A21)."""
    if importlib.util.find_spec("cryptography") is None:
        raise SnmpError(CRYPTO_MISSING)
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: F401
    except ImportError as exc:
        raise SnmpError(CRYPTO_MISSING) from exc


class _Engine:
    """What a session knows of its agent's engine (the keys are localised to its ID)."""

    __slots__ = ("authentic", "boots", "engine_id", "keys", "synced_at", "time")

    def __init__(self, engine_id: bytes, boots: int, engine_time: int, synced_at: float,
                 keys: EngineKeys) -> None:
        self.engine_id = engine_id
        self.boots = boots
        self.time = engine_time
        self.synced_at = synced_at
        self.keys = keys
        self.authentic = False  # boots/time came from an authenticated message

    def now(self, clock: float) -> int:
        """The agent's engineTime as estimated from the last sync."""
        return min(0x7FFFFFFF, self.time + int(clock - self.synced_at))

    def too_old(self, boots: int, engine_time: int, clock: float) -> bool:
        """RFC 3414 3.2 step 7b: an authenticated message outside the time window."""
        if not self.authentic:
            return False
        return boots < self.boots or (boots == self.boots
                                      and engine_time < self.now(clock) - TIME_WINDOW)


class V3Session(ColumnWalker):
    """One device spoken to with SNMPv3 (USM); implements SnmpSession and ColumnWalkSession
    (several table columns per GETBULK, see walk.ColumnWalker)."""

    def __init__(self, settings: SessionSettings, *, local_address: str = "0.0.0.0",
                 max_in_flight: int = 64) -> None:
        if settings.version != "3" or not settings.user:
            raise ValueError("V3Session needs version 3 and a user")
        if settings.priv_protocol:
            require_v3_crypto()
        self.settings = settings
        self.target = settings.target
        self.max_repetitions = settings.max_repetitions
        self.max_oids_per_get = settings.max_oids_per_get
        self._bulk = True
        self._local_address = local_address
        self._max_in_flight = max_in_flight
        self._user = settings.user.encode()
        self._context = settings.context.encode()
        self._auth = AUTH_PROTOCOLS[settings.auth_protocol] if settings.auth_protocol else None
        self._priv = PRIV_PROTOCOLS[settings.priv_protocol] if settings.priv_protocol else None
        self._flags = ((FLAG_AUTH if self._auth else 0) | (FLAG_PRIV if self._priv else 0)
                       | FLAG_REPORTABLE)
        self._engine: _Engine | None = None
        self._discovery = asyncio.Lock()
        self._known_engine_id: bytes | None = None  # the ID before a rediscovery
        self._endpoint: V3Endpoint | None = None
        self._address: str | None = None
        self._sent = 0
        self._closed = False
        self.timing = RequestTiming(settings)  # timeout/retries, fixed or measured
        self._last_timing = (0.0, 0)  # (timeout, retries) of the latest request, for errors

    @property
    def requests_sent(self) -> int:
        """Datagrams sent by this session so far (discovery and retries included)."""
        return self._sent

    @property
    def engine_id(self) -> bytes | None:
        """The agent's authoritative engine ID as last discovered (None before the first
        poll): what its v3 traps must carry (collector/traps)."""
        return self._known_engine_id

    async def _open(self) -> tuple[V3Endpoint, str]:
        if self._closed:
            raise SnmpError("session closed")
        if self._address is None:
            self._address = await resolve_address(self.settings.address, self.settings.port)
        if self._endpoint is None:
            if ipaddress.ip_address(self._address).version == 6:
                local = "::1" if ipaddress.ip_address(self._local_address).is_loopback else "::"
                family = socket.AF_INET6
            else:
                local, family = self._local_address, socket.AF_INET
            self._endpoint = V3Endpoint.acquire(family, local, self._max_in_flight)
        return self._endpoint, self._address

    def _keys(self, engine_id: bytes) -> EngineKeys:
        s = self.settings
        return EngineKeys(engine_id, self._auth,
                          s.auth_key.reveal().encode() if s.auth_key else None,
                          self._priv, s.priv_key.reveal().encode() if s.priv_key else None)

    # ------------------------------------------------------------------ one exchange

    async def _send(self, build_pdu: Callable[[int], bytes], flags: int, engine: _Engine | None,
                    *, deadline: float) -> tuple[Envelope, bytes]:
        """Send one message built for `engine` (None: discovery); the answer, taken apart."""
        endpoint, address = await self._open()
        loop = asyncio.get_running_loop()

        def build(msg_id: int) -> bytes:
            pdu = build_pdu(msg_id)
            if engine is None:  # discovery: no user, no engine, no keys
                return encode_message(msg_id, FLAG_REPORTABLE, UsmParams(b"", 0, 0, b""), pdu,
                                      context_engine_id=b"", context_name=b"", keys=None)
            usm = UsmParams(engine.engine_id, engine.boots, engine.now(loop.time()), self._user)
            return encode_message(msg_id, flags, usm, pdu, context_engine_id=engine.engine_id,
                                  context_name=self._context, keys=engine.keys)

        s, timing = self.settings, self.timing
        timeout, retries = self._last_timing = timing.timeout(), timing.retries()
        sends: list[float] = []  # send times of this request's attempts

        def on_send() -> None:
            self._sent += 1
            sends.append(loop.time())

        try:
            data = await endpoint.request(address, s.port, build, timeout=timeout,
                                          retries=retries, deadline=deadline,
                                          accept_any_source=s.accept_any_source,
                                          on_send=on_send)
        except SnmpTimeout as exc:
            if not isinstance(exc, SnmpDeadline):  # the deadline cut it: says nothing
                timing.silent()
            raise
        if sends:
            answered = loop.time()
            timing.answered(answered - sends[0], len(sends), answered - sends[-1])
        return decode_envelope(data), data

    def _open_answer(self, envelope: Envelope, data: bytes, engine: _Engine | None) -> Message:
        """Check the MAC with the keys the request was sent with, decrypt, decode; errors
        say which step failed, never a key."""
        flags = envelope.flags
        if flags & FLAG_AUTH:
            keys = engine.keys if engine is not None else None
            if keys is None or keys.auth is None or envelope.usm.engine_id != keys.engine_id:
                raise SnmpMalformed("an authenticated answer this session cannot check")
            if not authentic(data, envelope, keys):
                raise SnmpAuthError("answer failed authentication (wrong auth key or protocol)")
            if envelope.usm.user != self._user:
                raise SnmpMalformed("answer for another user")
            if flags & FLAG_PRIV:
                if keys.priv is None:
                    raise SnmpMalformed("an encrypted answer to a session without privacy")
                try:
                    plain = keys.decrypt(envelope.data, envelope.usm.boots, envelope.usm.time,
                                         envelope.priv_params)
                    return decode_scoped_pdu(plain).message
                except (ValueError, MalformedPacket):
                    raise SnmpAuthError("decryption error (wrong priv key or protocol): the "
                                        "authenticated answer did not decrypt") from None
        elif flags & FLAG_PRIV:
            raise SnmpMalformed("encrypted answer without authentication")
        return decode_scoped_pdu(envelope.data).message

    async def _discover(self, *, deadline: float) -> _Engine:
        """The agent's engine, discovered once for concurrent requests of this session."""
        async with self._discovery:
            if self._engine is not None:  # another request of this session found it
                return self._engine
            envelope, data = await self._send(
                lambda msg_id: encode_pdu(GET_REQUEST, msg_id, ()), 0, None, deadline=deadline)
            message = self._open_answer(envelope, data, None)
            self._engine = self._new_engine(envelope, message)
            return self._engine

    def _new_engine(self, envelope: Envelope, message: Message) -> _Engine:
        usm = envelope.usm
        if report_oid(message) is None or not usm.engine_id:
            raise SnmpMalformed("engine discovery was not answered with a Report")
        if self._known_engine_id is not None and usm.engine_id != self._known_engine_id:
            log.info("%s: SNMPv3 engine ID changed (agent restarted?); rediscovered",
                     self.target)
        self._known_engine_id = usm.engine_id
        return _Engine(usm.engine_id, usm.boots, usm.time, asyncio.get_running_loop().time(),
                       self._keys(usm.engine_id))

    @staticmethod
    def _sync(engine: _Engine, envelope: Envelope, *, force: bool) -> None:
        """Take boots/time from an authenticated answer: newer ones always, older only when
        the agent says we are out of its window (its boots went down, A23)."""
        usm = envelope.usm
        if usm.engine_id != engine.engine_id:
            return
        clock = asyncio.get_running_loop().time()
        if force or (usm.boots, usm.time) > (engine.boots, engine.now(clock)):
            engine.boots, engine.time, engine.synced_at = usm.boots, usm.time, clock
        engine.authentic = True

    async def _exchange(self, pdu_type: int, oids: Sequence[OID], *, deadline: float,
                        what: str, started: float, rows: int = 0,
                        max_repetitions: int = 0) -> Message:
        """One request (after discovery or re-sync as needed) and its Response."""
        def build_pdu(msg_id: int) -> bytes:
            return encode_pdu(pdu_type, msg_id, oids, max_repetitions=max_repetitions)

        resynced = False
        try:
            for _ in range(_MAX_EXCHANGES):
                engine = self._engine or await self._discover(deadline=deadline)
                envelope, data = await self._send(build_pdu, self._flags, engine,
                                                  deadline=deadline)
                message = self._open_answer(envelope, data, engine)
                oid = report_oid(message)
                if oid is None:
                    if message.pdu_type != RESPONSE:
                        raise SnmpMalformed(f"unexpected PDU type 0x{message.pdu_type:02x}")
                    if envelope.flags & (FLAG_AUTH | FLAG_PRIV) != self._flags & (
                            FLAG_AUTH | FLAG_PRIV):
                        raise SnmpMalformed("response at another security level than asked")
                    if envelope.flags & FLAG_AUTH:
                        usm = envelope.usm
                        if engine.too_old(usm.boots, usm.time,
                                          asyncio.get_running_loop().time()):
                            raise SnmpAuthError(
                                f"answer outside the time window (engine boots {usm.boots}, "
                                f"time {usm.time}; expected about boots {engine.boots}, time "
                                f"{engine.now(asyncio.get_running_loop().time())}): an old "
                                "or replayed message")
                        self._sync(engine, envelope, force=False)
                    return message
                if oid == UNKNOWN_ENGINE_IDS and not resynced:
                    if self._engine is engine:  # not yet rediscovered by another request
                        self._engine = None  # a new engine ID: discover it, then ask again
                    resynced = True
                    continue
                if oid == NOT_IN_TIME_WINDOWS and envelope.flags & FLAG_AUTH:
                    # authenticated (checked above): its boots/time are the agent's
                    self._sync(engine, envelope, force=True)
                    continue
                raise SnmpAuthError(_REPORT_ERRORS.get(oid, f"agent sent report {oid_str(oid)}"))
            raise SnmpAuthError(_REPORT_ERRORS[NOT_IN_TIME_WINDOWS])
        except SnmpTimeout as exc:
            elapsed = asyncio.get_running_loop().time() - started
            if self._engine is not None and (self._priv is not None or self._context):
                # net-snmp drops what it cannot decrypt, and requests for unknown contexts
                suspects = " or ".join(
                    (["a wrong priv key or protocol"] if self._priv is not None else [])
                    + (["an unknown context"] if self._context else []))
                hint = ("check user/keys/ACL/reachability; the agent answered engine discovery, "
                        f"so {suspects} is likely")
            else:
                hint = "check user/keys/ACL/reachability"
            if self._engine is not None:
                # next time, start with discovery: the agent may have a new engine ID
                self._engine = None
            timeout, retries = self._last_timing
            raise timeout_error(exc, what=what, target=self.target, elapsed=elapsed,
                                rows=rows, attempts=retries + 1,
                                timeout=timeout, silent_hint=hint) from None
        except SnmpAuthError as exc:
            raise SnmpAuthError(f"{what} on {self.target}: {exc}") from None
        except SnmpMalformed as exc:
            raise SnmpMalformed(f"malformed response to {what} from {self.target}: {exc}") \
                from None

    # ------------------------------------------------------------------ operations

    async def get(self, oids: Sequence[OID], *, deadline: float) -> list[VarBind]:
        """GET in chunks of at most max_oids_per_get OIDs; one VarBind per OID, in order."""
        wanted = [tuple(oid) for oid in oids]
        started = asyncio.get_running_loop().time()
        what = f"get of {oid_str(wanted[0]) if wanted else 'nothing'}" + (
            f" (+{len(wanted) - 1} more)" if len(wanted) > 1 else "")
        out: list[VarBind] = []
        pos = 0
        while pos < len(wanted):
            chunk = wanted[pos:pos + self.max_oids_per_get]
            message = await self._exchange(GET_REQUEST, chunk, deadline=deadline, what=what,
                                           started=started)
            status, index = message.error_status, message.error_index
            if status == TOO_BIG and len(chunk) > 1:
                self.max_oids_per_get = max(1, len(chunk) // 2)
                continue
            if status:
                raise SnmpErrorStatus(status, index, f"agent answered {error_status_name(status)}"
                                                     f" (index {index}) to {what} on {self.target}")
            if [vb.oid for vb in message.varbinds] != chunk:
                raise SnmpMalformed(f"malformed response to {what} from {self.target}: "
                                    "varbinds do not match the request")
            out.extend(message.varbinds)
            pos += len(chunk)
        return out

    async def _next_page(self, last: OID, repetitions: int, *, deadline: float, what: str,
                         started: float, rows: int) -> Page:
        return await self._next_rows((last,), repetitions, deadline=deadline, what=what,
                                     started=started, rows=rows)

    async def _next_rows(self, lasts: Sequence[OID], repetitions: int, *, deadline: float,
                         what: str, started: float, rows: int) -> Page:
        message = await self._exchange(GET_BULK_REQUEST, lasts, deadline=deadline, what=what,
                                       started=started, rows=rows, max_repetitions=repetitions)
        return Page(message.error_status, message.error_index, message.varbinds)

    async def close(self) -> None:
        """Release this session's use of the shared v3 endpoint. Idempotent."""
        if self._closed:
            return
        self._closed = True
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            endpoint.release()

