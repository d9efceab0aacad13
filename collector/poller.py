"""`Poller`: run a device's profiles over its SNMP session and return a `PollResult`.

Per poll: one batched GET for the scalars of every profile (the system profile's
sysUpTime and sysObjectID included). Then the needed table columns, a few walks at a
time (`walk_concurrency`), so a 600 ms satellite RTT is paid per round, not per column.
A session that can (`walk_columns`) walks a table's columns several to a request once
its agent has answered quickly (four per walk for a long table, all of them in one
request for a short one: `columns_per_walk`); otherwise, or once the agent has answered
such requests oddly or slowly, one walk per column.
Then the 32-bit fallback columns, only for the rows whose 64-bit value is missing: a GET
of those instances when there are few, a walk of the column otherwise.

`profile: auto`: the first poll probes. The same GET also asks every profile's `answers`
OIDs; then one single-row walk per `has_rows` OID still in question. The choice is
remembered per device, so polls after it cost nothing extra. It is probed again at the
first poll after a reboot is seen (sysUpTime went back), and every `reprobe_interval`
seconds (1 h by default). An auto-chosen profile that later yields nothing is dropped
until the next probe.

Device faults never raise. If the first GET fails, the poll has ok=False and an error
"<reason>: <detail>", the reason being "timeout", "error-status", "malformed response"
or "authentication". A later failure (a walk that times out or loops, a refused
value) becomes an entry in `problems`, and the data collected so far is kept. A
profile named explicitly whose objects are all missing gives the problem
"profile mismatch: NAME: ..." (A13); state logs it once. CancelledError propagates.

Every value is stamped with the arrival of the answer that carried it (issue 11): a GET
when it returns, a walk per page (WalkResult.pages), on the poller's steady clock
(Sample.t, PollResult.started_steady). The walk's pages are timed with the event loop's
clock and moved onto the steady clock by one offset taken at the poll's start.

Every poll is bounded (collector/poll_limits.py): each table's walks stop at its row
bound, every request of the poll is taken from one RequestBudget, and mapping stops at
the samples bound; big tables are mapped in slices with a yield to the event loop in
between. Each problem has a kind (samples.ProblemKind, counted in
PollResult.problem_kinds): a poll with problems is partial, not failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from borderwatch.collector.counters import UptimeChange, classify_uptime
from borderwatch.collector.mapper import ABSENT_TAGS, ProfilePlan, TablePlan, compile_profile
from borderwatch.collector.mapper import Mapping as SampleMapping
from borderwatch.collector.poll_limits import PollLimits, TableCost, requests_bound, samples_bound
from borderwatch.collector.profiles import SYSTEM_PROFILE, Profile, builtin_profiles
from borderwatch.collector.samples import PollResult, ProblemKind
from borderwatch.collector.snmp.types import (
    OID,
    STOP_EMPTY,
    STOP_LOOP,
    STOP_REQUESTS,
    STOP_ROWS,
    ColumnWalkSession,
    RequestBudget,
    SnmpError,
    SnmpErrorStatus,
    SnmpSession,
    SnmpTimeout,
    Tag,
    VarBind,
    WalkResult,
    oid_str,
)
from borderwatch.collector.topology_spec import AUTO, DeviceSpec

log = logging.getLogger(__name__)

SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_OBJECT_ID: OID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
T = TypeVar("T")
MAX_PROBLEMS = 20  # per poll; a broken agent must not produce megabytes of text
MAP_SLICE = 128  # rows mapped between two yields to the event loop
# Why a walk stopped early → the problem kind it makes.
_STOP_KIND = {STOP_LOOP: ProblemKind.LOOP, STOP_ROWS: ProblemKind.ROWS_BOUND,
              STOP_REQUESTS: ProblemKind.REQUESTS_BOUND, STOP_EMPTY: ProblemKind.FAILED}


async def _together(aws: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """asyncio.gather() of coroutines, but a single one is simply awaited: a poll of a
    device with one table would otherwise pay a task, a gathering future and two extra
    event-loop passes for nothing, at every poll of every device."""
    if len(aws) == 1:
        return [await aws[0]]
    return list(await asyncio.gather(*aws))


def error_text(exc: SnmpError) -> str:
    """'<reason>: <detail>' for PollResult.error; the reason is the part before ':'."""
    message = str(exc)
    return message if message.startswith(exc.reason) else f"{exc.reason}: {message}"


@dataclass(slots=True)
class _AutoChoice:
    names: tuple[str, ...]
    probed_at: float
    reprobe: bool = False


@dataclass(slots=True)
class _Uptime:
    ticks: int
    t: float


class _Run:
    """One poll in progress: the session, its deadline, bounds, counters and problems."""

    def __init__(self, session: SnmpSession, deadline: float, concurrency: int,
                 limits: PollLimits, shift: float = 0.0) -> None:
        self.session = session
        self.shift = shift  # steady clock − event-loop clock: loop.time() stamps → steady
        self.deadline = deadline
        self.limits = limits
        self.varbinds = 0
        self.calls = 0
        self.problems: list[str] = []
        self.kinds: dict[str, int] = {}
        self._seen: set[str] = set()
        self.out = SampleMapping()
        self.timed_out = False  # after one timeout, later walks are not even tried
        self.gate = asyncio.Semaphore(concurrency)
        # Set to the bound of the selected profiles once they are known (Poller._bound).
        self.budget = RequestBudget(limits.requests_per_poll or 1_000_000)

    def problem(self, text: str, kind: ProblemKind, count: int = 1) -> None:
        """Record a partial failure once (the same text twice counts once)."""
        if text in self._seen:
            return
        self._seen.add(text)
        self.kinds[kind.value] = self.kinds.get(kind.value, 0) + count
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def rows_bound(self, table: TablePlan) -> int:
        """The rows `table` may have in this poll (the device's override, or derived)."""
        return self.limits.rows_per_table or table.row_bound

    async def get(self, oids: Sequence[OID], *, optional: bool = False
                  ) -> tuple[dict[OID, VarBind], float]:
        """GET `oids`, and when the answer arrived (steady). An optional GET (fallback
        instances) is skipped, as a problem, once the request bound is reached; the
        others are counted against it."""
        if not self.budget.take():
            if optional:
                self.problem(self.budget.problem(), ProblemKind.REQUESTS_BOUND)
                return {}, 0.0
            self.budget.used += 1
        self.calls += 1
        varbinds = await self.session.get(oids, deadline=self.deadline)
        arrived = asyncio.get_running_loop().time() + self.shift
        self.varbinds += len(varbinds)
        return {vb.oid: vb for vb in varbinds}, arrived

    def pages(self, result: WalkResult) -> list[tuple[int, float]]:
        """A walk's WalkResult.pages on the steady clock; a session that does not time
        its pages (a test's fake) gets one page, timed now."""
        if not result.pages:
            return [(0, asyncio.get_running_loop().time() + self.shift)]
        shift = self.shift
        return [(start, t + shift) for start, t in result.pages]

    def _walk_ended(self, root: OID, result: WalkResult) -> None:
        if result.complete:
            return
        kind = _STOP_KIND.get(result.stopped_by or "", ProblemKind.FAILED)
        if kind is ProblemKind.REQUESTS_BOUND:  # one problem, not one per column
            self.problem(self.budget.problem(), kind)
        else:
            self.problem(f"walk of {oid_str(root)}: {result.problem}", kind)

    def _skip(self) -> bool:
        """True when no further walk should be sent (a timeout, or no requests left)."""
        if self.timed_out:
            return True
        if self.budget.spent:
            self.problem(self.budget.problem(), ProblemKind.REQUESTS_BOUND)
            return True
        return False

    async def walk(self, root: OID, *, probe: bool = False, max_rows: int = 100_000
                   ) -> WalkResult | None:
        """Rows of a subtree (only the first one for a probe); None if the walk failed."""
        if self._skip():
            return None
        async with self.gate:
            if self._skip():
                return None
            self.calls += 1
            try:
                result = await self.session.walk(root, deadline=self.deadline,
                                                 max_rows=1 if probe else max_rows,
                                                 budget=self.budget)
            except SnmpTimeout as exc:
                self.timed_out = True
                self.problem(error_text(exc), ProblemKind.FAILED)
                return None
            except SnmpError as exc:
                self.problem(error_text(exc), ProblemKind.FAILED)
                return None
        self.varbinds += len(result.varbinds)
        if not probe:
            self._walk_ended(root, result)
        return result

    async def walk_columns(self, roots: Sequence[OID], max_rows: int = 100_000
                           ) -> list[WalkResult | None]:
        """Rows of several subtrees, per root as walk() gives them (None if that failed).

        Joint walks when the session offers them, so a table costs a fraction of the
        requests; per-root walks otherwise. The session says how many roots a joint walk
        should take (`columns_per_walk`: a few for a long table, whose walks then run
        side by side, all of them for a short one); the groups are of even size.
        """
        session = self.session
        if len(roots) < 2 or not (getattr(session, "walks_columns", False)
                                  and getattr(session, "answers_quickly", False)):
            return await _together([self.walk(r, max_rows=max_rows) for r in roots])
        per = max(1, session.columns_per_walk(roots))  # type: ignore[attr-defined]
        if per >= len(roots):  # one group: no task to gather
            return await self._walk_group(session, roots, max_rows)  # type: ignore[arg-type]
        count = -(-len(roots) // per)
        size, extra = divmod(len(roots), count)  # the first `extra` groups take one more
        groups, start = [], 0
        for k in range(count):
            end = start + size + (k < extra)
            groups.append(roots[start:end])
            start = end
        parts = await asyncio.gather(*(self._walk_group(session, g,  # type: ignore[arg-type]
                                                        max_rows) for g in groups))
        return [rows for part in parts for rows in part]

    async def _walk_group(self, session: ColumnWalkSession, roots: Sequence[OID],
                          max_rows: int) -> list[WalkResult | None]:
        if self._skip():
            return [None] * len(roots)
        async with self.gate:
            if self._skip():
                return [None] * len(roots)
            self.calls += 1
            outcomes = await session.walk_columns(roots, deadline=self.deadline,
                                                  max_rows=max_rows, budget=self.budget)
        out: list[WalkResult | None] = []
        seen: set[int] = set()  # one problem per error, not per column it ended
        for root, outcome in zip(roots, outcomes, strict=True):
            if isinstance(outcome, SnmpError):
                if isinstance(outcome, SnmpTimeout):
                    self.timed_out = True
                if id(outcome) not in seen:
                    seen.add(id(outcome))
                    self.problem(error_text(outcome), ProblemKind.FAILED)
                out.append(None)
                continue
            self.varbinds += len(outcome.varbinds)
            self._walk_ended(root, outcome)
            out.append(outcome)
        return out


async def _map_table(table: TablePlan, rows: dict[OID, list], out: SampleMapping) -> None:
    """table.map_rows() in slices of MAP_SLICE rows with a yield to the event loop
    between them, so a big table does not hold up other devices' polls."""
    if len(rows) <= MAP_SLICE:
        table.map_rows(rows, out)
        return
    items = list(rows.items())
    for start in range(0, len(items), MAP_SLICE):
        if start:
            await asyncio.sleep(0)
        table.map_items(items[start:start + MAP_SLICE], out)


def _rows_dropped(run: _Run, table: TablePlan, bound: int, dropped: int) -> None:
    if dropped:
        run.problem(f"table {table.spec.name}: row bound of {bound} rows reached; "
                    f"{dropped} varbind(s) of further rows dropped", ProblemKind.ROWS_BOUND)


def _present(vb: VarBind | None) -> bool:
    return vb is not None and vb.tag not in ABSENT_TAGS and vb.tag != Tag.BAD_VALUE


class Poller:
    """Runs devices' profiles over their sessions; remembers `auto` choices per device."""

    def __init__(self, profiles: Mapping[str, Profile] | None = None, *,
                 clock: Callable[[], float] = time.time, reprobe_interval: float = 3600.0,
                 walk_concurrency: int = 4, fallback_get_limit: int = 8,
                 steady: Callable[[], float] | None = None) -> None:
        """`clock`: wall time, for the results' start times (exported). `steady`: what the
        re-probe interval and the sysUpTime comparison are measured on (time.monotonic by
        default, so a wall-clock step neither re-probes nor reboots anything); a custom
        `clock` without `steady` is a simulated clock and serves as both."""
        profiles = builtin_profiles() if profiles is None else profiles
        if SYSTEM_PROFILE not in profiles:
            raise ValueError(f"the profiles need a {SYSTEM_PROFILE!r} profile")
        self._plans: dict[str, ProfilePlan] = {
            name: compile_profile(profiles[name])
            for name in [SYSTEM_PROFILE, *sorted(n for n in profiles if n != SYSTEM_PROFILE)]}
        self._clock = clock
        self._steady = steady if steady is not None else \
            (time.monotonic if clock is time.time else clock)
        self.reprobe_interval = reprobe_interval
        self._concurrency = max(1, walk_concurrency)
        self._fallback_get_limit = fallback_get_limit
        self._auto: dict[str, _AutoChoice] = {}
        self._uptime: dict[str, _Uptime] = {}
        # (plans, limits, oids per GET, rows per request) -> (requests, samples) bounds
        self._bounds: dict[tuple[object, ...], tuple[int, int]] = {}

    def forget(self, device_id: str) -> None:
        """Drop what is remembered about a device (removed from the inventory)."""
        self._auto.pop(device_id, None)
        self._uptime.pop(device_id, None)

    def auto_choice(self, device_id: str) -> tuple[str, ...] | None:
        """The profiles `auto` chose for a device (system excluded), None before probing."""
        choice = self._auto.get(device_id)
        return choice.names if choice is not None else None

    async def poll(self, device: DeviceSpec, session: SnmpSession,
                   deadline: float) -> PollResult:
        """Poll one device once; never raises for device faults (see the module docstring)."""
        loop = asyncio.get_running_loop()
        started, steady, t0 = self._clock(), self._steady(), loop.time()
        sent0 = getattr(session, "requests_sent", None)
        run = _Run(session, deadline, self._concurrency, device.limits, steady - t0)
        result = PollResult(device.device_id, started, 0.0, ok=True, started_steady=steady)
        try:
            await self._poll(device, run, result)
        except SnmpError as exc:
            result.ok = False
            result.error = error_text(exc)
            run.out.samples.clear()
        result.duration = loop.time() - t0
        sent = getattr(session, "requests_sent", None)
        result.requests = sent - sent0 if sent0 is not None and sent is not None \
            else run.calls
        result.varbinds = run.varbinds
        result.samples = run.out.samples if result.ok else []
        if run.out.bad:
            oid, why = next(iter(run.out.bad.items()))
            run.problem(f"type confusion: {len(run.out.bad)} varbind(s) refused, e.g. "
                        f"{oid_str(oid)}: {why}", ProblemKind.REFUSED, len(run.out.bad))
        result.problems = run.problems
        result.problem_kinds = run.kinds if result.ok else {}
        result.bad_varbinds = len(run.out.bad)
        result.strings_truncated = run.out.truncated
        return result

    # ------------------------------------------------------------------ steps

    async def _poll(self, device: DeviceSpec, run: _Run, result: PollResult) -> None:
        system = self._plans[SYSTEM_PROFILE]
        auto = device.profiles == AUTO
        choice = self._auto.get(device.device_id) if auto else None
        probing = auto and (choice is None or choice.reprobe or
                            self._steady() - choice.probed_at >= self.reprobe_interval)
        selected: list[ProfilePlan] = []
        if not auto:
            names = [device.profiles] if isinstance(device.profiles, str) else device.profiles
            for name in dict.fromkeys(names):
                plan = self._plans.get(name)
                if plan is None:
                    run.problem(f"unknown profile {name!r}", ProblemKind.MISMATCH)
                elif name != SYSTEM_PROFILE:
                    selected.append(plan)
        elif not probing:
            selected = [self._plans[n] for n in choice.names]  # type: ignore[union-attr]

        first = list(system.scalars.oids)
        if probing:
            first += [o for p in self._candidates() for r in p.profile.match for o in r.answers]
        else:
            first += [o for p in selected for o in p.scalars.oids]
        self._bound(run, list(self._candidates()) if probing else selected)
        values, arrived = await self._first_get(run, list(dict.fromkeys(first)),
                                                len(system.scalars.oids))
        times = dict.fromkeys(values, arrived)  # OID → when its answer arrived

        uptime = values.get(SYS_UPTIME)
        if uptime is not None and uptime.tag == Tag.TIMETICKS:
            result.sys_uptime_ticks = uptime.value  # type: ignore[assignment]
            result.sys_uptime_at = arrived
            self._note_uptime(device, uptime.value, arrived)  # type: ignore[arg-type]

        if probing:
            selected = await self._probe(run, values)
            self._auto[device.device_id] = _AutoChoice(tuple(p.name for p in selected),
                                                       self._steady(), reprobe=run.timed_out)
            self._bound(run, selected)
            extra = [o for p in selected for o in p.scalars.oids if o not in values]
            if extra:
                try:
                    more, arrived = await run.get(list(dict.fromkeys(extra)))
                    values.update(more)
                    times.update(dict.fromkeys(more, arrived))
                except SnmpError as exc:
                    run.problem(error_text(exc), ProblemKind.FAILED)

        out = run.out
        system.scalars.map(values, out, times)
        tables = [(plan, table) for plan in selected for table in plan.tables]
        fetched = await _together([self._fetch_table(run, t) for _, t in tables])
        rows_of = {id(t): rows for (_, t), (rows, _) in zip(tables, fetched, strict=True)}
        failed = {id(t) for (_, t), (_, ok) in zip(tables, fetched, strict=True) if not ok}
        used = [SYSTEM_PROFILE]
        for plan in selected:
            before = len(out.samples)
            try:
                plan.scalars.map(values, out, times)
                for table in plan.tables:
                    await _map_table(table, rows_of[id(table)], out)
            except Exception as exc:  # a mapping bug must cost one profile, not the poll
                log.exception("mapping %s for %s failed", plan.name, device.device_id)
                run.problem(f"{plan.name}: mapping failed ({type(exc).__name__})",
                            ProblemKind.FAILED)
                continue
            if len(out.samples) > before:
                used.append(plan.name)
            elif not run.timed_out and not any(id(t) in failed for t in plan.tables):
                self._mismatch(device, plan, auto, run)
        if out.rows_cut:
            run.problem(f"samples bound reached ({out.limit} samples in this poll): "
                        f"{out.rows_cut} table row(s) not mapped", ProblemKind.SAMPLES_BOUND)
        result.profile = "+".join(used)

    def _bound(self, run: _Run, plans: Sequence[ProfilePlan]) -> None:
        """Size the poll's request and samples bounds for `plans` (poll_limits), unless
        the device overrides them. Requests already sent stay counted. The bounds depend
        only on the plans, the device's limits and the session's request sizes, so they
        are computed once per combination, not at every poll."""
        session = run.session
        per_get = max(1, getattr(session, "max_oids_per_get", 1))
        per_request = getattr(session, "rows_per_request", 1)
        # by identity: the plans are this poller's own (self._plans), alive as long as it
        key = (*map(id, plans), run.limits, per_get, per_request)
        bounds = self._bounds.get(key)
        if bounds is None:
            if len(self._bounds) > 4096:  # bounded: plans change only with a reload
                self._bounds.clear()
            bounds = self._bounds[key] = self._bounds_of(run, plans, per_get, per_request)
        requests, samples = bounds
        if run.limits.requests_per_poll is None:
            run.budget.limit = run.budget.used + requests
        run.out.limit = samples

    def _bounds_of(self, run: _Run, plans: Sequence[ProfilePlan], per_get: int,
                   per_request: int) -> tuple[int, int]:
        """(requests, samples) bounds of a poll of `plans` (poll_limits)."""
        system = self._plans[SYSTEM_PROFILE]
        plans = [system, *plans]
        costs = [TableCost(run.rows_bound(t), len(t.columns) + len(t.fallbacks),
                           len(t.metrics)) for p in plans for t in p.tables]
        scalar_gets = -(-sum(len(p.scalars.oids) for p in plans) // per_get)
        limits = run.limits
        samples = limits.samples_per_poll or samples_bound(
            costs, sum(len(p.scalars.specs) for p in plans))
        return requests_bound(costs, scalar_gets, per_request), samples

    async def _first_get(self, run: _Run, oids: list[OID], n_system: int
                         ) -> tuple[dict[OID, VarBind], float]:
        """The batched GET; failures of it are device failures, except when only the
        non-system part is refused (the agent fails the whole PDU for one odd OID)."""
        try:
            return await run.get(oids)
        except SnmpErrorStatus as exc:
            if len(oids) <= n_system:
                raise
            answer = await run.get(oids[:n_system])
            run.problem(f"scalars beyond the system group refused: {error_text(exc)}",
                        ProblemKind.FAILED)
            return answer

    def _candidates(self) -> list[ProfilePlan]:
        return [p for name, p in self._plans.items()
                if name != SYSTEM_PROFILE and p.profile.match]

    async def _probe(self, run: _Run, values: dict[OID, VarBind]) -> list[ProfilePlan]:
        """Which profiles match: sysObjectID and GET answers first, then row probes."""
        sys_oid_vb = values.get(SYS_OBJECT_ID)
        sys_oid = sys_oid_vb.value if sys_oid_vb is not None and \
            sys_oid_vb.tag == Tag.OBJECT_IDENTIFIER else None
        open_rules: dict[str, list] = {}
        chosen: set[str] = set()
        for plan in self._candidates():
            for rule in plan.profile.match:
                if rule.sys_object_id and not (sys_oid is not None and any(
                        sys_oid[:len(p)] == p for p in rule.sys_object_id)):
                    continue
                if not all(_present(values.get(o)) for o in rule.answers):
                    continue
                if not rule.has_rows:
                    chosen.add(plan.name)
                    break
                open_rules.setdefault(plan.name, []).append(rule)
        wanted = list(dict.fromkeys(o for name, rules in open_rules.items()
                                    if name not in chosen for r in rules for o in r.has_rows))
        found = await _together([run.walk(o, probe=True) for o in wanted])
        has = {oid: bool(walked and walked.varbinds)
               for oid, walked in zip(wanted, found, strict=True)}
        for name, rules in open_rules.items():
            if name not in chosen and any(all(has.get(o) for o in r.has_rows) for r in rules):
                chosen.add(name)
        return [p for name, p in self._plans.items() if name in chosen]

    async def _fetch_table(self, run: _Run, table: TablePlan) -> tuple[dict[OID, list], bool]:
        """The table's rows, and False if a part of it could not be fetched."""
        rows: dict[OID, list] = {}
        bound = run.rows_bound(table)
        walked = await run.walk_columns(table.columns, bound)
        ok = all(result is not None for result in walked)
        dropped = 0
        for column, result in zip(table.columns, walked, strict=True):
            if result is not None and result.varbinds:
                dropped += table.add_column(rows, column, result.varbinds, bound,
                                            run.pages(result))
        if not table.fallbacks or not rows or run.timed_out:
            _rows_dropped(run, table, bound, dropped)
            return rows, ok
        need = table.missing_fallbacks(rows)
        few = [column + index for column, indexes in need.items()
               if len(indexes) <= self._fallback_get_limit for index in indexes]
        many = [column for column, indexes in need.items()
                if len(indexes) > self._fallback_get_limit]
        if few:
            try:
                got, arrived = await run.get(few, optional=True)
                table.add_instances(rows, got.values(), arrived)
            except SnmpError as exc:
                run.problem(error_text(exc), ProblemKind.FAILED)
                ok = False
        for column, result in zip(many, await run.walk_columns(many, bound), strict=True):
            ok = ok and result is not None
            if result is not None and result.varbinds:
                dropped += table.add_column(rows, column, result.varbinds, bound,
                                            run.pages(result))
        _rows_dropped(run, table, bound, dropped)
        return rows, ok

    # ------------------------------------------------------------------ memory

    def _note_uptime(self, device: DeviceSpec, ticks: int, now: float) -> None:
        """Remember sysUpTime and when its answer arrived (steady); a reboot re-probes."""
        prev = self._uptime.get(device.device_id)
        self._uptime[device.device_id] = _Uptime(ticks, now)
        if prev is None:
            return
        change, _ = classify_uptime(prev.ticks, ticks, now - prev.t)
        choice = self._auto.get(device.device_id)
        if change is UptimeChange.REBOOTED and choice is not None:
            choice.reprobe = True  # a reboot may come with new firmware: probe next poll

    def _mismatch(self, device: DeviceSpec, plan: ProfilePlan, auto: bool, run: _Run) -> None:
        if auto:
            choice = self._auto.get(device.device_id)
            if choice is not None and plan.name in choice.names:
                choice.names = tuple(n for n in choice.names if n != plan.name)
            return
        run.problem(f"profile mismatch: {plan.name}: the device answers none of its objects",
                    ProblemKind.MISMATCH)
