"""Proposed data-path changes, applied to a benchmark process only (`--proposals`).

The modules belong to other owners; these patches let the benchmark measure what each
change would give before anyone edits them. Each function names the module it stands
for and says what to change there. `bench/bw_run.py` applies all of them when the
environment has BWBENCH_PROPOSALS=1; the service is otherwise unchanged.

1. collector/snmp/transport.py, `SnmpTransport.request`: parse the target address once
   per host (not `ipaddress.ip_address()` per request); take an in-flight slot without
   `asyncio.timeout_at` when one is free; wait for the answer with one timer handle per
   attempt instead of `asyncio.wait((future,), timeout=...)`.
2. collector/mapper.py, `TablePlan.__init__`: register the primary columns before the
   fallback ones, so fallback columns (ifSpeed, ifInOctets, ifOutOctets) are fetched
   only for rows whose primary value is missing, as the poller intends, instead of
   being walked on every poll.
4. collector/poller.py + collector/snmp (walk): walk the columns of a table together,
   a few per GETBULK (each column a repeater, max-repetitions unchanged), instead of one
   GETBULK stream per column: 4x fewer requests, hence fewer sendto/epoll round trips
   per varbind; and ask for as many rows as the previous poll found (+1 for the end)
   rather than max-repetitions, so a small table is not paid 25 varbinds per column.
   Falls back to per-column walks on any error-status or odd answer.
3. exporters/prometheus.py + exporters/http.py: render the per-device families (profile
   series and device/scheduler/poll counters) as text with the label text of each
   series kept between scrapes (bench/fast_exposition.py), yielding to the event loop
   every few hundred devices; only the handful of global families still go through
   prometheus_client; gzip level 1.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import os
import socket
import time

from aiohttp import web
from fast_exposition import SeriesText, _escape, _number
from prometheus_client.exposition import generate_latest

from collector.snmp import transport as transport_mod
from collector.snmp.types import SnmpError, SnmpTimeout

# ----------------------------------------------------------------------------- 1. transport


async def request(self, host, port, build, *, timeout, retries, deadline,  # type: ignore[no-untyped-def]  # noqa: ASYNC109
                  accept_any_source=False, count=None):
    """SnmpTransport.request with the three per-request savings (same semantics)."""
    if self._closed:
        raise SnmpError("SNMP transport is closed")
    known = self._hosts.get(host)
    if known is None:  # sessions pass the same resolved string every time
        address = ipaddress.ip_address(host)
        known = (socket.AF_INET6 if address.version == 6 else socket.AF_INET, str(address))
        if len(self._hosts) < 1_000_000:
            self._hosts[host] = known
    family, host = known
    loop = asyncio.get_running_loop()
    if loop.time() >= deadline:
        raise SnmpTimeout("deadline passed before sending")
    endpoint = self._endpoints.get(family) or await self._endpoint(family)
    if self._slots.locked():  # only then can acquire() wait: bound it by the deadline
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise SnmpTimeout("deadline passed waiting for an in-flight slot") from None
    else:
        await self._slots.acquire()  # returns at once
    stats = self.stats
    stats.requests += 1
    stats.in_flight += 1
    if stats.in_flight > stats.max_in_flight_seen:
        stats.max_in_flight_seen = stats.in_flight
    request_id = self._allocate_id()
    future = loop.create_future()
    pending = transport_mod._Pending(host, port, future, accept_any_source)
    self._pending[request_id] = pending
    try:
        payload = build(request_id)
        for attempt in range(retries + 1):
            now = loop.time()
            if now >= deadline:
                break
            if attempt:
                stats.retries += 1
            endpoint.sendto(payload, (host, port))
            stats.sent += 1
            if count is not None:
                count.sent += 1
            # One timer per attempt; it completes `waiter`, never `future`, so an answer
            # to this attempt that arrives during the next one still counts.
            waiter = loop.create_future()
            pending.waiter = waiter
            timer = loop.call_at(min(now + timeout, deadline), _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
            if future.done():
                return future.result()
        stats.timeouts += 1
        if pending.malformed:
            raise transport_mod.MalformedPacket(pending.malformed)
        raise SnmpTimeout("no response")
    finally:
        del self._pending[request_id]
        self._recent[request_id] = future.done() and not future.cancelled()
        if len(self._recent) > transport_mod._RECENT_IDS:
            del self._recent[next(iter(self._recent))]
        if not future.done():
            future.cancel()
        stats.in_flight -= 1
        self._slots.release()


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Answer:
    """What the transport's receive path completes: the request's future, and (in the
    same call, not one loop pass later through a done-callback) the attempt's waiter."""

    __slots__ = ("future", "pending")

    def __init__(self, future: asyncio.Future, pending: _Pending) -> None:
        self.future = future
        self.pending = pending

    def done(self) -> bool:
        return self.future.done()

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def set_result(self, value: object) -> None:
        self.future.set_result(value)
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self.future.set_exception(exc)
        self._wake()

    def _wake(self) -> None:
        waiter = self.pending.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Pending(transport_mod._Pending):
    """_Pending with the current attempt's waiter; `.future` is an _Answer."""

    __slots__ = ("waiter",)

    def __init__(self, host, port, future, accept_any):  # type: ignore[no-untyped-def]
        super().__init__(host, port, future, accept_any)
        self.waiter: asyncio.Future | None = None
        self.future = _Answer(future, self)


def patch_transport() -> None:
    cls = transport_mod.SnmpTransport
    init = cls.__init__

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self._hosts = {}

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls.request = request  # type: ignore[method-assign]
    transport_mod._Pending = _Pending  # request() above builds these


# ----------------------------------------------------------------------------- 2. mapper


def patch_mapper() -> None:
    from collector import mapper

    original = mapper.TablePlan.__init__

    def __init__(self, spec):  # type: ignore[no-untyped-def]
        # Register every primary column first (labels, where, metric oids and inputs) so
        # that the original sees the fallback columns as fallback-only.
        primaries = [label.oid for label in spec.labels]
        primaries += [c.oid for c in spec.where if c.oid is not None]
        for m in spec.metrics:
            primaries += [m.oid] if m.oid is not None else list(m.inputs)
        self._pre = list(dict.fromkeys(primaries))
        original(self, spec)

    # The original computes `primary = set(self.slots)` after building the metric plans
    # (which register fallback slots too); recompute columns/fallbacks the intended way.
    def fixed(self, spec):  # type: ignore[no-untyped-def]
        __init__(self, spec)
        primary = set(self._pre)
        self.columns = tuple(o for o in self.slots if o in primary)
        self.fallbacks = tuple(
            (m.fallback_oid, self.slots[m.oid], m.fallback_when_zero)
            for m in spec.metrics
            if m.fallback_oid is not None and m.fallback_oid not in primary
            and m.oid is not None)

    mapper.TablePlan.__init__ = fixed  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- 4. table walks

COLUMNS_PER_REQUEST = 4  # x max-repetitions 25 = at most 100 varbinds (~3-4 kB) per answer


class _Fallback(Exception):
    """The grouped walk met something the per-column walk handles better."""


async def walk_columns(session, columns, *, deadline):  # type: ignore[no-untyped-def]
    """Walk several columns with one GETBULK per step (one repeater per live column)."""
    from collector.snmp.ber import GET_BULK_REQUEST
    from collector.snmp.walk import _END_TAGS

    started = asyncio.get_running_loop().time()
    live = list(columns)
    last = {c: c for c in columns}
    out: dict = {c: [] for c in columns}
    # Rows seen by the previous poll: ask for that many + 1 (the end), not 25, so a
    # 4-row table costs 5 varbinds per column on the wire instead of 25.
    hints = session.__dict__.setdefault("_rows_hint", {})
    key = tuple(columns)
    hint = hints.get(key)
    while live:
        reps = session.max_repetitions if hint is None else \
            max(1, min(session.max_repetitions, hint + 1))
        hint = None  # only the first request of a walk: a grown table continues at 25
        message = await session._request(
            GET_BULK_REQUEST, [last[c] for c in live], deadline=deadline,
            what=f"walk of {len(live)} columns", started=started,
            rows=sum(len(v) for v in out.values()), max_repetitions=reps)
        varbinds = message.varbinds
        if message.error_status or not varbinds:
            raise _Fallback
        n = len(live)
        ended: set = set()
        for i, vb in enumerate(varbinds):  # row-major: repetition i // n, column i % n
            col = live[i % n]
            if col in ended:
                continue
            oid = vb.oid
            if vb.tag in _END_TAGS or len(oid) <= len(col) or oid[:len(col)] != col:
                ended.add(col)
                continue
            if oid <= last[col]:
                raise _Fallback  # a loop: the per-column walk reports it properly
            out[col].append(vb)
            last[col] = oid
        if len(out[live[0]]) > 100_000:
            raise _Fallback
        live = [c for c in live if c not in ended]
    hints[key] = max(len(v) for v in out.values())
    return out


async def _walk_group(run, cols):  # type: ignore[no-untyped-def]
    from collector.poller import error_text

    if run.timed_out:
        return [None] * len(cols)
    got = None
    async with run.gate:
        if run.timed_out:
            return [None] * len(cols)
        run.calls += 1
        try:
            got = await walk_columns(run.session, cols, deadline=run.deadline)
        except _Fallback:
            got = None
        except SnmpTimeout as exc:
            run.timed_out = True
            run.problem(error_text(exc))
            return [None] * len(cols)
        except SnmpError:
            got = None  # the per-column walks below meet it again and report it
    if got is None:
        return list(await asyncio.gather(*(run.walk(c) for c in cols)))
    run.varbinds += sum(len(v) for v in got.values())
    return [got[c] for c in cols]


def patch_poller() -> None:
    from collector.poller import Poller
    from collector.snmp.v2c import V2cSession

    async def _fetch_table(self, run, table):  # type: ignore[no-untyped-def]
        columns = list(table.columns)
        if isinstance(run.session, V2cSession) and run.session._bulk and len(columns) > 1:
            groups = [columns[i:i + COLUMNS_PER_REQUEST]
                      for i in range(0, len(columns), COLUMNS_PER_REQUEST)]
            parts = await asyncio.gather(*(_walk_group(run, g) for g in groups))
            walked = [vbs for part in parts for vbs in part]
        else:
            walked = await asyncio.gather(*(run.walk(col) for col in columns))
        # From here on as collector/poller.py's _fetch_table.
        rows: dict = {}
        ok = all(varbinds is not None for varbinds in walked)
        for column, varbinds in zip(columns, walked, strict=True):
            if varbinds:
                table.add_column(rows, column, varbinds)
        if not table.fallbacks or not rows or run.timed_out:
            return rows, ok
        need = table.missing_fallbacks(rows)
        few = [column + index for column, indexes in need.items()
               if len(indexes) <= self._fallback_get_limit for index in indexes]
        many = [column for column, indexes in need.items()
                if len(indexes) > self._fallback_get_limit]
        if few:
            try:
                table.add_instances(rows, (await run.get(few)).values())
            except SnmpError as exc:
                from collector.poller import error_text

                run.problem(error_text(exc))
                ok = False
        for column, varbinds in zip(many, await asyncio.gather(*(run.walk(c) for c in many)),
                                    strict=True):
            ok = ok and varbinds is not None
            if varbinds:
                table.add_column(rows, column, varbinds)
        return rows, ok

    Poller._fetch_table = _fetch_table  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- 3. exposition

# (name, help, type, value of a DeviceSnapshot / scheduler stats / poll counters)
_DEVICE = [
    ("borderwatch_device_up", "1 if the latest poll of the device succeeded, 0 if it failed "
     "(absent before the first poll).", "gauge",
     lambda s, st, c, n: None if s.up is None else (1 if s.up else 0)),
    ("borderwatch_device_poll_duration_seconds", "Duration of the device's latest poll.",
     "gauge", lambda s, st, c, n: s.poll_duration),
    ("borderwatch_device_last_success_timestamp_seconds",
     "Unix time at which the latest successful poll started.", "gauge",
     lambda s, st, c, n: s.last_success),
    ("borderwatch_device_polls_total", "Polls of the device since the collector started.",
     "counter", lambda s, st, c, n: s.polls),
    ("borderwatch_device_poll_failures_total",
     "Polls of the device that failed (timeout, bad answer).", "counter",
     lambda s, st, c, n: s.failures),
    ("borderwatch_device_reboots_total",
     "Reboots detected (sysUpTime went back), since start.", "counter",
     lambda s, st, c, n: s.reboots),
    ("borderwatch_device_series", "Series the device contributes to this exposition.",
     "gauge", lambda s, st, c, n: n),
    ("borderwatch_poll_overruns_total",
     "Ticks skipped because the device's previous poll was still running.", "counter",
     lambda s, st, c, n: st.overruns if st else None),
    ("borderwatch_scheduler_missed_ticks_total",
     "Ticks passed over because the scheduler itself woke up more than an interval late "
     "(event loop blocked).", "counter", lambda s, st, c, n: st.missed_ticks if st else None),
    ("borderwatch_poll_deadline_kills_total",
     "Polls cancelled by the scheduler for running past their deadline (a bug below the "
     "scheduler if not 0).", "counter", lambda s, st, c, n: st.deadline_kills if st else None),
    ("borderwatch_poll_varbinds_total", "Varbinds received from the device, all polls.",
     "counter", lambda s, st, c, n: c.varbinds if c else None),
    ("borderwatch_device_snmp_requests_total", "SNMP requests sent to the device (retries "
     "included, v1/v2c and v3).", "counter", lambda s, st, c, n: c.requests if c else None),
    ("borderwatch_device_series_dropped_total", "Series dropped because the device produced "
     "more than the per-device series cap.", "counter",
     lambda s, st, c, n: c.series_dropped if c else None),
]
_PER_DEVICE_FAMILIES = {name[:-6] if name.endswith("_total") else name for name, *_ in _DEVICE}
CHUNK = 250  # devices rendered between two yields to the event loop


class FleetText:
    """Per-device families as text; label text kept between scrapes."""

    def __init__(self, sources) -> None:  # type: ignore[no-untyped-def]
        self.src = sources
        self.series = SeriesText(sources.state)
        self._heads: dict[str, str] = {}

    async def render(self) -> list[str]:
        state = self.src.state
        devices = state.device_snapshots()
        out: list[str] = []
        for part in self.series.parts(devices, chunk=CHUNK):  # profile series
            out.append(part)
            await asyncio.sleep(0)
        stats = self.src.scheduler.stats if self.src.scheduler else {}
        counters = self.src.poll_counters or {}
        heads = {}
        for snap in devices:
            key = snap.device_id
            head = self._heads.get(key)
            if head is None:
                head = f'{{site="{_escape(snap.site_id)}",device="{_escape(key)}"}} '
            heads[key] = head
        self._heads = heads
        per_device = {s.device_id: sum(len(r) for r in s.series.values()) for s in devices}
        for name, help_text, kind, get in _DEVICE:
            lines = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]
            append = lines.append
            for snap in devices:
                d = snap.device_id
                value = get(snap, stats.get(d), counters.get(d), per_device[d])
                if value is not None:
                    append(name + heads[d] + _number(value) + "\n")
            out.append("".join(lines))
            await asyncio.sleep(0)
        return out


def patch_exposition() -> None:
    from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily

    import exporters.http as http_mod
    import exporters.prometheus as prom

    coll = prom.BorderwatchCollector
    # collect() keeps only the global families; every per-device one is FleetText's.
    coll._profile_series = lambda self, devices: ([], {})
    coll._device_families = lambda self, devices, per_device, names: []

    def scheduler_families(self):  # type: ignore[no-untyped-def]
        sched = self._src.scheduler
        if sched is None:
            return []
        lag = sched.lag
        return [
            HistogramMetricFamily(
                "borderwatch_scheduler_lag_seconds",
                "Delay between a poll's planned start (its tick) and its actual start.",
                buckets=lag.cumulative(), sum_value=lag.total),
            GaugeMetricFamily("borderwatch_scheduler_lag_max_seconds",
                              "Largest scheduler lag over the last 5 minutes.",
                              value=lag.window_max(sched.clock.monotonic())),
            GaugeMetricFamily("borderwatch_polls_in_flight", "Polls running now.",
                              value=sched.polls_in_flight())]

    def poll_counter_families(self):  # type: ignore[no-untyped-def]
        if self._src.series_cap is None:
            return []
        return [GaugeMetricFamily("borderwatch_device_series_cap",
                                  "Most series one device may contribute per poll.",
                                  value=self._src.series_cap)]

    coll._scheduler_families = scheduler_families
    coll._poll_counter_families = poll_counter_families
    original_metrics = http_mod.MetricsApp.metrics

    async def metrics(self: http_mod.MetricsApp, request: web.Request) -> web.Response:
        names = self._name_filter(request)
        if names:
            return await original_metrics(self, request)
        started = time.perf_counter()
        fleet = _fleet(self)
        parts = await fleet.render() if fleet is not None else []
        rest = list(self.registry.collect())
        body_text = "".join(parts)
        series = body_text.count("\n") - body_text.count("\n#") - body_text.startswith("#") \
            + sum(len(f.samples) for f in rest) + 1
        rest_text = generate_latest(http_mod._Frozen(rest)).decode()
        body = (body_text + rest_text + f"# HELP {http_mod.SERIES_METRIC} Samples in this "
                f"exposition (this one included).\n# TYPE {http_mod.SERIES_METRIC} gauge\n"
                f"{http_mod.SERIES_METRIC} {series}\n").encode()
        use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        if use_gzip:
            body = await asyncio.to_thread(gzip.compress, body, 1)
        self.render.seconds = time.perf_counter() - started
        self.render.bytes = len(body)
        self.render.series = series
        self.render.scrapes += 1
        headers = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    http_mod.MetricsApp.metrics = metrics  # type: ignore[method-assign]


def _fleet(app) -> FleetText | None:  # type: ignore[no-untyped-def]
    fleet = getattr(app, "_fleet", None)
    if fleet is None:
        import exporters.prometheus as prom

        for collector in list(app.registry._collector_to_names):
            if isinstance(collector, prom.BorderwatchCollector):
                fleet = app._fleet = FleetText(collector._src)
    return fleet


def apply_all() -> None:
    """Every proposal, before the service is built."""
    patch_transport()
    patch_mapper()
    patch_exposition()
    if os.environ.get("BWBENCH_PROPOSALS_GROUPED", "1") == "1":
        patch_poller()
