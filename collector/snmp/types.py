"""Types shared by every SNMP session implementation and its callers.

Values are plain Python objects so that the hot path never touches pyasn1:
integers for INTEGER/Counter/Gauge/TimeTicks, bytes for OCTET STRING/IpAddress/Opaque,
an OID tuple for OBJECT IDENTIFIER, None for NULL and the v2 exception values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple, Protocol

OID = tuple[int, ...]


class Tag(IntEnum):
    """BER tags of the SNMP value types (RFC 2578 / RFC 3416)."""

    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OBJECT_IDENTIFIER = 0x06
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82
    # Not a wire tag (wire tags fit one byte): marks a varbind whose value the codec refused,
    # e.g. a Counter32 in 5 bytes. Its value is a BadValue; the rest of the response is kept.
    BAD_VALUE = 0x100


EXCEPTION_TAGS = frozenset({Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW})


class BadValue(NamedTuple):
    """Why a varbind's value was refused (tag BAD_VALUE), so one bad value costs one varbind."""

    wire_tag: int  # the tag as it came off the wire, e.g. 0x41 for a Counter32
    reason: str  # short, e.g. "Counter32 out of range (5 bytes)"


Value = int | bytes | OID | BadValue | None


class VarBind(NamedTuple):
    """One variable binding as decoded from the wire."""

    oid: OID
    tag: int
    value: Value


ERROR_STATUS_NAMES = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
    "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
    "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
    "authorizationError", "notWritable", "inconsistentName",
)


def error_status_name(status: int) -> str:
    """The RFC 3416 name of an error-status, so messages never say 'Error Status 5'."""
    if 0 <= status < len(ERROR_STATUS_NAMES):
        return ERROR_STATUS_NAMES[status]
    return f"unknown error-status {status}"


def oid_str(oid: OID) -> str:
    """Dotted form of an OID, as operators write it."""
    return ".".join(map(str, oid))


def parse_oid(text: str) -> OID:
    """Parse a dotted OID ('1.3.6.1.2.1.1.3.0' or '.1.3...'); raises ValueError."""
    parts = text.strip().lstrip(".").split(".")
    oid = tuple(int(p) for p in parts)
    if len(oid) < 2 or any(x < 0 for x in oid):
        raise ValueError(f"not an OID: {text!r}")
    return oid


class SnmpError(Exception):
    """Base of every SNMP failure; `reason` is short and safe to log (never a secret)."""

    reason = "snmp error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.reason)


class SnmpTimeout(SnmpError):
    """No (matching) response within timeout × (retries + 1), or the poll deadline passed."""

    reason = "timeout"


class SnmpErrorStatus(SnmpError):
    """The agent answered with a non-zero error-status (named, e.g. 'authorizationError')."""

    reason = "error-status"

    def __init__(self, status: int, index: int, message: str = "") -> None:
        self.status = status
        self.index = index
        self.name = error_status_name(status)
        super().__init__(message or f"agent answered {self.name} (index {index})")


class SnmpMalformed(SnmpError):
    """A response could not be decoded; the message says why in a few words."""

    reason = "malformed response"


class SnmpAuthError(SnmpError):
    """SNMPv3 security failure (wrong digest, unknown user, decryption error, ...)."""

    reason = "authentication"


@dataclass(slots=True)
class WalkResult:
    """Rows of one subtree walk. `complete` is False when the walk stopped early."""

    root: OID
    varbinds: list[VarBind] = field(default_factory=list)
    complete: bool = True
    problem: str | None = None  # e.g. "OID not increasing", "truncated at max_rows"


class SnmpSession(Protocol):
    """What the poller needs from SNMP, whatever the version underneath.

    Every call takes an absolute `deadline` (loop.time() based): no call outlives the
    poll that made it. Timeouts and retries per request come from the session's settings.
    """

    target: str  # "address:port", for messages; never contains a secret

    async def get(self, oids: Sequence[OID], *, deadline: float) -> list[VarBind]:
        """GET the given OIDs; one VarBind per OID (exception tags for missing objects)."""
        ...

    async def walk(self, root: OID, *, deadline: float, max_rows: int = 100_000) -> WalkResult:
        """Walk a subtree (GETBULK for v2c/v3, GETNEXT for v1)."""
        ...

    async def close(self) -> None:
        """Release sockets/engines. Idempotent."""
        ...


class ColumnWalkSession(SnmpSession, Protocol):
    """A session that can walk several table columns with one request per step.

    Optional: the poller uses it when a session has `walk_columns` and both flags below
    are true, and walks column by column otherwise (collector/snmp/walk.py's ColumnWalker
    is the shared implementation; a session subclasses it and provides `_next_rows`).
    """

    walks_columns: bool  # False once the agent answered joint requests oddly or slowly
    answers_quickly: bool  # True once it answered a full-size request well within timeout
    columns_per_request: int  # how many roots a call should take at least

    def columns_per_walk(self, roots: Sequence[OID]) -> int:
        """How many of a table's `roots` a caller should pass per walk_columns() call."""
        ...

    async def walk_columns(self, roots: Sequence[OID], *, deadline: float,
                           max_rows: int = 100_000) -> list[WalkResult | SnmpError]:
        """Walk the subtrees under `roots` together; per root, in order, its WalkResult
        (exactly what walk() would return) or the SnmpError that ended it."""
        ...
