"""The writer's HTTP behaviour (A34) against the sanctioned aiohttp fake of /api/v2/write:
429 + Retry-After, 503, 500, 413, 400, 401/403; gzip, token, replay order, fresh data first."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import time
import urllib.parse
from collections import Counter

import pytest
from fake_influx import fake_server  # noqa: F401  (the `fake` fixture)
from influx_helpers import TOKEN, fast_settings, point_key, polls, started_writer, wait_until

from borderwatch.exporters.influx import (
    Outcome,
    backoff_delay,
    classify_status,
    parse_retry_after,
)
from borderwatch.exporters.line_protocol import encode_result


def expected_lines(results, site="s1") -> list[bytes]:
    return [line for r in results for line in encode_result(r, site).lines]


def assert_exactly_once(stored: list[bytes], expected: list[bytes]) -> None:
    counts = Counter(point_key(x) for x in stored)
    dupes = {k: n for k, n in counts.items() if n > 1}
    assert not dupes, f"{len(dupes)} points written more than once, e.g. {next(iter(dupes))}"
    assert sorted(stored) == sorted(expected)


async def submit_all(writer, results, site="s1") -> None:
    for r in results:
        writer.submit(r, site)


# ----------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize(("status", "kind"), [
    (204, Outcome.OK), (200, Outcome.OK), (413, Outcome.TOO_LARGE), (429, Outcome.RETRY),
    (408, Outcome.RETRY), (500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY),
    (401, Outcome.BLOCKED), (403, Outcome.BLOCKED), (404, Outcome.BLOCKED),
    (301, Outcome.BLOCKED), (400, Outcome.REJECTED), (422, Outcome.REJECTED),
])
def test_status_classes(status: int, kind: str) -> None:
    assert classify_status(status) == kind


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(("failures", "retry_after", "jitter", "expected"), [
    (1, None, 1.0, 1.0),      # initial
    (2, None, 1.0, 2.0),      # doubles
    (4, None, 1.0, 8.0),
    (4, None, 0.5, 4.0),      # jitter scales it
    (10, None, 1.5, 60.0),    # capped
    (1, 3.0, 1.0, 3.0),       # at least Retry-After
    (1, 3.0, 0.5, 3.0),       # jitter never goes below Retry-After
    (1, 600.0, 1.0, 60.0),    # Retry-After capped too
    (200, None, 1.0, 60.0),   # no overflow after many failures
])
def test_backoff(failures, retry_after, jitter, expected) -> None:
    delay = backoff_delay(failures, retry_after, initial=1.0, cap=60.0,
                          rng=lambda lo, hi: jitter)
    assert delay == pytest.approx(expected)


# ----------------------------------------------------------------------------- the wire

async def test_gzip_token_precision_and_every_point(fake, tmp_path) -> None:
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    results = polls(30, devices=2)
    await submit_all(writer, results)
    await writer.close()
    assert_exactly_once(fake.stored, expected_lines(results))
    first = fake.requests[0]
    assert first.headers.get("Content-Encoding") == "gzip"
    assert first.headers.get("Authorization") == f"Token {TOKEN}"
    assert first.query == {"org": "bw-org", "bucket": "bw-bucket", "precision": "ms"}
    assert writer.stats.points_written == len(expected_lines(results))
    assert writer.stats.dropped == {}


async def test_429_honours_retry_after(fake, tmp_path) -> None:
    fake.script = [(429, {"Retry-After": "1"}, '{"message":"slow down"}')]
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", retry_max=5.0))
    results = polls(5)
    await submit_all(writer, results)
    await wait_until(lambda: len(fake.stored) == len(expected_lines(results)), what="all points")
    await writer.close()
    assert fake.statuses()[:2] == [429, 204]
    # the backoff alone would have retried after 0.025-0.075 s
    assert fake.requests[1].at - fake.requests[0].at >= 0.95
    assert_exactly_once(fake.stored, expected_lines(results))


async def test_retry_after_is_capped(fake, tmp_path) -> None:
    fake.script = [(429, {"Retry-After": "30"}, "")]
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", retry_max=0.3))
    results = polls(5)
    await submit_all(writer, results)
    await wait_until(lambda: len(fake.stored) == len(expected_lines(results)), within=10,
                     what="all points after a capped Retry-After")
    await writer.close()
    assert fake.requests[1].at - fake.requests[0].at < 10


@pytest.mark.parametrize("statuses", [[503, 503, 503], [500], [500, 503, 502]])
async def test_5xx_retried_until_written_once(fake, tmp_path, statuses) -> None:
    fake.script = [(s, {}, '{"message":"busy"}') for s in statuses]
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    results = polls(40, devices=2)
    await submit_all(writer, results)
    expected = expected_lines(results)
    await wait_until(lambda: len(fake.stored) >= len(expected), what="all points")
    await writer.close()
    assert fake.statuses()[:len(statuses)] == statuses
    assert_exactly_once(fake.stored, expected)
    assert writer.stats.requests[Outcome.RETRY] == len(statuses)
    assert writer.stats.dropped == {}
    assert writer.stats.backend_up is True


async def test_413_splits_the_batch_and_learns_the_size(fake, tmp_path) -> None:
    results = polls(30)  # 3 lines per poll
    lines = expected_lines(results)
    fake.max_body = sum(len(x) + 1 for x in lines[:10])  # about 10 lines per request
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", batch_size=40,
                                                flush_interval=5.0))
    await submit_all(writer, results[:15])  # 45 lines: one full batch of 40 sealed
    await wait_until(lambda: len(fake.stored) >= 40, what="the first batch")
    too_large_first = fake.statuses().count(413)
    await submit_all(writer, results[15:])
    await writer.close()
    assert too_large_first >= 2  # 40 lines → 20 → 10
    # the next batches were cut to the size that worked: no more 413
    assert fake.statuses().count(413) == too_large_first
    assert all(len(r.body) <= fake.max_body for r in fake.requests if r.status == 204)
    assert_exactly_once(fake.stored, lines)
    assert fake.stored == lines  # and in order


async def test_413_single_point_too_large_is_dropped_and_counted(fake, tmp_path) -> None:
    results = polls(4)
    lines = expected_lines(results)
    big = max(lines, key=len)
    fake.max_body = len(big) - 1
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    await submit_all(writer, results)
    await writer.close()
    too_big = [x for x in lines if len(x) > fake.max_body]
    assert writer.stats.dropped == {"too_large": len(too_big)}
    assert sorted(fake.stored) == sorted(x for x in lines if len(x) <= fake.max_body)


async def test_400_dropped_counted_logged_once_and_kept(fake, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    reason = "partial write: field type conflict"
    # every request refused until two batches of 6 were halved down to single points
    # (2 × 11 requests); then the store takes the rest
    fake.script = [(400, {}, f'{{"code":"invalid","message":"{reason}"}}')] * 22
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", batch_size=6,
                                                flush_interval=5.0))
    results = polls(6)  # 18 lines: three batches of 6
    await submit_all(writer, results)
    await writer.close()
    lines = expected_lines(results)
    assert fake.statuses() == [400] * 22 + [204]  # no retry of a single refused point
    assert writer.stats.dropped == {"rejected_field_type_conflict": 12}
    assert writer.stats.points_written == 6
    assert fake.stored == lines[12:]
    warnings = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    kept = (tmp_path / "spool" / "rejected.lp").read_bytes()
    assert all(x in kept for x in lines[:12])
    assert writer.stats.spool_points == 0


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_is_loud_and_keeps_the_data(fake, tmp_path, caplog, status) -> None:
    caplog.set_level(logging.DEBUG)
    fake.default = (status, {}, '{"code":"unauthorized","message":"unauthorized access"}')
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    results = polls(20, devices=2)
    lines = expected_lines(results)
    await submit_all(writer, results)
    await wait_until(lambda: writer.stats.spool_points == len(lines), what="all points spooled")
    assert writer.stats.dropped == {}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and f"HTTP {status}" in errors[0].getMessage()
    assert "KEPT" in errors[0].getMessage()
    # the token is fixed: everything kept arrives, once
    fake.default = None
    await wait_until(lambda: writer.stats.spool_points == 0 and len(fake.stored) == len(lines),
                     what="replay after the token works")
    await writer.close()
    assert_exactly_once(fake.stored, lines)
    assert writer.stats.points_replayed == len(lines)
    # T8: the token never leaves the wire (logs, spool files, stats)
    text = caplog.text + repr(writer.stats) + str(writer.stats.last_error)
    for path in (tmp_path / "spool").iterdir():
        text += path.read_bytes().decode("utf-8", "replace")
    for form in (TOKEN, TOKEN.encode().hex(), base64.b64encode(TOKEN.encode()).decode(),
                 urllib.parse.quote(TOKEN, safe="")):
        assert form not in text


async def test_replay_is_in_order_and_fresh_data_is_not_stalled(fake, tmp_path) -> None:
    fake.default = (503, {}, "")
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", batch_size=6))
    backlog = polls(60)  # 180 lines → ≥ 30 spooled batches
    for r in backlog:
        writer.submit(r, "s1")
        await asyncio.sleep(0.004)
    backlog_lines = expected_lines(backlog)
    await wait_until(lambda: writer.stats.spool_points == len(backlog_lines), what="spooled")
    fake.default = None
    fake.delay = 0.05  # a slow store: replay takes a while
    await wait_until(lambda: writer.stats.points_replayed >= 12, what="replay under way")
    fresh = polls(1, start=time.time() - 1)
    writer.submit(fresh[0], "s1")
    fresh_lines = expected_lines(fresh)
    await wait_until(lambda: writer.stats.spool_points == 0, what="replay done")
    await writer.close()
    stored = fake.stored
    assert_exactly_once(stored, backlog_lines + fresh_lines)
    replayed = [x for x in stored if x not in fresh_lines]
    assert replayed == backlog_lines  # oldest first, original timestamps
    # the fresh poll did not wait for the backlog
    assert stored.index(fresh_lines[0]) < stored.index(backlog_lines[-1])


@pytest.mark.parametrize("pause", [0.002, 0.0])
async def test_memory_is_bounded_while_the_store_fails(fake, tmp_path, pause) -> None:
    fake.default = (503, {}, "")
    settings = fast_settings(fake.url, tmp_path / "spool", batch_size=10, memory_points=30)
    writer = await started_writer(settings)
    peak = 0
    for r in polls(300):
        writer.submit(r, "s1")
        peak = max(peak, writer.stats.memory_points)
        await asyncio.sleep(pause)
    await writer.close()
    assert peak <= 2 * settings.memory_points + settings.batch_size
    # every point is either on disk or counted
    assert writer.stats.spool_points + writer.stats.points_dropped == 900
    if pause:  # at a (still absurd) 500 polls/s, the spool keeps up: nothing lost
        assert writer.stats.dropped == {}
    else:  # a burst with no pause at all: the oldest in memory go, counted
        assert set(writer.stats.dropped) <= {"memory_full"}


async def test_closed_writer_spools_and_a_new_one_replays(fake, tmp_path) -> None:
    fake.default = (500, {}, "")
    spool = tmp_path / "spool"
    writer = await started_writer(fast_settings(fake.url, spool))
    results = polls(10)
    await submit_all(writer, results)
    await writer.close()
    assert writer.stats.spool_points == len(expected_lines(results))
    fake.default = None
    again = await started_writer(fast_settings(fake.url, spool))
    await wait_until(lambda: again.stats.spool_points == 0, what="replay")
    await again.close()
    assert_exactly_once(fake.stored, expected_lines(results))
    assert again.stats.points_replayed == len(expected_lines(results))


async def test_a_spool_dir_has_one_writer(fake, tmp_path) -> None:
    from borderwatch.exporters.spool import SpoolError

    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    try:
        with pytest.raises(SpoolError, match="in use by another writer"):
            await started_writer(fast_settings(fake.url, tmp_path / "spool"))
    finally:
        await writer.close()


async def test_close_without_start_counts_what_it_held(tmp_path) -> None:
    from borderwatch.exporters.influx import InfluxWriter

    writer = InfluxWriter(fast_settings("http://127.0.0.1:9", tmp_path / "spool"))
    writer.submit(polls(1)[0], "s1")
    await writer.close()
    assert writer.stats.dropped == {"closed": 3} and writer.stats.memory_points == 0
    assert not (tmp_path / "spool").exists()


async def test_points_reach_the_spool_within_the_flush_interval_during_backoff(
        fake, tmp_path) -> None:
    fake.default = (503, {}, "")
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool",
                                                retry_initial=30.0, retry_max=30.0))
    first, second = polls(2)
    writer.submit(first, "s1")
    await wait_until(lambda: writer.stats.spool_points == 3, within=10, what="first spooled")
    writer.submit(second, "s1")  # the backoff lasts ≥ 15 s; the spool must not wait for it
    await wait_until(lambda: writer.stats.spool_points == 6, within=10, what="second spooled")
    assert len(fake.requests) == 1
    await writer.close()
