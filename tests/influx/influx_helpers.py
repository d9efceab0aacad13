"""Helpers of the Influx writer tests: fast settings, synthetic polls, waiting, line keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.secret import Secret
from borderwatch.exporters.influx import InfluxWriter, WriterSettings

RX = "borderwatch_interface_receive_bytes_total"
UP = "borderwatch_interface_up"
TOKEN = "cnry-TOKEN-7f3a9c"  # a canary: must never show up in logs, files or stats


def fast_settings(url: str, spool_dir: Path, **overrides: Any) -> WriterSettings:
    """Settings with short timeouts and backoffs so that the suite stays fast."""
    base: dict[str, Any] = {
        "url": url, "org": "bw-org", "bucket": "bw-bucket", "spool_dir": spool_dir,
        "token": Secret(TOKEN, source="test"), "batch_size": 50, "flush_interval": 0.1,
        "timeout": 1.0, "retry_initial": 0.05, "retry_max": 0.3, "memory_points": 200,
    }
    base.update(overrides)
    return WriterSettings(**base)


def synthetic_poll(device: str, started: float, seq: int, interfaces: int = 2) -> PollResult:
    """A successful poll with `interfaces` interface rows; counters depend on seq."""
    samples = []
    for i in range(1, interfaces + 1):
        labels = (("ifIndex", str(i)), ("ifName", f"eth{i}"))
        samples.append(Sample(UP, labels, 1))
        samples.append(Sample(RX, labels, 1000 * seq + i, Kind.COUNTER, 64))
    return PollResult(device, started, 0.01, True, samples=samples, varbinds=2 * interfaces,
                      requests=1)


def polls(n: int, *, devices: int = 1, start: float | None = None, step: float = 1.0,
          interfaces: int = 2) -> list[PollResult]:
    """n polls per device at `step` s apart, in the past (VictoriaMetrics exports ≤ now)."""
    t0 = (time.time() - 600 - n * step) if start is None else start
    return [synthetic_poll(f"dev{d}", t0 + k * step + d * 0.001, k, interfaces)
            for k in range(n) for d in range(devices)]


def point_key(line: bytes) -> tuple[bytes, bytes]:
    """(series, timestamp) of a line: what makes a point unique in InfluxDB."""
    head, _, ts = line.rpartition(b" ")
    series = head.split(b" ", 1)[0]
    return series, ts


async def wait_until(predicate: Callable[[], bool], within: float = 20.0,
                     interval: float = 0.02, what: str = "condition") -> None:
    """Poll `predicate` until true; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        await asyncio.sleep(interval)


async def started_writer(settings: WriterSettings, **kwargs: Any) -> InfluxWriter:
    writer = InfluxWriter(settings, **kwargs)
    await writer.start()
    return writer
