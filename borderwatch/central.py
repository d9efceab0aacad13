"""`borderwatch alerts --source prometheus URL`: the alert engine over a central TSDB.

Shards (`run --shard i/n`) each poll part of the network and do not alert; a central
Prometheus (or VictoriaMetrics) scrapes them all. This process reads the device and
interface state of every shard back from it (alerts/tsdb_source.py) at each tick of the
inventory's `alerts:` section and runs the same AlertService as `run`: the same
topology, rules, engine, state file, outbox and receivers. So a cut on a link polled by
one shard that isolates sites polled by another is one incident with its root cause.

Its own listener (`--listen`) serves /metrics (the alert families and
`borderwatch_tsdb_*`), /healthz, /api/status (open incidents, the TSDB's health) and
/api/silences. Evaluation lags the network by up to a poll interval plus a scrape
interval (docs/deployment.md); while the TSDB cannot be read nothing is evaluated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from borderwatch.alerts.central_cli import SOURCES
from borderwatch.alerts.metrics import AlertCollector
from borderwatch.alerts.service_hook import AlertsConfigError, AlertService, resume_clock
from borderwatch.alerts.silence_api import attach_silence_api
from borderwatch.alerts.tsdb_metrics import TsdbCollector
from borderwatch.alerts.tsdb_source import (
    DEVICE_QUERIES,
    PromQueryClient,
    TsdbState,
    measurement_queries,
)
from borderwatch.collector.inventory import Inventory, InventoryError, load_inventory
from borderwatch.collector.profiles import metric_catalog
from borderwatch.collector.state_lock import StateDirBusy, locked
from borderwatch.exporters.http import HttpServer, MetricsApp, parse_listen
from borderwatch.service import device_spec, link_specs

log = logging.getLogger(__name__)


def alerts_command(args: argparse.Namespace) -> int:
    """Exit codes: 0 clean stop, 1 could not start, 2 bad arguments or inventory."""
    kind, url = args.source
    if kind not in SOURCES:
        print(f"borderwatch alerts: --source {kind!r}: expected one of {', '.join(SOURCES)} "
              "followed by the URL", file=sys.stderr)
        return 2
    if not url.startswith(("http://", "https://")):
        print(f"borderwatch alerts: --source {kind} {url!r}: expected an http:// or https:// "
              "URL", file=sys.stderr)
        return 2
    try:
        parse_listen(args.listen)
    except ValueError as exc:
        print(f"borderwatch alerts: {exc}", file=sys.stderr)
        return 2
    try:
        inventory = load_inventory(args.inventory)
    except InventoryError as exc:
        print(f"borderwatch alerts: {args.inventory}: the inventory has problems:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if inventory.alerts is None:
        print(f"borderwatch alerts: {args.inventory}: no alerts: section (rules and "
              "receivers): nothing to evaluate", file=sys.stderr)
        return 2
    base_dir = Path(args.inventory).resolve().parent
    state_dir = Path(inventory.alerts.state_dir).expanduser()
    try:
        with locked([state_dir if state_dir.is_absolute() else base_dir / state_dir]):
            asyncio.run(run_central(inventory, url, base_dir=base_dir, listen=args.listen,
                                    stale_after=args.stale_after,
                                    rate_window=args.rate_window,
                                    query_timeout=args.query_timeout))
    except (StateDirBusy, OSError) as exc:
        print(f"borderwatch alerts: {exc}", file=sys.stderr)
        return 1
    except AlertsConfigError as exc:
        print(f"borderwatch alerts: {exc}", file=sys.stderr)
        return 2
    return 0


def _iso(t: float | None) -> str | None:
    """Unix time as people read it in /api/status (UTC, seconds)."""
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def default_stale_after(inventory: Inventory) -> float:
    """3 poll intervals of the slowest device (when `run` itself hides its series) + 60 s."""
    slowest = max((inventory.effective(d).interval for d in inventory.devices), default=60.0)
    return 3 * slowest + 60.0


async def run_central(inventory: Inventory, url: str, *, base_dir: Path, listen: str,
                      stale_after: float | None = None, rate_window: str = "5m",
                      query_timeout: float = 10.0,
                      stop: asyncio.Event | None = None) -> None:
    """Evaluate until SIGINT/SIGTERM (or `stop`); prints `serving URL` once listening."""
    stopped = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    clock = resume_clock(inventory, base_dir)
    async with aiohttp.ClientSession() as http_client:
        source = TsdbState(
            devices=[device_spec(inventory.effective(d)) for d in inventory.devices],
            links=link_specs(inventory),
            client=PromQueryClient(url, http_client, timeout=query_timeout),
            queries={**DEVICE_QUERIES, **measurement_queries(metric_catalog(), rate_window)},
            clock=clock.now,
            stale_after=stale_after if stale_after is not None
            else default_stale_after(inventory))
        service = AlertService(inventory, source, base_dir=base_dir, clock=clock)
        service.refresh = source.refresh
        registry = CollectorRegistry(auto_describe=True)
        registry.register(AlertCollector(service))
        registry.register(TsdbCollector(source))
        app = MetricsApp(registry, lambda: {"tsdb_up": source.up,
                                            "evaluations": service.evaluations})
        app.status = lambda: {"generated_at": _iso(time.time()), "source": url,
                              "tsdb": {"up": source.up, "error": source.last_error,
                                       "last_success": _iso(source.last_success_wall)},
                              "alerts": service.status_alerts(),
                              "notifications": service.status_notifications()}
        attach_silence_api(app.app, service)
        host, port = parse_listen(listen)
        server = HttpServer(app, host, port)
        await server.start()
        try:
            service.start()
            log.info("evaluating %d devices, %d links from %s; serving %s/metrics",
                     len(source.devices), len(source.links), url, server.url)
            print(f"serving {server.url}/metrics", flush=True)
            await stopped.wait()
        finally:
            await service.close()
            await server.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
