"""Wiring of `borderwatch run` and `borderwatch poll`: inventory → sessions → poller → state.

`run_service()` builds the whole collector from an inventory, serves /metrics, and runs
until told to stop; `poll_command()` polls one device once for a person debugging a
site. Nothing here knows SNMP or Prometheus details: it only connects the modules that
do (see docs/architecture.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import errno
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderwatch.alerts.metrics import AlertCollector
from borderwatch.alerts.service_hook import AlertService, resume_clock
from borderwatch.alerts.silence_api import attach_silence_api
from borderwatch.alerts.silence_off import attach_silences_off
from borderwatch.collector.clock import SteadyClock
from borderwatch.collector.heap import HeapFreezer
from borderwatch.collector.icmp.service_hook import IcmpHook, build_pinger, settings_of
from borderwatch.collector.inventory import (
    EffectiveDeviceSettings,
    Inventory,
    InventoryError,
    load_inventory,
)
from borderwatch.collector.poll_cli import render_json, render_table, table_width
from borderwatch.collector.poll_limits import PollLimits
from borderwatch.collector.poller import Poller
from borderwatch.collector.reload import Reloader
from borderwatch.collector.samples import PollResult
from borderwatch.collector.scheduler import Job, Scheduler
from borderwatch.collector.shard import Shard, shard_inventory
from borderwatch.collector.snmp.factory import create_transport, open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import SnmpError, SnmpSession
from borderwatch.collector.state import Event, EventKind, NetworkState
from borderwatch.collector.state_lock import StateDirBusy, locked
from borderwatch.collector.timeout_state import FILE_NAME as TIMEOUTS_FILE
from borderwatch.collector.timeout_state import TimeoutCollector, TimeoutKeeper, timing_of
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec
from borderwatch.collector.traps.listen_flag import check_listen_address, overriding
from borderwatch.collector.traps.service_hook import TrapService
from borderwatch.device_reload import DeviceReloader
from borderwatch.exporters.http import HttpServer, MetricsApp, RenderStats, parse_listen
from borderwatch.exporters.http_limits import ListenerStats, ServerLimits
from borderwatch.exporters.icmp_metrics import IcmpCollector
from borderwatch.exporters.influx import InfluxWriter, WriterSettings
from borderwatch.exporters.prometheus import ExporterSources, PollCounters, build_registry
from borderwatch.exporters.reload_api import attach_reload_api
from borderwatch.exporters.reload_metrics import ReloadCollector
from borderwatch.exporters.shard_info import ShardInfoCollector
from borderwatch.exporters.site_info import SiteInfoCollector
from borderwatch.exporters.site_status import SiteStatusCollector
from borderwatch.exporters.spool import SpoolError
from borderwatch.exporters.status import attach_status
from borderwatch.exporters.web_config import WebConfig, WebConfigError, load_web_config
from borderwatch.history.schema import HistoryError
from borderwatch.history.service_hook import HistoryService
from borderwatch.history.settings import (
    HistorySettings,
    default_state_dir,
    history_path,
    settings_from_args,
    state_dir,
)

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:9730"
DEFAULT_SERIES_CAP = 20_000  # per device and poll; a 500-port chassis × 12 metrics fits
STATE_ROOT = "var"  # the state directory beside the inventory (locked by `run`, always)
SHUTDOWN_GRACE = 5.0  # seconds for polls to unwind after cancel
STOP_POLL_INTERVAL = 0.2  # how often a threading.Event stop flag is looked at

_EVENT_LEVEL = {
    EventKind.UNREACHABLE: logging.WARNING,
    EventKind.RECOVERED: logging.INFO,
    EventKind.REBOOTED: logging.WARNING,
    EventKind.PROFILE_MISMATCH: logging.WARNING,
    EventKind.DATA_INCOMPLETE: logging.WARNING,
    EventKind.DATA_COMPLETE: logging.INFO,
    EventKind.LINK_DOWN: logging.WARNING,
    EventKind.LINK_UP: logging.INFO,
    EventKind.TRAP: logging.INFO,
}


# ----------------------------------------------------------------------------- mapping


def session_settings(eff: EffectiveDeviceSettings) -> SessionSettings:
    """The SNMP session settings of a device: its credential plus its effective timing."""
    cred = eff.credential
    return SessionSettings(
        address=eff.address, port=eff.port, version=cred.version, timeout=eff.timeout,
        retries=eff.retries, max_repetitions=eff.max_repetitions, community=cred.community,
        user=cred.user, auth_protocol=cred.auth_protocol, auth_key=cred.auth_key,
        priv_protocol=cred.priv_protocol, priv_key=cred.priv_key, context=cred.context or "",
        accept_any_source=eff.accept_any_source)


def device_spec(eff: EffectiveDeviceSettings) -> DeviceSpec:
    """What poller and state need to know about a device."""
    target = f"[{eff.address}]:{eff.port}" if ":" in eff.address else f"{eff.address}:{eff.port}"
    limits = PollLimits(**eff.limits.model_dump()) if eff.limits else PollLimits()
    return DeviceSpec(device_id=eff.device_id, site_id=eff.site_id, address=target,
                      profiles="auto" if eff.profile == "auto" else tuple(eff.profile),
                      interval=eff.interval, limits=limits, snmp=eff.snmp)


def link_specs(inventory: Inventory) -> list[LinkSpec]:
    """Links of the inventory as state sees them (capacities in bits/s)."""
    out = []
    for link in inventory.links:
        out.append(LinkSpec(
            link_id=link.id, a_site=link.a.site, a_device=link.a.device,
            a_interface=link.a.interface, b_site=link.b.site, b_device=link.b.device,
            b_interface=link.b.interface, medium=link.medium,
            capacity_bps=link.capacity_mbps * 1e6,
            capacity_up_bps=link.capacity_up_mbps * 1e6 if link.capacity_up_mbps else None))
    return out


def needs_v3_crypto(inventory: Inventory) -> bool:
    """True when a device uses an SNMPv3 credential with privacy (needs `cryptography`)."""
    used = {d.credential for d in inventory.devices if d.credential is not None}
    return any(inventory.credentials[name].version == "3" and
               inventory.credentials[name].priv_protocol for name in used)


def _runtime(eff: EffectiveDeviceSettings, counters: PollCounters | None, *,
             transport: SnmpTransport) -> DeviceRuntime:
    """A device's live parts for a reload: a new session; its totals if it had some."""
    return DeviceRuntime(device_spec(eff), eff, open_session(session_settings(eff), transport),
                         counters if counters is not None else PollCounters(site=eff.site_id))


def _check_v3_crypto(inventory: Inventory) -> None:
    """SnmpError if the inventory needs SNMPv3 privacy and its library is missing."""
    if needs_v3_crypto(inventory):
        # the v3 modules load only for an inventory that uses v3 (as collector/snmp/factory.py)
        from borderwatch.collector.snmp.v3 import require_v3_crypto

        require_v3_crypto()


# ----------------------------------------------------------------------------- the service


@dataclass
class DeviceRuntime:
    """One device's live parts: its spec, its session and its running totals."""

    spec: DeviceSpec
    settings: EffectiveDeviceSettings
    session: SnmpSession
    counters: PollCounters


@dataclass
class Service:
    """The running collector: every part it owns, so that shutdown can close each one."""

    inventory: Inventory
    state: NetworkState
    poller: Poller
    transport: SnmpTransport
    devices: dict[str, DeviceRuntime]
    scheduler: Scheduler
    http: HttpServer
    metrics_app: MetricsApp
    series_cap: int = DEFAULT_SERIES_CAP
    first_round: set[str] = field(default_factory=set)  # devices not polled yet
    # Called with every PollResult after state has folded it in (the Influx writer,
    # tests that measure cadence). Must be quick and must not raise.
    result_listeners: list[Callable[[PollResult], None]] = field(default_factory=list)
    influx: InfluxWriter | None = None  # when the inventory has an `influx:` section
    # Alert engine, outbox and notifiers, when the inventory has an `alerts:` section.
    alerts: AlertService | None = None
    # The embedded history, on unless turned off.
    history: HistoryService | None = None
    # The trap receiver, with a `traps:` section.
    traps: TrapService | None = None
    # Keeps full garbage collections short on big inventories (collector/heap.py).
    heap: HeapFreezer = field(default_factory=HeapFreezer)
    icmp: IcmpHook | None = None  # the pinger, unless no device is pinged (collector/icmp)
    timeouts: TimeoutKeeper | None = None  # the SNMP round-trip estimates' state file
    # Hot reload (collector/reload.py): the parts above register with it; None when the
    # service was built without a file to reload from.
    reloader: Reloader | None = None
    # What the exporters and the Influx writer read per device; a reload edits them in place.
    poll_counters: dict[str, PollCounters] = field(default_factory=dict)
    device_sites: dict[str, str] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)  # SNMP round-trip estimates

    async def poll_device(self, device_id: str, deadline: float) -> PollResult:
        """One scheduled poll: poll, cap, fold into state, log what changed."""
        dev = self.devices[device_id]
        result = await self.poller.poll(dev.spec, dev.session, deadline)
        dev.counters.varbinds += result.varbinds
        dev.counters.requests += result.requests
        dev.counters.strings_truncated += result.strings_truncated
        extra = len(result.samples) - self.series_cap
        if extra > 0:
            # Keep the first N in poll order (stable across polls, so the same series
            # survive every time) and count the rest, like Prometheus' sample_limit.
            del result.samples[self.series_cap:]
            if dev.counters.series_dropped == 0:
                log.warning("device %s produced more than %d series; %d dropped "
                            "(counted in borderwatch_device_series_dropped_total)",
                            device_id, self.series_cap, extra)
            dev.counters.series_dropped += extra
        log.debug("device %s polled: %s, %.3f s, %d request(s), %d varbind(s), %d sample(s)%s",
                  device_id, "ok" if result.ok else f"failed ({result.error})",
                  result.duration, result.requests, result.varbinds, len(result.samples),
                  f"; problems: {'; '.join(result.problems)}" if result.problems else "")
        for event in self.state.apply(result):
            log_event(event)
        for listener in self.result_listeners:
            listener(result)
        if self.first_round:
            self.first_round.discard(device_id)
            if not self.first_round:
                snaps = self.state.device_snapshots()
                up = sum(1 for s in snaps if s.up)
                log.info("every device polled once: %d up, %d down", up, len(snaps) - up)
        return result

    def health(self) -> dict[str, Any]:
        """The /healthz body: counts and ages only, nothing secret, no SNMP."""
        snaps = self.state.device_snapshots()
        now = self.state.now()  # an age is a duration: steady, whatever the wall clock did
        last = max((s.last_poll_steady for s in snaps if s.last_poll_steady is not None),
                   default=None)
        return {
            "status": "ok",
            "devices": len(snaps),
            "devices_up": sum(1 for s in snaps if s.up),
            "devices_down": sum(1 for s in snaps if s.up is False),
            "devices_unknown": sum(1 for s in snaps if s.up is None),
            "last_poll_age_seconds": None if last is None else round(now - last, 3),
            "polls_in_flight": self.scheduler.polls_in_flight(),
            "asyncio_tasks": len(asyncio.all_tasks()),
        }

    async def close(self) -> None:
        """Stop polling, close sessions and the transport, then stop HTTP (in that order)."""
        if self.reloader is not None:
            await self.reloader.close()  # a reload in progress finishes first
        if self.traps is not None:
            await self.traps.close()  # an input: stops first
        if not await self.scheduler.stop(grace=SHUTDOWN_GRACE):
            log.error("some polls did not stop within %.0f s", SHUTDOWN_GRACE)
        await self.heap.stop()
        if self.icmp is not None:
            await self.icmp.pinger.stop()
        if self.alerts is not None:
            # alerts: stop ticking and delivering, save the engine state (outbox is on disk)
            await self.alerts.close()
        if self.history is not None:
            await self.history.close()  # last observation, partial hour, intervals closed
        if self.influx is not None:
            # Inputs have stopped; drain what is buffered (or spool and fsync it) before
            # the outputs close.
            await self.influx.close(grace=SHUTDOWN_GRACE)
        if self.timeouts is not None:
            await self.timeouts.close()  # polls have stopped: the estimates are final
        for dev in self.devices.values():
            try:
                await dev.session.close()
            except Exception:  # one broken session must not keep the others open
                log.exception("closing the session of %s failed", dev.spec.device_id)
        await self.transport.close()
        await self.http.stop()


class ListenError(Exception):
    """The HTTP address for /metrics cannot be bound (port taken, address not local)."""


def log_event(event: Event) -> None:
    """One log line per state change (never per poll); messages are secret-free."""
    level = _EVENT_LEVEL.get(event.kind, logging.INFO)
    if event.device_id:
        log.log(level, "device %s (site %s): %s", event.device_id, event.site_id,
                event.message)
    else:
        log.log(level, "%s", event.message)


async def start_service(inventory: Inventory, listen: str = DEFAULT_LISTEN, *,
                        local_address: str = "0.0.0.0",
                        series_cap: int = DEFAULT_SERIES_CAP,
                        base_dir: Path | None = None,
                        web_config: WebConfig | None = None,
                        limits: ServerLimits | None = None, history: Any = None,
                        state_root: Path | None = None,
                        reload_from: Callable[[], Inventory] | None = None,
                        source: str = "inventory", shard: Shard | None = None) -> Service:
    """Build and start every part; returns once /metrics is listening and polls are scheduled.

    `history`: a history.service_hook.HistorySettings to keep the embedded history (the
    file is locked and opened here: HistoryError if another process writes it).

    `base_dir`: what relative paths of the `alerts:` section are relative to (the
    inventory file's directory; default the working directory). `web_config`: TLS and
    basic auth of the listener (--web.config.file); `limits`: its connection limits.
    `state_root`: where the SNMP timeout estimates are kept (default `var` under
    `base_dir`; not kept when neither is given).
    `reload_from`: loads the inventory file again (SIGHUP, POST /-/reload; `source` names
    it in messages); without it the service cannot reload.
    Raises ListenError when the listen address cannot be bound (nothing is left running),
    ValueError for a malformed `listen`.
    """
    host, port = parse_listen(listen)
    effective = {d.id: inventory.effective(d) for d in inventory.devices}
    specs = {i: device_spec(e) for i, e in effective.items()}
    clock = SteadyClock()  # durations; the alert engine's saved timeline continues, if any
    if inventory.alerts is not None:
        clock = resume_clock(inventory, base_dir)
    state = NetworkState(specs.values(), link_specs(inventory), clock=clock,
                         icmp_window=inventory.defaults.icmp.window)
    poller = Poller(steady=clock.now)  # answers stamped on the state's steady clock
    # Every part opened so far is closed again (last first) if a later step fails; on
    # success pop_all() hands them to the Service, whose close() owns them from then on.
    async with contextlib.AsyncExitStack() as opened:
        transport = await create_transport(max_in_flight=inventory.defaults.max_in_flight,
                                           local_address=local_address)
        opened.push_async_callback(transport.close)
        devices: dict[str, DeviceRuntime] = {}
        for device_id, eff in effective.items():
            if not eff.snmp:
                continue  # ICMP-only: pinged, never polled
            session = open_session(session_settings(eff), transport)
            opened.push_async_callback(session.close)
            devices[device_id] = DeviceRuntime(specs[device_id], eff, session,
                                               PollCounters(site=eff.site_id))
        poll_counters = {i: d.counters for i, d in devices.items()}
        influx: InfluxWriter | None = None
        if inventory.influx is not None:
            influx = InfluxWriter(WriterSettings.from_inventory(inventory.influx))
            await influx.start()
            opened.push_async_callback(influx.close)
        alert_service: Any = None
        if inventory.alerts is not None:
            # alerts: the engine ticks on the live state; notifications go through the
            # durable outbox to the configured receivers (alerts/service_hook.py). Built
            # before the registry and the HTTP app so that its metrics and routes can be
            # added to them; it only starts ticking and delivering below, once serving.
            alert_service = AlertService(inventory, state, base_dir=base_dir, clock=clock)
            opened.push_async_callback(alert_service.close)  # saves state, closes outbox
        history_service: Any = None
        if history is not None:
            history_service = HistoryService(history, inventory, state)
            history_service.open()  # lock, crash recovery, a new run
            opened.push_async_callback(history_service.close)
        service: Service | None = None

        def make_poll(device_id: str) -> Callable[[float], Any]:
            async def poll(deadline: float) -> PollResult:
                assert service is not None
                return await service.poll_device(device_id, deadline)
            return poll

        scheduler = Scheduler(Job(device_id=i, interval=e.interval,
                                  poll_deadline=e.poll_deadline, poll=make_poll(i),
                                  site=e.site_id)
                              for i, e in effective.items() if e.snmp)
        render = RenderStats()  # written by the HTTP app, read by the collector (self-metrics)
        http_stats = ListenerStats()  # the same, for the HTTP listener's guard
        registry = build_registry(ExporterSources(
            state=state, scheduler=scheduler, transport=transport.stats,
            poll_counters=poll_counters, render=render,
            listener=http_stats,
            series_cap=series_cap, influx=influx.stats if influx is not None else None))
        site_info = SiteInfoCollector(inventory)
        registry.register(site_info)  # borderwatch_site_info
        timings = {i: t for i, d in devices.items() if (t := timing_of(d.session))}
        device_sites = {i: e.site_id for i, e in effective.items()}
        registry.register(TimeoutCollector(timings, device_sites))
        metrics_app = MetricsApp(registry, lambda: service.health() if service else {},
                                 render=render, limits=limits, listener=http_stats)
        status = attach_status(metrics_app, inventory, state)  # /status page and /api/status
        if shard is not None:  # which shard this is: borderwatch_shard_info, /api/status
            registry.register(ShardInfoCollector(shard))
            status.shard = {"index": shard.index, "count": shard.count}
        # borderwatch_site_status / _redundancy_lost: the status page's view, same topology
        site_status = SiteStatusCollector(inventory, state, status.topology)
        registry.register(site_status)
        if alert_service is not None:
            registry.register(AlertCollector(alert_service))  # alerts, incidents, outbox
            status.alerts = alert_service.status_alerts  # open incidents in /api/status
            status.notifications = alert_service.status_notifications  # ...and the pages
            # Routes go here: aiohttp freezes the router when http.start() sets the app up.
            attach_silence_api(metrics_app.app, alert_service)  # /api/silences (writes: HttpServer)
        else:
            attach_silences_off(metrics_app.app)  # /api/silences: "alerts are not configured"
        if history_service is not None:
            registry.register(history_service.collector())  # borderwatch_history_*
        trap_service: Any = None
        if inventory.traps is not None:  # traps → state, alerts nudged, a confirming poll
            # a v3 trap's engine ID: the one polling discovered, else the inventory's
            configured_engines = {d.id: bytes.fromhex(d.engine_id)
                                  for d in inventory.devices if d.engine_id}
            trap_service = TrapService(
                inventory.traps, effective, state, scheduler, log_event=log_event,
                alerts=alert_service, engine_of=lambda d: (getattr(
                    service.devices[d].session, "engine_id", None)
                    if service is not None and d in service.devices else None)
                or configured_engines.get(d))
            registry.register(trap_service.collector())  # borderwatch_traps_*
        http = HttpServer(metrics_app, host, port, web_config=web_config)
        service = Service(inventory, state, poller, transport, devices, scheduler, http,
                          metrics_app, series_cap, first_round=set(devices), influx=influx,
                          alerts=alert_service, history=history_service, traps=trap_service,
                          poll_counters=poll_counters, device_sites=device_sites,
                          timings=timings)
        service.icmp = build_pinger(effective.values(), settings_of(inventory.defaults.icmp),
                                    state, log_event)
        if service.icmp is not None:
            registry.register(IcmpCollector(service.icmp.pinger))  # borderwatch_icmp_* self
        if state_root is not None or base_dir is not None:
            root = Path(state_root) if state_root is not None else base_dir / STATE_ROOT
            service.timeouts = TimeoutKeeper(root / TIMEOUTS_FILE, timings)
        if reload_from is not None:
            # Each part gets the diff, devices first (collector/reload.py): a part added to
            # the service registers here too.
            reloader = service.reloader = Reloader(reload_from, inventory, source=source)
            reloader.add(DeviceReloader(
                service, runtime=functools.partial(_runtime, transport=transport),
                links=link_specs, check=_check_v3_crypto, spec=device_spec))
            for part in (service.icmp, trap_service, alert_service, history_service, status,
                         site_info, site_status):
                if part is not None:
                    reloader.add(part)
            registry.register(ReloadCollector(reloader.status))
            attach_reload_api(metrics_app.app, reloader)  # POST /-/reload (writes: HttpServer)
        if influx is not None:
            sites = service.device_sites
            writer = influx
            service.result_listeners.append(
                lambda result: writer.submit(result, sites.get(result.device_id, "")))
            if service.icmp is not None:
                service.icmp.listeners.append(writer.submit_icmp)
        opened.push_async_callback(http.stop)
        try:
            await http.start()
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else \
                (exc.strerror or str(exc))
            raise ListenError(f"cannot listen on {listen}: {reason}") from exc
        if alert_service is not None:
            alert_service.start()
        if history_service is not None:
            history_service.start()
        if trap_service is not None:
            try:
                await trap_service.start()
            except OSError as exc:
                hint = " (a port below 1024 needs CAP_NET_BIND_SERVICE: see README)" \
                    if exc.errno in (errno.EACCES, errno.EPERM) else ""
                raise ListenError(f"traps: cannot listen on udp {inventory.traps.listen}: "
                                  f"{(exc.strerror or str(exc)).lower()}{hint}") from exc
            opened.push_async_callback(trap_service.close)
        if service.timeouts is not None:
            service.timeouts.start()  # saved estimates in; periodic saves
        opened.pop_all()
    scheduler.start()
    if service.icmp is not None:
        service.icmp.pinger.start()
    service.heap.start()
    return service


async def serve(inventory: Inventory, listen: str = DEFAULT_LISTEN, *,
                stop: asyncio.Event | threading.Event | None = None,
                install_signal_handlers: bool = True,
                on_ready: Callable[[Service], None] | None = None,
                local_address: str = "0.0.0.0",
                series_cap: int = DEFAULT_SERIES_CAP,
                base_dir: Path | None = None,
                web_config: WebConfig | None = None, history: Any = None,
                state_root: Path | None = None,
                reload_from: Callable[[], Inventory] | None = None,
                source: str = "inventory", shard: Shard | None = None) -> None:
    """Run the collector until `stop` is set or SIGINT/SIGTERM arrives, then shut down;
    SIGHUP reloads the inventory (with `reload_from`, and our own signal handlers)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    if isinstance(stop, asyncio.Event):
        stopped = stop
    handled: list[int] = []
    # SIGHUP from the start, so that one sent while the service starts (a unit's
    # ExecReload) neither kills the process (its default action) nor is lost: it reloads
    # once the service is up.
    hup: list[Any] = [None]  # the service once started, or _HUP_PENDING
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, _on_signal, sig, stopped)
                handled.append(sig)
        if reload_from is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, _on_hup, hup)
                handled.append(signal.SIGHUP)
    watcher: asyncio.Task[None] | None = None
    if isinstance(stop, threading.Event):
        watcher = asyncio.create_task(_watch_flag(stop, stopped), name="borderwatch-stop-flag")
    try:
        service = await start_service(inventory, listen, local_address=local_address,
                                      series_cap=series_cap, base_dir=base_dir,
                                      web_config=web_config, history=history,
                                      state_root=state_root,
                                      reload_from=reload_from, source=source, shard=shard)
        early, hup[0] = hup[0], service
        if early is _HUP_PENDING and service.reloader is not None:
            service.reloader.request("SIGHUP during start")
        try:
            log.info("polling %d devices, %d links; serving %s/metrics",
                     len(service.devices), len(inventory.links), service.http.url)
            print(f"serving {service.http.url}/metrics", flush=True)
            if on_ready is not None:
                on_ready(service)
            await stopped.wait()
            log.info("stopping: cancelling polls, closing sessions")
        finally:
            await service.close()
    finally:
        if watcher is not None:
            watcher.cancel()
            # wait() neither raises the watcher's CancelledError nor swallows ours
            await asyncio.wait([watcher])
        for sig in handled:
            loop.remove_signal_handler(sig)
    log.info("stopped")


_HUP_PENDING: Any = object()  # a SIGHUP came before the service was up


def _on_hup(hup: list[Any]) -> None:
    service = hup[0]
    if service is None or service is _HUP_PENDING:
        hup[0] = _HUP_PENDING
        log.info("received SIGHUP while starting; reloading once started")
    elif service.reloader is not None:
        service.reloader.request("SIGHUP")


def _on_signal(sig: int, stopped: asyncio.Event) -> None:
    if stopped.is_set():
        return
    log.info("received %s", signal.Signals(sig).name)
    stopped.set()


async def _watch_flag(flag: threading.Event, stopped: asyncio.Event) -> None:
    # The lab's signal handlers set a threading.Event. Wait for it in a worker thread in
    # short slices, so a cancelled watcher never leaves a thread blocked at shutdown.
    while not await asyncio.to_thread(flag.wait, STOP_POLL_INTERVAL):
        pass
    stopped.set()


def run_service(inventory_path: str | Path, listen: str = DEFAULT_LISTEN, *,
                stop: threading.Event | None = None,
                local_address: str = "0.0.0.0",
                series_cap: int = DEFAULT_SERIES_CAP,
                web_config_file: str | Path | None = None, history: Any = None,
                state_root: str | Path | None = None, traps_listen: str | None = None,
                shard: Shard | None = None) -> int:
    """Run the collector in this thread until stopped; returns the process exit code.

    `stop`: a threading.Event the caller sets to stop the service (the lab sets it from
    its own SIGINT/SIGTERM handlers); without it the service handles SIGINT/SIGTERM itself.
    `state_root`: the state directory (`run --state-dir`); default `var` beside the inventory.
    `traps_listen`: `--traps.listen-address`, which wins over the inventory's
    (collector/traps/listen_flag.py).
    `shard`: poll only that shard's sites, alerting off (collector/shard.py).
    Exit codes: 0 clean stop, 1 could not start (e.g. the port is taken), 2 bad inventory.
    """
    try:
        parse_listen(listen)
        if traps_listen is not None:
            check_listen_address(traps_listen)
    except ValueError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 2
    web_config = _load_web_config(web_config_file) if web_config_file is not None else None
    if web_config_file is not None and web_config is None:
        return 2
    load = overriding(functools.partial(load_inventory, inventory_path), traps_listen)
    inventory = _load(inventory_path, load)
    if inventory is None:
        return 2
    reload_from = load
    if shard is not None:
        inventory, reload_from = shard_inventory(shard, inventory, load)
    try:
        _check_v3_crypto(inventory)
    except SnmpError as exc:
        print(f"borderwatch: {inventory_path}: {exc}", file=sys.stderr)
        return 2
    base_dir = Path(inventory_path).resolve().parent
    try:
        # one writer per state directory, held until the service has stopped
        with locked(state_dirs(inventory, base_dir, state_root)):
            asyncio.run(serve(inventory, listen, stop=stop,
                              install_signal_handlers=stop is None,
                              local_address=local_address, series_cap=series_cap,
                              base_dir=base_dir, web_config=web_config, history=history,
                              state_root=Path(state_root) if state_root is not None else None,
                              reload_from=reload_from, source=str(inventory_path),
                              shard=shard))
    except StateDirBusy as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 1
    except ListenError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 1
    except SpoolError as exc:
        print(f"borderwatch: influx spool: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # alerts: a bad rules file (RulesError) or no core site
        print(f"borderwatch: alerts: {exc}", file=sys.stderr)
        return 2
    return 0


def state_dirs(inventory: Inventory, base_dir: Path,
               state_root: str | Path | None = None) -> list[Path]:
    """Every directory a running service keeps state in (collector.state_lock locks them):
    the state root, always (`run --state-dir`, else `var` beside the inventory: a service
    unit's StateDirectory is locked, not a directory it never writes); the alerts' state_dir
    and the influx spool directory when configured (they may lie elsewhere)."""
    dirs = [Path(state_root) if state_root is not None else base_dir / STATE_ROOT]
    if inventory.alerts is not None:
        alerts_dir = Path(inventory.alerts.state_dir).expanduser()
        dirs.append(alerts_dir if alerts_dir.is_absolute() else base_dir / alerts_dir)
    if inventory.influx is not None:
        dirs.append(Path(inventory.influx.spool.dir))  # made absolute by the loader
    return dirs


def _load(path: str | Path,
          load: Callable[[], Inventory] | None = None) -> Inventory | None:
    """The inventory (`load()` if given, else the file), or None after printing every
    problem (one per line) to stderr."""
    try:
        return load() if load is not None else load_inventory(path)
    except InventoryError as exc:
        print(f"borderwatch: {path}: the inventory has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _load_web_config(path: str | Path) -> WebConfig | None:
    """The web config, or None after printing every problem (one per line) to stderr."""
    try:
        return load_web_config(path)
    except WebConfigError as exc:
        print(f"borderwatch: {path}: the web config has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
    except OSError as exc:
        print(f"borderwatch: --web.config.file {path}: {exc.strerror or exc}", file=sys.stderr)
    return None


def run_command(args: argparse.Namespace) -> int:
    """`borderwatch run --inventory PATH [--listen HOST:PORT] [--web.config.file FILE]
    [history options]`."""
    try:
        return run_service(args.inventory, args.listen,
                           web_config_file=getattr(args, "web_config_file", None),
                           history=settings_from_args(args), state_root=state_dir(args),
                           traps_listen=getattr(args, "traps_listen", None),
                           shard=getattr(args, "shard", None))
    except HistoryError as exc:  # locked by another process, corrupt, not a history
        print(f"borderwatch: history: {exc}", file=sys.stderr)
        return 1


def run_beside_lab(args: argparse.Namespace, stop: threading.Event) -> int:
    """`borderwatch lab --with-collector`: the service on the lab's inventory until the lab's
    signal handlers set `stop`; the same history file as `borderwatch run` there, so that
    `report` finds it. The lab is handed this function (it does not import the service)."""
    history = HistorySettings(history_path(default_state_dir(args.inventory)))
    try:
        return run_service(args.inventory, listen=args.listen, stop=stop, history=history)
    except HistoryError as exc:
        print(f"borderwatch lab --with-collector: history: {exc}", file=sys.stderr)
        return 1


# ----------------------------------------------------------------------------- poll once


def close_matches(device_id: str, known: list[str]) -> list[str]:
    """Device ids that look like a mistyped one (for 'unknown device' messages)."""
    matches = difflib.get_close_matches(device_id, known, n=5, cutoff=0.5)
    prefix = [k for k in known if k.startswith(device_id) and k not in matches]
    return matches + prefix[: 5 - len(matches)]


async def poll_once(inventory: Inventory, device_id: str, *,
                    local_address: str = "0.0.0.0") -> tuple[DeviceSpec, PollResult]:
    """Poll one device of the inventory once (own transport and session, closed after)."""
    eff = inventory.effective(device_id)
    spec = device_spec(eff)
    transport = await create_transport(max_in_flight=inventory.defaults.max_in_flight,
                                       local_address=local_address)
    session: SnmpSession | None = None
    try:
        session = open_session(session_settings(eff), transport)
        deadline = asyncio.get_running_loop().time() + eff.poll_deadline
        return spec, await Poller().poll(spec, session, deadline)
    finally:
        if session is not None:
            await session.close()
        await transport.close()


def poll_command(args: argparse.Namespace) -> int:
    """`borderwatch poll --inventory PATH DEVICE [--json] [--wide]`: 0 answered, 1 not,
    2 bad input."""
    inventory = _load(args.inventory)
    if inventory is None:
        return 2
    known = [d.id for d in inventory.devices]
    if args.device not in known:
        hint = close_matches(args.device, known)
        print(f"borderwatch poll: no device {args.device!r} in {args.inventory}"
              + (f"; did you mean: {', '.join(hint)}?" if hint else ""), file=sys.stderr)
        return 2
    if not inventory.device(args.device).snmp:
        print(f"borderwatch poll: {args.device} is an ICMP-only device (snmp: false): it is "
              "pinged by `borderwatch run`, there is no SNMP agent to poll", file=sys.stderr)
        return 2
    try:
        _check_v3_crypto(inventory)
    except SnmpError as exc:
        print(f"borderwatch poll: {exc}", file=sys.stderr)
        return 2
    try:
        spec, result = asyncio.run(poll_once(inventory, args.device))
    except SnmpError as exc:  # e.g. a host name that does not resolve
        print(f"borderwatch poll: {args.device}: {exc}", file=sys.stderr)
        return 1
    print(render_json(spec, result) if args.json
          else render_table(spec, result, table_width(args.wide, sys.stdout)))
    if not result.ok:
        print(f"borderwatch poll: {args.device} ({spec.address}) did not answer: "
              f"{result.error}", file=sys.stderr)
        if inventory.device(args.device).sim_profile:  # a lab device: is the lab running?
            print(f"borderwatch poll: {args.device} is simulated by the lab; if the lab is not "
                  f"running, start it: borderwatch lab --inventory {args.inventory}",
                  file=sys.stderr)
        return 1
    return 0
