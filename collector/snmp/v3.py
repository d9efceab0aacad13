"""`V3Session`: SNMPv3 through pysnmp 7's asyncio API. The ONLY module that imports pysnmp.

Engines: one pysnmp SnmpEngine per event loop *and credential set* (user, protocols, keys,
local address), shared by every device that uses it and closed with its last session.
One engine for the whole process is not safe: pysnmp keys its USM users by user name, so
two devices with the same user name and different keys would overwrite each other. An
engine costs ~0.8 MB and ~70 ms CPU to create (measured), so per-session engines would be
wasteful in a network that shares one v3 credential, which is the common case.

Values come back as the plain types of collector.snmp.types (lookupMib=False: no MIBs).
Errors are mapped to distinct, secret-free messages (reliability test A21):
wrong digest, unknown user, decryption error, unsupported security level, authorizationError
(SnmpErrorStatus), timeouts. After an agent restart with a new engine ID, pysnmp learns
the new ID from the agent's report and the next request succeeds (A22).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.rfc1902 import ObjectName

from collector.snmp.settings import SessionSettings
from collector.snmp.types import (
    OID,
    SnmpAuthError,
    SnmpError,
    SnmpErrorStatus,
    SnmpMalformed,
    SnmpTimeout,
    Tag,
    VarBind,
    error_status_name,
    oid_str,
)
from collector.snmp.walk import TOO_BIG, Page, SubtreeWalker

log = logging.getLogger(__name__)

CRYPTO_MISSING = "SNMPv3 privacy needs the cryptography package (pip install cryptography)"

_AUTH = {
    None: hlapi.usmNoAuthProtocol,
    "MD5": hlapi.usmHMACMD5AuthProtocol,
    "SHA": hlapi.usmHMACSHAAuthProtocol,
    "SHA-224": hlapi.usmHMAC128SHA224AuthProtocol,
    "SHA-256": hlapi.usmHMAC192SHA256AuthProtocol,
    "SHA-384": hlapi.usmHMAC256SHA384AuthProtocol,
    "SHA-512": hlapi.usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    None: hlapi.usmNoPrivProtocol,
    "DES": hlapi.usmDESPrivProtocol,
    "AES-128": hlapi.usmAesCfb128Protocol,
    # net-snmp's AES-192/AES-256 extend the key the Blumenthal way (see testbed.md)
    "AES-192": hlapi.usmAesBlumenthalCfb192Protocol,
    "AES-256": hlapi.usmAesBlumenthalCfb256Protocol,
    "AES-192-C": hlapi.usmAesCfb192Protocol,
    "AES-256-C": hlapi.usmAesCfb256Protocol,
}

# Error indications → (exception type, message). Messages name the failure, never a key.
_INDICATIONS: list[tuple[type[errind.ErrorIndication], type[SnmpError], str]] = [
    (errind.WrongDigest, SnmpAuthError, "wrong auth key or protocol (Wrong SNMP PDU digest)"),
    (errind.UnknownUserName, SnmpAuthError, "unknown SNMPv3 user"),
    (errind.DecryptionError, SnmpAuthError,
     "decryption error (wrong priv key or protocol)"),
    (errind.UnsupportedSecurityLevel, SnmpAuthError,
     "unsupported security level (the agent wants another auth/priv level for this user)"),
    (errind.AuthenticationFailure, SnmpAuthError, "authentication failure"),
    (errind.AuthenticationError, SnmpAuthError, "authentication error"),
    (errind.EncryptionError, SnmpError, CRYPTO_MISSING),
    (errind.UnknownEngineID, SnmpAuthError, "unknown engine ID (discovery failed)"),
    (errind.NotInTimeWindow, SnmpAuthError, "not in time window (engine boots/time)"),
    (errind.RequestTimedOut, SnmpTimeout, ""),
    (errind.OidNotIncreasing, SnmpMalformed, "OID not increasing"),
    (errind.DeserializationError, SnmpMalformed, "response could not be decoded"),
]

_TAGS: dict[Any, int] = {
    rfc1902.Integer32.tagSet: Tag.INTEGER,
    rfc1902.OctetString.tagSet: Tag.OCTET_STRING,
    rfc1902.ObjectIdentifier.tagSet: Tag.OBJECT_IDENTIFIER,
    rfc1902.IpAddress.tagSet: Tag.IP_ADDRESS,
    rfc1902.Counter32.tagSet: Tag.COUNTER32,
    rfc1902.Gauge32.tagSet: Tag.GAUGE32,
    rfc1902.TimeTicks.tagSet: Tag.TIMETICKS,
    rfc1902.Opaque.tagSet: Tag.OPAQUE,
    rfc1902.Counter64.tagSet: Tag.COUNTER64,
    rfc1905.NoSuchObject.tagSet: Tag.NO_SUCH_OBJECT,
    rfc1905.NoSuchInstance.tagSet: Tag.NO_SUCH_INSTANCE,
    rfc1905.EndOfMibView.tagSet: Tag.END_OF_MIB_VIEW,
    rfc1905.univ.Null.tagSet: Tag.NULL,
}


def require_v3_crypto() -> None:
    """Fail at start-up, not at the first poll, when v3 privacy cannot work (A21)."""
    if importlib.util.find_spec("cryptography") is None:
        raise SnmpError(CRYPTO_MISSING)
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: F401
    except ImportError as exc:
        raise SnmpError(CRYPTO_MISSING) from exc


def _plain(name: Any, value: Any) -> VarBind:
    """A pysnmp (name, value) pair as a plain VarBind."""
    tag = _TAGS.get(value.tagSet)
    if tag is None:
        return VarBind(tuple(name), Tag.BAD_VALUE, None)
    if tag in (Tag.INTEGER, Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64):
        return VarBind(tuple(name), tag, int(value))
    if tag in (Tag.OCTET_STRING, Tag.IP_ADDRESS, Tag.OPAQUE):
        return VarBind(tuple(name), tag, bytes(value))
    if tag == Tag.OBJECT_IDENTIFIER:
        return VarBind(tuple(name), tag, tuple(value))
    return VarBind(tuple(name), tag, None)


class _Engine:
    """A pysnmp engine shared by the sessions of one credential set, reference counted."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.engine = hlapi.SnmpEngine()
        self.users = 0


# Per event loop: pysnmp engines bind their sockets and timers to the loop that made them.
_ENGINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Engine]] = (
    weakref.WeakKeyDictionary())


def _credential_key(settings: SessionSettings, local_address: str) -> str:
    # A digest, so no key material sits in a dict key that a debugger or repr might show.
    parts = [settings.user or "", settings.auth_protocol or "", settings.priv_protocol or "",
             settings.auth_key.reveal() if settings.auth_key else "",
             settings.priv_key.reveal() if settings.priv_key else "", local_address]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class V3Session(SubtreeWalker):
    """One device spoken to with SNMPv3 (USM); implements the SnmpSession protocol."""

    def __init__(self, settings: SessionSettings, *, local_address: str = "0.0.0.0") -> None:
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
        self._auth = hlapi.UsmUserData(
            settings.user,
            authKey=settings.auth_key.reveal() if settings.auth_key else None,
            privKey=settings.priv_key.reveal() if settings.priv_key else None,
            authProtocol=_AUTH[settings.auth_protocol],
            privProtocol=_PRIV[settings.priv_protocol],
        )
        self._context = hlapi.ContextData(contextName=settings.context.encode())
        self._engine: _Engine | None = None
        self._target: Any = None
        self._sent = 0
        self._closed = False
        self._known_engine_id: bytes | None = None  # set while a rediscovery is pending

    @property
    def requests_sent(self) -> int:
        """Requests handed to pysnmp (its own retries are not visible from here)."""
        return self._sent

    async def _open(self) -> tuple[Any, Any]:
        if self._closed:
            raise SnmpError("session closed")
        if self._engine is None:
            engines = _ENGINES.setdefault(asyncio.get_running_loop(), {})
            key = _credential_key(self.settings, self._local_address)
            shared = engines.get(key)
            if shared is None:
                shared = engines[key] = _Engine(key)
            shared.users += 1
            self._engine = shared
        if self._target is None:
            s = self.settings
            six = ":" in s.address  # an IPv6 literal; names resolve as IPv4
            cls = hlapi.Udp6TransportTarget if six else hlapi.UdpTransportTarget
            target = await cls.create((s.address, s.port), timeout=s.timeout, retries=s.retries)
            target.set_local_address(("::" if six and self._local_address == "0.0.0.0"
                                      else self._local_address, 0))
            self._target = target
        return self._engine.engine, self._target

    def _peer_engine_id(self) -> bytes | None:
        """The engine ID pysnmp has cached for this target (None before discovery)."""
        if self._engine is None or self._target is None:
            return None
        target = self._target
        for mp in self._engine.engine.message_processing_subsystems.values():
            if hasattr(mp, "get_peer_engine_info"):
                engine_id = mp.get_peer_engine_info(target.TRANSPORT_DOMAIN,
                                                    target.transport_address)[0]
                if engine_id is not None:
                    return bytes(engine_id)
        return None

    def _forget_peer(self) -> None:
        """Make pysnmp rediscover this target's engine ID, boots and time.

        pysnmp caches a peer's engine ID for 300 s and drops the agent's reports that carry
        a new one, so after an agent restart with a new engine ID (or lower engineBoots)
        every request would time out for five minutes (A22, A23). Called on a timeout:
        the next request starts with discovery. Touches pysnmp internals, guarded.
        """
        if self._engine is None or self._target is None:
            return
        address = tuple(self._target.transport_address)[:2]
        engine = self._engine.engine
        for mp in engine.message_processing_subsystems.values():
            cache = getattr(mp, "_SnmpV3MessageProcessingModel__engineIdCache", None)
            queue = getattr(mp, "_SnmpV3MessageProcessingModel__engineIdCacheExpQueue", None)
            if not isinstance(cache, dict) or not isinstance(queue, dict):
                continue
            for key in [k for k in cache if tuple(k[1])[:2] == address]:
                engine_id = cache.pop(key).get("securityEngineId")
                for keys in queue.values():  # its expiry would otherwise hit a missing key
                    while key in keys:
                        keys.remove(key)
                for sm in engine.security_models.values():
                    timeline = getattr(sm, "_SnmpUSMSecurityModel__timeline", None)
                    if isinstance(timeline, dict):
                        timeline.pop(engine_id, None)

    def _raise_indication(self, indication: Any, what: str, started: float) -> None:
        if isinstance(indication, errind.RequestTimedOut | errind.UnknownEngineID
                      | errind.NotInTimeWindow):
            if self._known_engine_id is None:
                self._known_engine_id = self._peer_engine_id()
            self._forget_peer()
        for kind, exc_type, text in _INDICATIONS:
            if isinstance(indication, kind):
                if exc_type is SnmpTimeout:
                    elapsed = asyncio.get_running_loop().time() - started
                    raise SnmpTimeout(
                        f"{what} on {self.target} timed out after {elapsed:.1f} s "
                        "(check user/keys/ACL/reachability)")
                raise exc_type(f"{what} on {self.target}: {text}")
        raise SnmpError(f"{what} on {self.target}: {type(indication).__name__}")

    async def _call(self, what: str, started: float, deadline: float, make: Any) -> Any:
        """Run one pysnmp command under the poll deadline; map its error indication."""
        engine, target = await self._open()
        self._sent += 1
        try:
            async with asyncio.timeout_at(deadline):
                indication, status, index, varbinds = await make(engine, target)
        except TimeoutError:
            self._forget_peer()
            elapsed = asyncio.get_running_loop().time() - started
            raise SnmpTimeout(f"{what} on {self.target} timed out after {elapsed:.1f} s "
                              "(poll deadline reached)") from None
        except SnmpError:
            raise
        except Exception as exc:  # pysnmp raises its own errors for local problems
            text = str(exc)
            if "Ciphering services not available" in text:
                raise SnmpError(f"{what} on {self.target}: {CRYPTO_MISSING}") from None
            # The class name only: pysnmp messages may quote configuration values.
            raise SnmpError(f"{what} on {self.target}: pysnmp {type(exc).__name__}") from None
        if indication:
            self._raise_indication(indication, what, started)
        if self._known_engine_id is not None:  # answered again after a rediscovery
            engine_id = self._peer_engine_id()
            if engine_id is not None and engine_id != self._known_engine_id:
                log.info("%s: SNMPv3 engine ID changed (agent restarted?); rediscovered",
                         self.target)
            self._known_engine_id = None
        return int(status), int(index), [_plain(name, value) for name, value in varbinds]

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
            objects = [hlapi.ObjectType(hlapi.ObjectIdentity(ObjectName(o))) for o in chunk]

            def make(engine: Any, target: Any, objects: list[Any] = objects) -> Any:
                return hlapi.get_cmd(engine, self._auth, target, self._context, *objects,
                                     lookupMib=False)

            status, index, varbinds = await self._call(what, started, deadline, make)
            if status == TOO_BIG and len(chunk) > 1:
                self.max_oids_per_get = max(1, len(chunk) // 2)
                continue
            if status:
                raise SnmpErrorStatus(status, index, f"agent answered {error_status_name(status)}"
                                                     f" (index {index}) to {what} on {self.target}")
            if [vb.oid for vb in varbinds] != chunk:
                raise SnmpMalformed(f"malformed response to {what} from {self.target}: "
                                    "varbinds do not match the request")
            out.extend(varbinds)
            pos += len(chunk)
        return out

    async def _next_page(self, last: OID, repetitions: int, *, deadline: float, what: str,
                         started: float, rows: int) -> Page:
        start = hlapi.ObjectType(hlapi.ObjectIdentity(ObjectName(last)))

        def make(engine: Any, target: Any) -> Any:
            return hlapi.bulk_cmd(engine, self._auth, target, self._context, 0, repetitions,
                                  start, lookupMib=False)

        status, index, varbinds = await self._call(what, started, deadline, make)
        return Page(status, index, varbinds)

    async def close(self) -> None:
        """Drop this session's use of its engine; the last user closes it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        shared, self._engine = self._engine, None
        if shared is None:
            return
        shared.users -= 1
        if shared.users == 0:
            engines = _ENGINES.get(asyncio.get_running_loop(), {})
            if engines.get(shared.key) is shared:
                del engines[shared.key]
            shared.engine.close_dispatcher()
