"""Types shared by every SNMP session implementation and its callers.

Values are plain Python objects so that the hot path never touches pyasn1:
integers for INTEGER/Counter/Gauge/TimeTicks, bytes for OCTET STRING/IpAddress/Opaque,
an OID tuple for OBJECT IDENTIFIER, None for NULL and the v2 exception values.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
def _dotted(oid: tuple[int, ...]) -> str:
    return ".".join(map(str, oid))


def oid_str(oid: OID) -> str:
    """Dotted form of an OID, as operators write it. Cached: the walks name their
    columns (the same few profile OIDs) in every poll's messages."""
    try:
        return _dotted(oid)
    except TypeError:  # a list (unhashable)
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


class SnmpDeadline(SnmpTimeout):
    """The caller's deadline (the poll's) ran out while waiting: not the agent's silence.

    A subclass of SnmpTimeout, so callers that stop at a timeout stop here too; the
    message says which of the two happened (issue 11: "agent stopped answering after
    10375 rows" was printed when the poll deadline had run out).
    """


def timeout_error(exc: SnmpTimeout, *, what: str, target: str, elapsed: float, rows: int,
                  attempts: int, timeout: float, silent_hint: str) -> SnmpTimeout:
    """The error a session raises for a request that got no answer, saying which thing
    happened: the poll's deadline ran out (SnmpDeadline), or the agent let every attempt
    go unanswered (after `rows` rows of a walk, or `silent_hint` before any answer)."""
    head = f"{what} on {target} timed out after {elapsed:.1f} s"
    if isinstance(exc, SnmpDeadline):
        read = f"{rows} rows read" if rows else "no answer yet"
        return SnmpDeadline(f"{head}: the poll deadline ran out ({read})")
    if rows:
        return SnmpTimeout(f"{head} (agent stopped answering after {rows} rows: "
                           f"{attempts} attempt(s) of {timeout:g} s unanswered)")
    return SnmpTimeout(f"{head} ({silent_hint})")


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


# Why a walk stopped early (WalkResult.stopped_by); the poller's problem kinds reuse them.
STOP_LOOP = "loop"  # an OID did not increase
STOP_ROWS = "rows_bound"  # max_rows reached
STOP_REQUESTS = "requests_bound"  # the poll's RequestBudget ran out
STOP_EMPTY = "empty_response"  # an answer without varbinds


class RequestBudget:
    """How many SNMP requests one poll may still send (retries of a request not counted:
    the deadline bounds those). Shared by every walk and GET of the poll, so an agent
    that answers one row at a time, or invents rows, costs a bounded number of requests.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        """Spend one request; False (nothing spent) once the limit is reached."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def spent(self) -> bool:
        """True once every request of the budget has been used."""
        return self.used >= self.limit

    def problem(self) -> str:
        """What a walk stopped by this budget reports."""
        return f"request bound reached ({self.limit} requests in this poll)"


@dataclass(slots=True)
class WalkResult:
    """Rows of one subtree walk. `complete` is False when the walk stopped early."""

    root: OID
    varbinds: list[VarBind] = field(default_factory=list)
    complete: bool = True
    problem: str | None = None  # e.g. "OID not increasing", "row bound reached after 1024 rows"
    stopped_by: str | None = None  # STOP_LOOP, STOP_ROWS, STOP_REQUESTS or STOP_EMPTY
    # (index of the first varbind an answer brought, loop.time() when that answer arrived),
    # one per answer that brought rows: a value's age is its answer's, not the walk's end
    # (a page after a retry arrives seconds after the page before it).
    pages: list[tuple[int, float]] = field(default_factory=list)

    def stop(self, kind: str, problem: str) -> None:
        """Mark the walk as ended early by `kind` (one of the STOP_* values)."""
        self.complete = False
        self.stopped_by = kind
        self.problem = problem


class SnmpSession(Protocol):
    """What the poller needs from SNMP, whatever the version underneath.

    Every call takes an absolute `deadline` (loop.time() based): no call outlives the
    poll that made it. Timeouts and retries per request come from the session's settings.
    """

    target: str  # "address:port", for messages; never contains a secret

    async def get(self, oids: Sequence[OID], *, deadline: float) -> list[VarBind]:
        """GET the given OIDs; one VarBind per OID (exception tags for missing objects)."""
        ...

    async def walk(self, root: OID, *, deadline: float, max_rows: int = 100_000,
                   budget: RequestBudget | None = None) -> WalkResult:
        """Walk a subtree (GETBULK for v2c/v3, GETNEXT for v1), at most `max_rows` rows
        and, with a `budget`, no request past it."""
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
                           max_rows: int = 100_000, budget: RequestBudget | None = None
                           ) -> list[WalkResult | SnmpError]:
        """Walk the subtrees under `roots` together; per root, in order, its WalkResult
        (exactly what walk() would return) or the SnmpError that ended it."""
        ...
