"""`InfluxWriter`: PollResults → InfluxDB (v2 write API) with a bounded on-disk spool.

Flow: `submit()` (called by the service after `state.apply`, never blocks, never raises)
encodes a poll into line protocol (exporters/line_protocol.py) and appends it to an
in-memory batch. One worker task seals a batch after `batch_size` points or
`flush_interval` seconds and writes it with influxdb-client's `InfluxDBClientAsync`
(gzip, explicit timeout). While the server fails, batches go to the spool
(exporters/spool.py) instead of piling up in memory; when it answers again, the spool is
replayed oldest first with the original timestamps, and fresh batches go before spooled
ones so that live data is never stuck behind the backlog.

Write outcomes (Telegraf's influxdb_v2 output is the model):

* 2xx: written.
* 429, 5xx, 408, timeouts, connection errors: retryable. The next try waits an
  exponential backoff (retry_initial × 2^n, jitter ×0.5–1.5) but at least Retry-After,
  and never more than retry_max. Meanwhile batches are spooled.
* 413: the batch is split in halves until the server takes it; later batches are cut to
  the size that worked. A single point still too large is dropped (reason `too_large`).
* 401, 403, 404 (bucket or org not found), 3xx: a configuration problem. Logged at ERROR
  (again every ERROR_REPEAT seconds while it lasts), the data is KEPT in the spool and
  retried with backoff: a wrong token must not destroy data (A34).
* Other 4xx (400 malformed, 422...): permanent for the points refused, which are found one
  by one: the batch is halved until every refused point stands alone (InfluxDB writes the
  rest of a "partial write" and names no line for a field type conflict; the accepted
  halves are simply written again, which InfluxDB treats as an overwrite). Each refused
  point is dropped and counted by cause (`rejected_field_type_conflict`,
  `rejected_parse_error`, `rejected_beyond_retention`, `rejected_limit`, else
  `http_<status>`), kept with its reason in the spool's rejected.lp, and the server's
  message is logged once per cause.

Memory is bounded: in-memory points above `memory_points` go to the spool; if the worker
cannot keep up even so (a stuck disk), the oldest in-memory batch is dropped (reason
`memory_full`) once memory holds twice that.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from borderwatch.collector.icmp.stats import IcmpRound, IcmpSnapshot
from borderwatch.collector.samples import PollResult
from borderwatch.collector.secret import Secret
from borderwatch.exporters.line_protocol import Encoded, encode_icmp, encode_result
from borderwatch.exporters.spool import Record, Spool

if TYPE_CHECKING:
    from borderwatch.collector.inventory import Influx

log = logging.getLogger(__name__)

ERROR_REPEAT = 300.0  # seconds between repeats of the ERROR log while auth/config fails
TIMEOUT_MARGIN = 1.0  # our own hard bound is the client timeout plus this
DEFAULT_CLOSE_GRACE = 5.0


@dataclass(frozen=True)
class WriterSettings:
    """What the writer needs, independent of the inventory models (tests build it directly)."""

    url: str
    org: str
    bucket: str
    spool_dir: Path
    token: Secret | None = None
    batch_size: int = 1000
    flush_interval: float = 10.0
    timeout: float = 5.0
    gzip: bool = True
    retry_initial: float = 1.0
    retry_max: float = 60.0
    memory_points: int = 20_000
    spool_max_bytes: int = 256 * 2**20
    spool_max_age: float = 7 * 86400.0
    spool_segment_bytes: int | None = None  # default: 1/8 of spool_max_bytes, ≤ 4 MiB

    @classmethod
    def from_inventory(cls, influx: Influx) -> WriterSettings:
        """Settings from the inventory's `influx` section (token resolved, spool dir absolute)."""
        return cls(url=influx.url, org=influx.org, bucket=influx.bucket,
                   spool_dir=Path(influx.spool.dir), token=influx.token,
                   batch_size=influx.batch_size, flush_interval=influx.flush_interval,
                   timeout=influx.timeout, gzip=influx.gzip, retry_initial=influx.retry_initial,
                   retry_max=influx.retry_max, memory_points=influx.memory_points,
                   spool_max_bytes=influx.spool.max_bytes, spool_max_age=influx.spool.max_age)


class Outcome:
    """How one write request ended (names are the `result` values of the self-metrics)."""

    OK = "ok"
    RETRY = "retry"  # 429, 5xx, timeouts, connection errors
    TOO_LARGE = "too_large"  # 413
    BLOCKED = "blocked"  # 401, 403, 404, 3xx: keep the data, shout
    REJECTED = "rejected"  # other 4xx: drop and count


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One write request's outcome: kind, HTTP status (0 if none), Retry-After, reason."""

    kind: str
    status: int = 0
    retry_after: float | None = None
    reason: str = ""


def classify_status(status: int) -> str:
    """The Outcome kind of an HTTP status of /api/v2/write."""
    if 200 <= status < 300:
        return Outcome.OK
    if status == 413:
        return Outcome.TOO_LARGE
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    if status in (401, 403, 404) or 300 <= status < 400:
        return Outcome.BLOCKED
    return Outcome.REJECTED


# Why a server refused one point, from its message (InfluxDB 1.x, 2.x, VictoriaMetrics):
# (substring, reason); the reason is a label of points_dropped_total, so a fixed set.
REJECTION_REASONS = (
    ("field type conflict", "rejected_field_type_conflict"),
    ("unable to parse", "rejected_parse_error"),
    ("beyond retention", "rejected_beyond_retention"),
    ("max-values-per-tag", "rejected_limit"),
    ("max-series-per-database", "rejected_limit"),
)


def rejection_reason(result: WriteResult) -> str:
    """The dropped-points reason of one refused point: a known cause, else http_<status>."""
    text = result.reason.lower()
    for needle, reason in REJECTION_REASONS:
        if needle in text:
            return reason
    return f"http_{result.status}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(failures: int, retry_after: float | None, *, initial: float, cap: float,
                  rng: Callable[[float, float], float] = random.uniform) -> float:
    """Delay before the next try: exponential with jitter, at least Retry-After, at most cap."""
    delay = initial * 2 ** min(max(failures - 1, 0), 30) * rng(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


@dataclass(slots=True)
class Batch:
    """Sealed lines waiting in memory, oldest first."""

    lines: list[bytes]
    min_ts: int
    max_ts: int


@dataclass
class InfluxStats:
    """Self-metrics of the writer; plain attributes, safe to read at scrape time."""

    points_submitted: int = 0  # points handed to submit()
    points_written: int = 0  # points the server accepted (fresh and replayed)
    points_replayed: int = 0  # of those, points that came from the spool
    points_spooled: int = 0  # points moved from memory to the spool
    writer_dropped: dict[str, int] = field(default_factory=dict)  # reason → points
    requests: dict[str, int] = field(default_factory=dict)  # Outcome kind → write requests
    backend_up: bool | None = None  # None before the first write
    last_error: str | None = None  # latest failure, secret-free
    memory_points: int = 0  # points in memory now (building + sealed + in flight)
    spool: Spool | None = None

    @property
    def spool_points(self) -> int:
        """Undelivered points in the spool."""
        return self.spool.points if self.spool else 0

    @property
    def spool_max_bytes(self) -> int:
        """The spool's size limit."""
        return self.spool.max_bytes if self.spool else 0

    @property
    def spool_bytes(self) -> int:
        """Bytes of the spool's segment files."""
        return self.spool.bytes if self.spool else 0

    def spool_oldest_age_seconds(self, now: float | None = None) -> float:
        """Age of the oldest undelivered point in the spool (0 when empty)."""
        ts = self.spool.oldest_ts_ms if self.spool else None
        if ts is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - ts / 1000)

    @property
    def dropped(self) -> dict[str, int]:
        """Points dropped by reason, writer and spool together."""
        out = dict(self.writer_dropped)
        if self.spool:
            for reason, n in self.spool.dropped.items():
                out[reason] = out.get(reason, 0) + n
        return {k: v for k, v in out.items() if v}

    @property
    def points_dropped(self) -> int:
        """All points dropped, every reason."""
        return sum(self.dropped.values())


class InfluxWriter:
    """Writes every PollResult to InfluxDB; store-and-forward through a disk spool.

    Use: `await start()`, then `submit(result, site_id)` for every poll, `await close()`
    at shutdown (bounded: it stops sending within `grace` and fsyncs the spool).
    """

    def __init__(self, settings: WriterSettings, *, clock: Callable[[], float] = time.time,
                 rng: Callable[[float, float], float] = random.uniform) -> None:
        self.settings = settings
        self._clock = clock
        self._rng = rng
        self.stats = InfluxStats()
        self._building: list[bytes] = []
        self._building_min = self._building_max = 0
        self._building_since: float | None = None  # loop time of the first line
        self._fresh: deque[Batch] = deque()
        self._fresh_points = 0
        self._inflight_points = 0
        self._spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes,
                            max_age=settings.spool_max_age,
                            segment_bytes=settings.spool_segment_bytes, clock=clock)
        self._client: Any = None
        self._write_api: Any = None
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._closed = False
        self._close_deadline: float | None = None
        self._send_timeout: asyncio.Timeout | None = None
        self._failures = 0  # consecutive failed requests
        self._retry_at = 0.0  # loop time before which nothing is sent
        self._failing_since: float | None = None
        self._last_error_log = 0.0
        self._logged_reasons: set[str] = set()
        self._max_body: int | None = None  # learned from 413s
        self._encode_error_logged = False
        self._last_expire = 0.0
        self._memory_episode = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the spool (SpoolError if it is locked or not writable) and start the worker."""
        from influxdb_client import WritePrecision
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        await asyncio.to_thread(self._spool.open)
        self.stats.spool = self._spool
        s = self.settings
        try:
            # The client's own timeout covers connect + send + answer; our asyncio timeout
            # around each write is the hard bound (A33). Redirects are not followed: the
            # token must not travel to another host.
            self._client = InfluxDBClientAsync(
                url=s.url, token=s.token.reveal() if s.token else None, org=s.org,
                timeout=int(s.timeout * 1000), enable_gzip=s.gzip, debug=False,
                allow_redirects=False)
            self._write_api = self._client.write_api()
        except BaseException:
            await asyncio.to_thread(self._spool.close)  # unlock the directory
            raise
        self._precision = WritePrecision.MS
        self._worker = asyncio.create_task(self._run(), name="borderwatch-influx-writer")
        log.info("writing to InfluxDB %s (org %s, bucket %s); spool %s", s.url, s.org,
                 s.bucket, s.spool_dir)

    async def close(self, grace: float = DEFAULT_CLOSE_GRACE) -> None:
        """Stop within `grace` s: finish or abandon the write in flight, try to send what is
        in memory while the server answers, spool the rest, fsync the spool."""
        if self._closed:
            return
        if self.stats.spool is None:  # never started: nowhere to keep what is in memory
            self._closing = self._closed = True
            self._seal(force=True)
            self._count_dropped("closed", self._memory())
            self._fresh.clear()
            self._fresh_points = 0
            self._update_memory()
            return
        loop = asyncio.get_running_loop()
        self._closing = True
        self._close_deadline = loop.time() + grace
        if self._send_timeout is not None and self._send_timeout.when() is not None:
            self._send_timeout.reschedule(min(self._send_timeout.when() or 0,
                                              self._close_deadline))
        self._wake.set()
        if self._worker is not None:
            try:
                await self._worker
            except Exception:
                log.exception("the InfluxDB writer failed while stopping")
        self._seal(force=True)
        try:
            await self._spill_all()
        finally:
            await asyncio.to_thread(self._spool.close)
            if self._client is not None:
                await self._client.close()
            self._closed = True
        self._update_memory()
        if self.stats.spool_points:
            log.info("InfluxDB writer stopped; %d points kept in the spool %s for the next "
                     "start", self.stats.spool_points, self.settings.spool_dir)

    # ------------------------------------------------------------------ input

    def submit(self, result: PollResult, site_id: str) -> None:
        """Queue one poll's points; never blocks, never raises (a poll must not fail here)."""
        try:
            encoded = encode_result(result, site_id)
        except Exception:  # a bug must not stop polling
            if not self._encode_error_logged:
                self._encode_error_logged = True
                log.exception("cannot encode a poll of %s as line protocol", result.device_id)
            self._count_dropped("encode_error", 1)
            return
        self._enqueue(encoded)

    def submit_icmp(self, r: IcmpRound, snap: IcmpSnapshot, site_id: str) -> None:
        """Queue one ping round's `icmp` point (collector/icmp); never blocks, never raises."""
        self._enqueue(encode_icmp(r, snap, site_id))

    def _enqueue(self, encoded: Encoded) -> None:
        n = len(encoded.lines)
        self.stats.points_submitted += n
        if self._closing:  # polls must stop before close(); count what came too late
            self._count_dropped("closed", n)
            return
        if not self._building:
            self._building_since = asyncio.get_running_loop().time()
            self._building_min = self._building_max = encoded.ts_ms
        self._building.extend(encoded.lines)
        self._building_min = min(self._building_min, encoded.ts_ms)
        self._building_max = max(self._building_max, encoded.ts_ms, encoded.max_ts_ms)
        if len(self._building) >= self.settings.batch_size:
            self._seal(force=False)
        self._enforce_memory_cap()
        self._update_memory()
        self._wake.set()

    # ------------------------------------------------------------------ batching

    def _seal(self, *, force: bool) -> None:
        """Move building lines into sealed batches of at most batch_size points."""
        size = self.settings.batch_size
        while self._building and (force or len(self._building) >= size):
            lines, self._building = self._building[:size], self._building[size:]
            self._fresh.append(Batch(lines, self._building_min, self._building_max))
            self._fresh_points += len(lines)
        if not self._building:
            self._building_since = None

    def _seal_due(self) -> float | None:
        """Loop time at which the building batch must be sealed (None if empty)."""
        if self._building_since is None:
            return None
        return self._building_since + self.settings.flush_interval

    def _memory(self) -> int:
        return len(self._building) + self._fresh_points + self._inflight_points

    def _update_memory(self) -> None:
        self.stats.memory_points = self._memory()

    def _enforce_memory_cap(self) -> None:
        limit = 2 * self.settings.memory_points
        dropped = 0
        while self._memory() > limit and self._fresh:
            batch = self._fresh.popleft()
            self._fresh_points -= len(batch.lines)
            dropped += len(batch.lines)
        if dropped:
            self._count_dropped("memory_full", dropped)
            if not self._memory_episode:
                self._memory_episode = True
                log.warning("InfluxDB writer: memory full (%d points) and the spool cannot "
                            "keep up; the oldest points in memory are dropped (counted as "
                            "memory_full)", limit)
        elif self._memory_episode and self._memory() <= self.settings.memory_points:
            self._memory_episode = False

    def _count_dropped(self, reason: str, points: int) -> None:
        d = self.stats.writer_dropped
        d[reason] = d.get(reason, 0) + points

    # ------------------------------------------------------------------ the worker

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            due = self._seal_due()
            if due is not None and now >= due:
                self._seal(force=True)
            if self._closing:
                self._seal(force=True)
                # Send what is in memory while the server answers and time is left; the
                # rest is spooled by close().
                if not self._fresh or now < self._retry_at or \
                        now >= (self._close_deadline or now):
                    return
            try:
                if now < self._retry_at or self._memory() > self.settings.memory_points:
                    await self._spill_all()
                if now < self._retry_at:
                    if now - self._last_expire >= 1.0:
                        # Down for long: points past max_age leave the spool now, not at
                        # replay (A36).
                        self._last_expire = now
                        await asyncio.to_thread(self._spool.expire)
                    # wake for the seal too: a batch must reach the spool within
                    # flush_interval, not when the backoff ends
                    due = self._seal_due()
                    await self._sleep(min(self._retry_at, due if due is not None
                                          else self._retry_at) - now)
                    continue
                if self._fresh:
                    await self._send_fresh()
                    continue
                if self._spool.points and not self._closing:
                    record = await asyncio.to_thread(self._spool.peek)
                    if record is not None:
                        await self._send_spooled(record)
                        continue
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the worker die: memory would grow until dropped
                log.exception("InfluxDB writer: unexpected error; retrying")
                self._retry_at = loop.time() + self.settings.retry_initial
                continue
            due = self._seal_due()
            await self._sleep(None if due is None else max(0.0, due - loop.time()))

    async def _sleep(self, seconds: float | None) -> None:
        if self._closing and not self._fresh:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _spill_all(self) -> None:
        """Move sealed in-memory batches to the spool, oldest first, with one fsync."""
        while self._fresh:
            # Taken out of `_fresh` so that the memory cap cannot drop what is being
            # written; still counted in memory until it is on disk.
            batches = list(self._fresh)
            self._fresh.clear()
            self._fresh_points = 0
            self._inflight_points = sum(len(b.lines) for b in batches)
            try:
                stored = await asyncio.to_thread(
                    self._spool.append_batches,
                    [(b.lines, b.min_ts, b.max_ts) for b in batches])
            except BaseException:  # not stored: back in memory, in order
                self._fresh.extendleft(reversed(batches))
                self._fresh_points += self._inflight_points
                raise
            finally:
                self._inflight_points = 0
            for batch, ok in zip(batches, stored, strict=True):
                if ok:
                    self.stats.points_spooled += len(batch.lines)
            self._update_memory()

    async def _send_fresh(self) -> None:
        batch = self._fresh.popleft()
        self._fresh_points -= len(batch.lines)
        self._inflight_points = len(batch.lines)
        try:
            consumed, written, failure = await self._send_lines(batch.lines)
        except BaseException:
            # Cancelled mid-write: the batch goes back to memory, close() spools it.
            self._fresh.appendleft(batch)
            self._fresh_points += len(batch.lines)
            raise
        finally:
            self._inflight_points = 0
        self.stats.points_written += written
        if failure is not None:
            rest = batch.lines[consumed:]
            if rest:  # back to the front, in order; spooled while the server fails
                self._fresh.appendleft(Batch(rest, batch.min_ts, batch.max_ts))
                self._fresh_points += len(rest)
            self._on_failure(failure)
        self._update_memory()

    async def _send_spooled(self, record: Record) -> None:
        consumed, written, failure = await self._send_lines(record.lines)
        if consumed:
            await asyncio.to_thread(self._spool.ack, record, consumed)
        self.stats.points_written += written
        self.stats.points_replayed += written
        if failure is not None:
            self._on_failure(failure)

    async def _send_lines(self, lines: list[bytes]) -> tuple[int, int, WriteResult | None]:
        """Write lines in order, splitting on 413. Returns (lines consumed — written or
        dropped for good —, lines written, the failure that stopped it or None)."""
        parts = deque(self._cut(lines))
        consumed = written = 0
        while parts:
            part = parts.popleft()
            result = await self._post(part)
            kind = result.kind
            self.stats.requests[kind] = self.stats.requests.get(kind, 0) + 1
            if kind == Outcome.OK:
                consumed += len(part)
                written += len(part)
                self._on_success()
                continue
            if kind == Outcome.TOO_LARGE:
                size = sum(len(x) + 1 for x in part)
                if len(part) > 1:
                    half = len(part) // 2
                    parts.appendleft(part[half:])
                    parts.appendleft(part[:half])
                    self._max_body = max(1, size // 2)
                    log.info("InfluxDB: request of %d bytes too large (413); sending batches "
                             "of at most %d bytes", size, self._max_body)
                    continue
                await self._reject(part, result, "too_large")
                consumed += 1
                continue
            if kind == Outcome.REJECTED:
                if len(part) > 1:
                    # Which points were refused? InfluxDB's message does not say for every
                    # cause (1.x and 2.x name no line for a field type conflict, and a
                    # partial write stores the rest): halve the batch until each refused
                    # point stands alone. Resending the accepted ones overwrites identical
                    # points; nothing is counted written before the server said 2xx to it.
                    half = len(part) // 2
                    parts.appendleft(part[half:])
                    parts.appendleft(part[:half])
                    continue
                await self._reject(part, result, rejection_reason(result))
                consumed += 1
                continue
            return consumed, written, result
        return consumed, written, None

    def _cut(self, lines: list[bytes]) -> list[list[bytes]]:
        """Split lines into requests no larger than the body size the server took."""
        if self._max_body is None:
            return [lines]
        parts: list[list[bytes]] = []
        current: list[bytes] = []
        size = 0
        for line in lines:
            if current and size + len(line) + 1 > self._max_body:
                parts.append(current)
                current, size = [], 0
            current.append(line)
            size += len(line) + 1
        if current:
            parts.append(current)
        return parts

    async def _reject(self, part: list[bytes], result: WriteResult, reason: str) -> None:
        self._count_dropped(reason, len(part))
        if reason not in self._logged_reasons:
            self._logged_reasons.add(reason)
            log.warning("InfluxDB refused %d points with HTTP %d (%s): dropped and counted as "
                        "%s; kept in %s (logged once per reason)", len(part), result.status,
                        result.reason or "no reason given", reason,
                        self.settings.spool_dir / "rejected.lp")
        await asyncio.to_thread(self._spool.reject, part,
                                f"{reason}: HTTP {result.status}: {result.reason}")

    async def _post(self, lines: list[bytes]) -> WriteResult:
        """One write request with a hard deadline; every failure becomes a WriteResult."""
        from influxdb_client.rest import ApiException

        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.timeout + TIMEOUT_MARGIN
        if self._close_deadline is not None:
            deadline = min(deadline, self._close_deadline)
        body = b"\n".join(lines)
        started = loop.time()
        try:
            async with asyncio.timeout_at(deadline) as cm:
                self._send_timeout = cm
                await self._write_api.write(bucket=s.bucket, org=s.org, record=body,
                                            write_precision=self._precision)
        except ApiException as exc:
            status = int(exc.status or 0)
            reason = _reason(getattr(exc, "message", None) or exc.reason)
            return WriteResult(classify_status(status) if status else Outcome.RETRY, status,
                               parse_retry_after(getattr(exc, "retry_after", None)), reason)
        except TimeoutError:
            return WriteResult(Outcome.RETRY, 0, None,
                               f"no answer within {loop.time() - started:.1f} s")
        except (aiohttp.ClientError, OSError) as exc:
            return WriteResult(Outcome.RETRY, 0, None, _reason(f"{type(exc).__name__}: {exc}"))
        finally:
            self._send_timeout = None
        return WriteResult(Outcome.OK, 204)

    # ------------------------------------------------------------------ health

    def _on_success(self) -> None:
        if self._failing_since is not None:
            down = time.monotonic() - self._failing_since
            log.info("InfluxDB %s answers again after %.0f s (%d failed requests); the spool "
                     "holds %d points to replay", self.settings.url, down, self._failures,
                     self._spool.points)
        self._failures = 0
        self._failing_since = None
        self._retry_at = 0.0
        self.stats.backend_up = True

    def _on_failure(self, result: WriteResult) -> None:
        loop = asyncio.get_running_loop()
        self._failures += 1
        s = self.settings
        delay = backoff_delay(self._failures, result.retry_after, initial=s.retry_initial,
                              cap=s.retry_max, rng=self._rng)
        self._retry_at = loop.time() + delay
        what = f"HTTP {result.status}: {result.reason}" if result.status else result.reason
        self.stats.last_error = what
        self.stats.backend_up = False
        now = time.monotonic()
        first = self._failing_since is None
        if first:
            self._failing_since = now
        if result.kind == Outcome.BLOCKED:
            if first or now - self._last_error_log >= ERROR_REPEAT:
                self._last_error_log = now
                log.error("InfluxDB %s refuses writes (%s): check the token, org and bucket. "
                          "Points are KEPT in the spool %s (%d points) and retried",
                          s.url, what, s.spool_dir, self._spool.points)
        elif first:
            log.warning("InfluxDB write to %s failed (%s); retrying with backoff (up to %g s), "
                        "points go to the spool %s meanwhile", s.url, what, s.retry_max,
                        s.spool_dir)
        else:
            log.debug("InfluxDB write failed again (%s); next try in %.1f s", what, delay)


def _reason(value: Any, limit: int = 200) -> str:
    """A short, printable reason from a server message (bytes or text)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value or "").split())
    return text[:limit] + ("…" if len(text) > limit else "")
