"""The subtree walk loop shared by the v1/v2c and v3 sessions (one place for loop rules)."""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from collector.snmp.types import (
    OID,
    SnmpErrorStatus,
    Tag,
    VarBind,
    WalkResult,
    error_status_name,
    oid_str,
)

log = logging.getLogger(__name__)

TOO_BIG = 1
NO_SUCH_NAME = 2
_END_TAGS = frozenset({Tag.END_OF_MIB_VIEW, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE})


class Page(NamedTuple):
    """One GETBULK/GETNEXT answer, whatever the protocol version underneath."""

    error_status: int
    error_index: int
    varbinds: list[VarBind]


class SubtreeWalker:
    """Base of the sessions: `walk()` over a version-specific `_next_page()`.

    Rules (reliability tests A14–A19): end cleanly at the end of the subtree, endOfMibView,
    noSuchObject/noSuchInstance or a v1 noSuchName; stop with problem "OID not increasing"
    (complete=False, rows kept) on a repeated or decreasing OID; cap at max_rows
    ("truncated at max_rows"); tooBig halves max_repetitions for the life of the session and
    asks again (a tooBig that persists at one row raises and restores the old value); a
    short GETBULK answer just continues from its last OID; any other error-status raises
    SnmpErrorStatus with the RFC name. Timeouts raise SnmpTimeout.
    """

    target: str
    max_repetitions: int
    _bulk: bool  # GETBULK (v2c/v3) or GETNEXT (v1)

    async def _next_page(self, last: OID, repetitions: int, *, deadline: float, what: str,
                         started: float, rows: int) -> Page:
        raise NotImplementedError

    async def walk(self, root: OID, *, deadline: float, max_rows: int = 100_000) -> WalkResult:
        """Walk the subtree under `root` (see the class docstring for the rules)."""
        root = tuple(root)
        result = WalkResult(root=root)
        rows = result.varbinds
        started = asyncio.get_running_loop().time()
        what = f"walk of {oid_str(root)}"
        depth = len(root)
        last = root
        reps_before = self.max_repetitions
        while True:
            if len(rows) >= max_rows:
                result.complete = False
                result.problem = f"truncated at max_rows ({max_rows})"
                return result
            repetitions = max(1, min(self.max_repetitions, max_rows - len(rows))) \
                if self._bulk else 1
            page = await self._next_page(last, repetitions, deadline=deadline, what=what,
                                         started=started, rows=len(rows))
            status = page.error_status
            if status:
                if status == TOO_BIG and repetitions > 1:
                    self.max_repetitions = max(1, repetitions // 2)
                    log.debug("%s answered tooBig to max-repetitions %d; now %d", self.target,
                              repetitions, self.max_repetitions)
                    continue
                if status == NO_SUCH_NAME and not self._bulk:
                    return result  # SNMPv1's way of saying "end of MIB view"
                if status == TOO_BIG:
                    # tooBig for a single row is not about size (an agent's error on one
                    # object): don't leave the session walking one row at a time for it.
                    self.max_repetitions = reps_before
                raise SnmpErrorStatus(
                    status, page.error_index,
                    f"agent answered {error_status_name(status)} (index {page.error_index}) "
                    f"to {what} on {self.target} after {len(rows)} rows")
            if not page.varbinds:
                result.complete = False
                result.problem = "empty response"
                return result
            for vb in page.varbinds:
                oid = vb.oid
                if vb.tag in _END_TAGS or len(oid) <= depth or oid[:depth] != root:
                    return result
                if oid <= last:
                    result.complete = False
                    result.problem = "OID not increasing"
                    log.debug("%s: %s: OID not increasing (%s after %s)", self.target, what,
                              oid_str(oid), oid_str(last))
                    return result
                rows.append(vb)
                last = oid
                if len(rows) >= max_rows:
                    break
            # A short GETBULK answer (A18) needs nothing special: continue from `last`.
