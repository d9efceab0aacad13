"""The subtree walk loop shared by the v1/v2c and v3 sessions (one place for loop rules)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.timing import RequestTiming
from borderwatch.collector.snmp.types import (
    OID,
    STOP_EMPTY,
    STOP_LOOP,
    STOP_REQUESTS,
    STOP_ROWS,
    RequestBudget,
    SnmpError,
    SnmpErrorStatus,
    SnmpTimeout,
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
    # Seconds from first send to answer, if the session knows it (else the caller times
    # the call, waits for a free slot included).
    answer_time: float | None = None


class SubtreeWalker:
    """Base of the sessions: `walk()` over a version-specific `_next_page()`.

    Rules (reliability tests A14–A19): end cleanly at the end of the subtree, endOfMibView,
    noSuchObject/noSuchInstance or a v1 noSuchName; stop with problem "OID not increasing"
    (complete=False, rows kept) on a repeated or decreasing OID; cap at max_rows
    ("row bound reached after N rows"), and at the poll's RequestBudget when one is
    given (no request is sent past it); tooBig halves max_repetitions for the life of the
    session and asks again (a tooBig that persists at one row raises and restores the old value); a
    short GETBULK answer just continues from its last OID; any other error-status raises
    SnmpErrorStatus with the RFC name. Timeouts raise SnmpTimeout.
    """

    target: str
    settings: SessionSettings
    max_repetitions: int
    _bulk: bool  # GETBULK (v2c/v3) or GETNEXT (v1)

    async def _next_page(self, last: OID, repetitions: int, *, deadline: float, what: str,
                         started: float, rows: int) -> Page:
        raise NotImplementedError

    def _answered(self, page: Page, sent: float, asked: int, joint: bool = False) -> None:
        """Hook: `page` answered a request for `asked` varbinds sent at `sent`."""

    @property
    def rows_per_request(self) -> int:
        """Rows of one column a walk request asks for (1 for SNMPv1's GETNEXT)."""
        return self.max_repetitions if self._bulk else 1

    async def walk(self, root: OID, *, deadline: float, max_rows: int = 100_000,
                   budget: RequestBudget | None = None) -> WalkResult:
        """Walk the subtree under `root` (see the class docstring for the rules)."""
        root = tuple(root)
        result = WalkResult(root=root)
        await self._walk_from(result, root, deadline=deadline, max_rows=max_rows,
                              started=asyncio.get_running_loop().time(), budget=budget)
        return result

    async def _walk_from(self, result: WalkResult, last: OID, *, deadline: float,
                         max_rows: int, started: float,
                         budget: RequestBudget | None = None) -> bool:
        """Continue `result`'s walk after `last` (its root, or its last row) to the end.

        Returns True if it ended cleanly (complete, no problem). The multi-column walk
        finishes a column with this when it gives up on walking it with others, so both
        walks follow the same rules.
        """
        root = result.root
        rows = result.varbinds
        what = f"walk of {oid_str(root)}"
        depth = len(root)
        reps_before = self.max_repetitions
        while True:
            if len(rows) >= max_rows:
                result.stop(STOP_ROWS, f"row bound reached after {max_rows} rows")
                return False
            if budget is not None and not budget.take():
                result.stop(STOP_REQUESTS, budget.problem())
                return False
            repetitions = max(1, min(self.max_repetitions, max_rows - len(rows))) \
                if self._bulk else 1
            sent = asyncio.get_running_loop().time()
            page = await self._next_page(last, repetitions, deadline=deadline, what=what,
                                         started=started, rows=len(rows))
            self._answered(page, sent, repetitions)
            status = page.error_status
            if status:
                if status == TOO_BIG and repetitions > 1:
                    self.max_repetitions = max(1, repetitions // 2)
                    log.debug("%s answered tooBig to max-repetitions %d; now %d", self.target,
                              repetitions, self.max_repetitions)
                    continue
                if status == NO_SUCH_NAME and not self._bulk:
                    return True  # SNMPv1's way of saying "end of MIB view"
                if status == TOO_BIG:
                    # tooBig for a single row is not about size (an agent's error on one
                    # object): don't leave the session walking one row at a time for it.
                    self.max_repetitions = reps_before
                raise SnmpErrorStatus(
                    status, page.error_index,
                    f"agent answered {error_status_name(status)} (index {page.error_index}) "
                    f"to {what} on {self.target} after {len(rows)} rows")
            if not page.varbinds:
                result.stop(STOP_EMPTY, "empty response")
                return False
            result.pages.append((len(rows), asyncio.get_running_loop().time()))
            for vb in page.varbinds:
                oid = vb.oid
                if vb.tag in _END_TAGS or len(oid) <= depth or oid[:depth] != root:
                    return True
                if oid <= last:
                    result.stop(STOP_LOOP, "OID not increasing")
                    log.debug("%s: %s: OID not increasing (%s after %s)", self.target, what,
                              oid_str(oid), oid_str(last))
                    return False
                rows.append(vb)
                last = oid
                if len(rows) >= max_rows:
                    break
            # A short GETBULK answer (A18) needs nothing special: continue from `last`.


class _GiveUp(Exception):
    """The multi-column walk met an answer it leaves to the per-column rules."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ColumnWalker(SubtreeWalker):
    """A session that can also walk several table columns with one request per step.

    `walk_columns()` sends one GETBULK with a repeater per unfinished column (a GETNEXT
    with one varbind per column for SNMPv1), so a table of 16 columns and 48 rows costs
    ~2 requests per 4 columns instead of 2 per column: fewer datagrams, syscalls and
    round trips per varbind. Implementations provide `_next_rows()`.

    The result is exactly what `walk()` of each column would return, by construction:
    every answer is checked column by column with the rules of `walk()`, and whatever
    those rules would treat specially (an error-status other than tooBig, an empty, short
    or misordered answer, an OID that does not increase) stops the joint walk and each
    unfinished column is finished by `walk()`'s own loop from where it stood. If those
    per-column walks then succeed, the agent evidently cannot serve several repeaters,
    and `walks_columns` turns False for the session (callers then walk per column).

    An error-status to several repeaters is first retried asking one row of each: net-snmp
    answers genErr when one repeater runs into the end of the MIB view and more
    repetitions follow, and is fine with one row.

    Answer time: callers walk jointly only once `answers_quickly` is True, i.e. the agent
    answered a full-size request within an eighth of the timeout; until then they walk
    per column, with the request size the timeout was chosen for. A request asks
    for at most `max_repetitions` rows of each column and at most `varbind_budget`
    varbinds in all: the budget starts at `max_repetitions` (one per-column request's
    worth) and doubles, up to columns_per_request x max_repetitions, while answers come
    within an eighth of the timeout; an answer slower than a quarter of it halves the
    budget, and at the smallest budget switches joint walks off (some agents, snmpsim
    among them, take several times longer per varbind for several repeaters). An agent
    near its timeout so keeps the per-column requests; a quick one gets 4 columns x 25
    rows per request after a couple of answers.
    The first request of a walk asks for the rows the previous walk of the same columns
    found, plus one to see the end, so a 4-row table costs 5 varbinds per column.

    How many columns one call should take (`columns_per_walk`): `columns_per_request`
    while a table's length is unknown or long (callers run those walks side by side, so
    a long table costs few round trips), and as many as the varbind budget holds once
    the last walks say the whole table fits: a 4-row table of 13 columns is then one
    request of 65 varbinds instead of four. Requests are what a poll pays for on both
    ends (a datagram, a syscall, a wake-up, a slot, a timer), varbinds are cheap.
    """

    # False for good once the agent answered joint requests oddly or slowly.
    walks_columns = True
    # True once the agent answered a full-size request quickly: callers walk per column
    # before that (see the class docstring).
    answers_quickly = False
    columns_per_request = 4  # x max-repetitions 25: at most 100 varbinds (~4 kB) an answer
    # Varbinds one joint request may ask for (see the class docstring); None: not yet set.
    varbind_budget: int | None = None
    # Per column root, the rows its last complete joint walk found (bounded; see
    # walk_columns): the first request's size and columns_per_walk() come from it.
    _row_hints: dict[OID, int] | None = None
    timing: RequestTiming  # the session's (timing.py)

    async def _next_rows(self, lasts: Sequence[OID], repetitions: int, *, deadline: float,
                         what: str, started: float, rows: int) -> Page:
        """One GETBULK with `lasts` as repeaters (GETNEXT of all of them for SNMPv1)."""
        raise NotImplementedError

    async def walk_columns(self, roots: Sequence[OID], *, deadline: float,
                           max_rows: int = 100_000, budget: RequestBudget | None = None
                           ) -> list[WalkResult | SnmpError]:
        """Walk several subtrees (table columns) together; one outcome per root, in order.

        An outcome is the column's WalkResult, or the SnmpError that ended it (a timeout
        ends every column still unfinished). CancelledError propagates.
        """
        roots = [tuple(r) for r in roots]
        results = [WalkResult(root=r) for r in roots]
        outcomes: list[WalkResult | SnmpError] = list(results)
        if not roots:
            return outcomes
        loop = asyncio.get_running_loop()
        started = loop.time()
        hints = self._row_hints
        if hints is None:
            hints = self._row_hints = {}
        hint = self._rows_hint(roots)
        lasts = list(roots)
        live = list(range(len(roots)))
        what = (f"walk of {oid_str(roots[0])}" if len(roots) == 1 else
                f"walk of {oid_str(roots[0])} (+{len(roots) - 1} more columns)")
        try:
            await self._joint_walk(results, lasts, live, hint, deadline=deadline,
                                   max_rows=max_rows, started=started, what=what,
                                   requests=budget)
        except SnmpError as exc:
            for i in live:
                outcomes[i] = exc
            return outcomes
        except _GiveUp as why:
            log.debug("%s: %s: finishing %d column(s) one by one (%s)", self.target, what,
                      len(live), why.reason)
            clean = True
            for n, i in enumerate(live):
                try:
                    clean = await self._walk_from(results[i], lasts[i], deadline=deadline,
                                                  max_rows=max_rows, started=started,
                                                  budget=budget) and clean
                except SnmpTimeout as exc:  # the rest would wait for the same silence
                    for j in live[n:]:
                        outcomes[j] = exc
                    return outcomes
                except SnmpError as exc:
                    outcomes[i] = exc
                    clean = False
            if clean and self.walks_columns:
                self.walks_columns = False
                log.info("%s: several columns per request gave an odd answer (%s) that "
                         "per-column walks did not; walking one column per request from "
                         "now on", self.target, why.reason)
            return outcomes
        if len(hints) >= 1000:
            hints.clear()
        for result in results:
            hints[result.root] = len(result.varbinds)
        return outcomes

    def _rows_hint(self, roots: Sequence[OID]) -> int | None:
        """The most rows the last walks of `roots` found; None if one was never walked."""
        hints = self._row_hints
        if not hints:
            return None
        most = 0
        for root in roots:
            rows = hints.get(root)
            if rows is None:
                return None
            if rows > most:
                most = rows
        return most

    def columns_per_walk(self, roots: Sequence[OID]) -> int:
        """How many of `roots` (one table's columns) a caller should pass per call of
        walk_columns(): see the class docstring."""
        per = self.columns_per_request
        budget = self.varbind_budget
        if budget is None:
            return per
        rows = self._rows_hint(roots)
        if rows is None:
            return per
        return max(per, min(len(roots), budget // (rows + 1)))

    def _answered(self, page: Page, sent: float, asked: int, joint: bool = False) -> None:
        """The answer-time rule (class docstring): switch joint walks on after a quick
        answer, size them, and switch them off for an agent too slow for them."""
        took = page.answer_time
        if took is None:
            took = asyncio.get_running_loop().time() - sent
        timeout = self.timing.answer_reference()  # the timeout; for `auto` see timing.py
        budget = self.varbind_budget or self.max_repetitions
        if took < timeout / 8 and (asked * 2 > budget or not self._bulk):
            # (a quick answer to a small request, e.g. a probe's one row, says little)
            self.answers_quickly = True
            if self._bulk:
                budget = min(2 * budget, self.columns_per_request * self.max_repetitions)
        elif took > timeout / 4 and self._bulk:
            if joint and budget <= self.max_repetitions and \
                    asked > self.max_repetitions // 2 and self.walks_columns:
                self.walks_columns = False
                log.info("%s: answers to several columns per request take %.2f s of a "
                         "%.1f s timeout; walking one column per request from now on",
                         self.target, took, timeout)
            budget = max(self.max_repetitions, budget // 2)
        self.varbind_budget = budget

    async def _joint_walk(self, results: list[WalkResult], lasts: list[OID], live: list[int],
                          hint: int | None, *, deadline: float, max_rows: int,
                          started: float, what: str, requests: RequestBudget | None) -> None:
        """The joint loop; updates `lasts` and `live` in place (the caller finishes them)."""
        bulk = self._bulk
        reps_before = self.max_repetitions
        one_row = False  # ask for one row only, after an error-status to several
        # The first OID after each subtree: an OID > root is under root iff < upper.
        uppers = [(*r.root[:-1], r.root[-1] + 1) for r in results]
        while True:
            for i in live:
                if len(results[i].varbinds) >= max_rows:
                    results[i].stop(STOP_ROWS, f"row bound reached after {max_rows} rows")
            live[:] = [i for i in live if results[i].complete]
            if not live:
                return
            if requests is not None and not requests.take():
                for i in live:
                    results[i].stop(STOP_REQUESTS, requests.problem())
                live.clear()
                return
            n = len(live)
            if bulk and not one_row:
                most = max(len(results[i].varbinds) for i in live)
                fewest = min(len(results[i].varbinds) for i in live)
                budget = self.varbind_budget or self.max_repetitions
                repetitions = min(self.max_repetitions, budget // n, max_rows - fewest)
                if hint is not None and most <= hint:
                    repetitions = min(repetitions, hint + 1 - most)
                repetitions = max(1, repetitions)
            else:
                repetitions = 1
            sent = asyncio.get_running_loop().time()
            page = await self._next_rows([lasts[i] for i in live], repetitions,
                                         deadline=deadline, what=what, started=started,
                                         rows=sum(len(r.varbinds) for r in results))
            self._answered(page, sent, n * repetitions, joint=True)
            status = page.error_status
            if status:
                if status == TOO_BIG and repetitions > 1:
                    self.max_repetitions = max(1, repetitions // 2)
                    log.debug("%s answered tooBig to max-repetitions %d of %d columns; now "
                              "%d", self.target, repetitions, n, self.max_repetitions)
                    continue
                if status == NO_SUCH_NAME and not bulk and 1 <= page.error_index <= n:
                    # SNMPv1 fails the whole GETNEXT when one column reaches the end of
                    # the MIB view: that column is complete; ask again for the others.
                    del live[page.error_index - 1]
                    continue
                if status == TOO_BIG:
                    self.max_repetitions = reps_before
                elif repetitions > 1:
                    # net-snmp answers genErr when one of several repeaters runs into
                    # the end of the MIB view and more repetitions follow; one row of
                    # each column is fine (the repeater gets its endOfMibView).
                    one_row = True
                    continue
                raise _GiveUp(f"error-status {error_status_name(status)}")
            one_row = False
            arrived = asyncio.get_running_loop().time()
            varbinds = page.varbinds
            if len(varbinds) < n:
                raise _GiveUp(f"{len(varbinds)} varbinds for {n} columns")
            if not bulk and len(varbinds) != n:
                raise _GiveUp(f"{len(varbinds)} varbinds to a GETNEXT of {n}")
            ended = [False] * n
            for pos, i in enumerate(live):
                # Row-major (RFC 3416 4.2.3): column `pos` owns varbinds pos, pos+n, ...
                # As walk(): rows past max_rows are not looked at.
                rows = results[i].varbinds
                room = max_rows - len(rows)
                column = varbinds[pos::n] if room >= len(varbinds) else \
                    varbinds[pos::n][:room]
                last = lasts[i]
                upper = uppers[i]
                taken = 0
                for vb in column:
                    oid = vb[0]
                    if vb[1] in _END_TAGS:
                        ended[pos] = True
                        break
                    if oid <= last:
                        # A loop, or an answer not in row-major order; walk() tells which.
                        raise _GiveUp("OID not increasing")
                    if oid >= upper:  # past the subtree: > last >= root, not under root
                        ended[pos] = True
                        break
                    last = oid
                    taken += 1
                if taken:
                    results[i].pages.append((len(rows), arrived))
                    rows.extend(column[:taken])
                    lasts[i] = last
            live[:] = [i for pos, i in enumerate(live) if not ended[pos]]
