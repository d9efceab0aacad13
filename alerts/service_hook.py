"""The alert engine inside the running service: tick, persist, queue, deliver.

Every `tick` seconds the engine evaluates the live NetworkState; its notifications go to
the durable outbox (one row per receiver, fsync'd) before anything else, then the engine
state is written atomically to `<state_dir>/state.json` when it changed. On start the
state is loaded back, so a restart neither re-pages nor forgets an incident; a state that
cannot be loaded is moved aside (`state.json.bad-<time>`) and the engine starts empty.

Clocks: the engine runs on the steady clock (collector.clock), so a wall-clock step moves
no `for:`, repeat or flap window. The state file keeps the clock's anchor (`clock`): the
next process of the same boot continues the same timeline (`resume_clock`), so the saved
times stay comparable with its own. Times shown to people (/api/status, notifications)
are converted to the wall clock when shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from borderwatch.alerts.engine import Engine, StateError, StateView
from borderwatch.alerts.notification import Notification
from borderwatch.alerts.notify.alertmanager import AlertmanagerNotifier
from borderwatch.alerts.notify.dispatcher import Dispatcher, Reposter
from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.receiver import Receiver
from borderwatch.alerts.notify.secrets import SecretError, resolve_receiver_secrets
from borderwatch.alerts.notify.smtp import SmtpNotifier
from borderwatch.alerts.notify.telegram import TelegramNotifier
from borderwatch.alerts.notify.webhook import WebhookNotifier
from borderwatch.alerts.rules import KnownIds, RulesError, RuleSet, load_rules
from borderwatch.alerts.topology import Topology
from borderwatch.collector.clock import SameClock, SteadyClock, as_clocks
from borderwatch.collector.inventory import Inventory
from borderwatch.collector.inventory.models import Alerts
from borderwatch.collector.profiles import metric_catalog

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
OUTBOX_FILE = "outbox.sqlite"
SENT_KEPT = 1000  # notifications of this process kept in memory (the outbox has all)
KEEP_DELIVERED = 30 * 86400  # seconds delivered/refused outbox rows are kept for the record


def resolve_path(path: str, base_dir: Path) -> Path:
    """A path of the `alerts:` section: relative ones are relative to the inventory's dir."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a crash leaves the old or the new content, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a power cut
    finally:
        os.close(dir_fd)


def resume_clock(inventory: Inventory, base_dir: Path | None = None) -> SteadyClock:
    """The steady clock whose timeline the saved engine state uses (a new one if none).

    The service builds it before the NetworkState, so that the state and the engine
    measure on the same clock."""
    config = inventory.alerts if inventory.alerts is not None else Alerts()
    base = Path.cwd() if base_dir is None else base_dir
    return SteadyClock.resume(_saved_mark(resolve_path(config.state_dir, base) / STATE_FILE))


def _saved_mark(path: Path) -> dict[str, Any] | None:
    try:
        mark = json.loads(path.read_text(encoding="utf-8")).get("clock")
    except (OSError, ValueError, AttributeError):
        return None  # no file, or one _load_engine will move aside: a new timeline
    return mark if isinstance(mark, dict) else None


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class AlertsConfigError(ValueError):
    """The alerts cannot run: a bad rules file (every problem, file:line) or no core site."""


class AlertService:
    """Engine + state file + outbox + notifiers of one service."""

    def __init__(self, inventory: Inventory, state: StateView, *,
                 base_dir: Path | None = None,
                 clock: Callable[[], float] | SteadyClock | SameClock | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """`state`: the collector's NetworkState, or the central evaluator's TsdbState.
        `clock`: the steady clock shared with the NetworkState (start_service passes
        `resume_clock(...)`); None resumes the saved one; a plain callable is a simulated
        clock, both steady and wall (tests)."""
        config = inventory.alerts if inventory.alerts is not None else Alerts()
        base = Path.cwd() if base_dir is None else base_dir
        try:
            # SMTP passwords and bot tokens from env/files (`env`: os.environ by default)
            config = resolve_receiver_secrets(config, base_dir=base, env=env)
        except SecretError as exc:
            raise AlertsConfigError(str(exc)) from None
        self.config = config
        self.state_dir = resolve_path(config.state_dir, base)
        self.state_path = self.state_dir / STATE_FILE
        self.network = state
        self.clocks = resume_clock(inventory, base) if clock is None else as_clocks(clock)
        self.clock = self.clocks.now  # steady: what the engine measures durations on
        self.base_dir = base
        self.topology, self.rules = self._topology_and_rules(inventory)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = self._load_engine()
        self._saved = self._comparable(self.engine.dump_state())
        self._saved_text = self.engine.dump_json()  # to roll back to if the outbox fails
        self.outbox = Outbox(self.state_dir / OUTBOX_FILE, self.clocks)
        self.outbox.prune(time.time() - KEEP_DELIVERED)  # the file must not grow forever
        self.receivers: list[Receiver] = []
        for hook in config.webhooks:
            self.receivers.append(WebhookNotifier(hook.name, hook.url, language=hook.language,
                                                  timeout=hook.timeout,
                                                  dashboard=config.dashboard_url))
        for mail in config.email:
            self.receivers.append(SmtpNotifier(
                mail.name, mail.host, mail.port, sender=mail.sender, to=mail.to,
                language=mail.language, starttls=mail.starttls, tls=mail.tls,
                ca_file=str(resolve_path(mail.ca_file, base)) if mail.ca_file else None,
                username=mail.username, password=mail.password, timeout=mail.timeout,
                dashboard=config.dashboard_url))
        for chat in config.telegram:
            if chat.token is None:  # the model requires a source; resolving filled it
                raise AlertsConfigError(f"alerts.telegram ({chat.name}): no bot token")
            self.receivers.append(TelegramNotifier(
                chat.name, chat.token, chat.chat_id, base_url=chat.base_url,
                language=chat.language, parse_mode=chat.parse_mode, timeout=chat.timeout,
                dashboard=config.dashboard_url))
        self.reposters: list[Reposter] = []
        for am in config.alertmanager:  # each member of a cluster gets every alert
            notifier = AlertmanagerNotifier(am.name, am.url, self.outbox, timeout=am.timeout,
                                            resend_interval=am.resend_interval,
                                            dashboard=config.dashboard_url,
                                            clock=self.clocks)
            self.receivers.append(notifier)
            self.reposters.append(Reposter(notifier, am.resend_interval))
        self.dispatchers = {r.name: Dispatcher(r, self.outbox,
                                               retry_initial=config.retry_initial,
                                               retry_max=config.retry_max)
                            for r in self.receivers}
        self.sent: list[Notification] = []  # this process's notifications (read side, tests)
        self.evaluations = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # nudge(): evaluate now, not at the next tick
        self._pending: tuple[Topology, RuleSet] | None = None  # prepared by a reload
        # Reads the state before each tick's evaluation when it lives elsewhere (the
        # central evaluator's TSDB, alerts/tsdb_source.py); False skips the evaluation:
        # no decision is taken on a state that could not be read.
        self.refresh: Callable[[], Awaitable[bool]] | None = None

    def _topology_and_rules(self, inventory: Inventory) -> tuple[Topology, RuleSet]:
        """The inventory's topology and the rules file checked against it (the rules
        name sites and devices: a reload that removes one the rules use is refused)."""
        try:
            topology = Topology.from_inventory(inventory)
        except ValueError as exc:  # e.g. no core site: reachability has no origin
            raise AlertsConfigError(str(exc)) from None
        # a reloaded file without its `alerts:` section keeps the running rules file (the
        # section's removal takes effect at the next restart)
        rules = inventory.alerts.rules if inventory.alerts is not None else self.config.rules
        rules_path = resolve_path(rules, self.base_dir) if rules else None
        try:
            return topology, load_rules(rules_path, known=KnownIds.from_topology(topology),
                                        metrics=metric_catalog())
        except RulesError as exc:
            raise AlertsConfigError(str(exc)) from None

    # ------------------------------------------------------------------ hot reload

    def prepare_inventory(self, inventory: Inventory) -> None:
        """Refuse a reload whose topology or rules cannot run (AlertsConfigError)."""
        self._pending = self._topology_and_rules(inventory)

    def apply_inventory(self, inventory: Inventory, diff: object) -> None:
        """Rebuild the topology and the rules (the rules file is re-read), keep every
        alert, timer, incident and silence, and re-judge the open incidents against the new
        topology at once. The network state already has the new devices (the devices are
        applied first): an alert whose device, link or site left the inventory resolves
        now, with the reason `removed_from_inventory` (alerts.engine), never as a recovery.
        Receivers, tick and state_dir stay as they are until the next restart."""
        pending, self._pending = self._pending, None
        self.topology, self.rules = pending or self._topology_and_rules(inventory)
        self.engine = Engine(self.topology, self.rules, state=self.engine.dump_state())
        self.evaluate()

    # ------------------------------------------------------------------ state file

    def _load_engine(self) -> Engine:
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Engine(self.topology, self.rules)
        try:
            engine = Engine.load_json(self.topology, self.rules, text)
        except StateError as exc:
            aside = self.state_path.with_name(f"{STATE_FILE}.bad-{int(time.time())}")
            os.replace(self.state_path, aside)
            log.error("alert state %s cannot be loaded (%s); moved to %s, starting empty",
                      self.state_path, exc, aside.name)
            return Engine(self.topology, self.rules)
        log.info("alert state loaded: %d open incident(s)", len(engine.incidents))
        return engine

    @staticmethod
    def _comparable(state: dict[str, Any]) -> str:
        """The state without its latest readings, which move at every tick: saving for
        them alone would fsync the file every 5 s. No decision depends on them, and the
        first evaluation after a restart reads them again (they are saved along with
        any real change)."""
        alerts = [{k: v for k, v in a.items() if k not in ("last_data", "value")}
                  for a in state.get("alerts", [])]
        incidents = [{**i, "last_decision": {k: v for k, v in i.get("last_decision", {}).items()
                                             if k != "at"}}
                     for i in state.get("incidents", [])]
        memory = dict(state.get("memory", {}))
        memory["site_power"] = {site: {k: v for k, v in p.items()
                                       if k not in ("observed_at", "runtime_seconds")}
                                for site, p in memory.get("site_power", {}).items()}
        rest = {k: v for k, v in state.items()
                if k not in ("last_evaluation", "alerts", "incidents", "memory")}
        return json.dumps({**rest, "alerts": alerts, "incidents": incidents,
                           "memory": memory}, sort_keys=True, ensure_ascii=False)

    def save(self, force: bool = False) -> bool:
        """Write the engine state if it changed since the last save; True if written."""
        state = self.engine.dump_state()
        comparable = self._comparable(state)
        if not force and comparable == self._saved:
            return False
        if isinstance(self.clocks, SteadyClock):
            state["clock"] = self.clocks.mark()  # fixed per process: changes nothing to save
        text = json.dumps(state, ensure_ascii=False, sort_keys=True)
        write_atomic(self.state_path, text)
        self._saved = comparable
        self._saved_text = text
        return True

    def status_alerts(self) -> list[dict[str, Any]]:
        """Open incidents for /api/status: ids and times only (the page names the sites)."""
        out = []
        for inc in self.engine.open_incidents():
            out.append({
                "key": inc.key, "status": inc.status, "severity": inc.severity,
                "opened_at": _iso(self._wall(inc.opened_at)),
                "firing_since": _iso(self._wall(inc.firing_since)),
                "root_cause": list(inc.roots), "cut_off": list(inc.cut_off),
                "down_sites": list(inc.down_sites),
                "redundancy_lost": list(inc.redundancy_lost), "flapping": inc.flapping,
                "notified": inc.notified_status, "suppressed": inc.suppressed,
                "decision": (inc.last_decision or {}).get("reason"),
            })
        return out

    def status_notifications(self, limit: int = 10) -> list[dict[str, Any]]:
        """This process's latest notifications for /api/status, newest first, as the
        receivers got them in both languages: with no receiver configured (the demo) the
        status page is where a newcomer sees what would have been paged."""
        return [{"incident": n.incident_key, "status": n.status, "reason": n.reason,
                 "severity": n.severity, "at": _iso(self._wall(n.at)),
                 "summary_vi": n.annotations.get("summary_vi", ""),
                 "summary_en": n.annotations.get("summary_en", ""),
                 "receivers": [r.name for r in self.receivers]}
                for n in reversed(self.sent[-limit:])]

    def _wall(self, t: float | None) -> float | None:
        """A steady time of the engine as the wall clock reads it now (for people)."""
        return None if t is None else self.clocks.to_wall(t)

    # ------------------------------------------------------------------ ticking

    def evaluate(self) -> list[Notification]:
        """One evaluation: notifications into the outbox (committed), then the state saved."""
        now = self.clocks.now()
        wall = self.clocks.wall()
        notifications = self.engine.evaluate(self.network, now, wall)
        self.evaluations += 1
        names = [r.name for r in self.receivers]
        try:
            for n in notifications:
                if names:
                    self.outbox.put(names, n.to_dict(wall_offset=wall - now))
        except Exception:
            # The engine already counts these as notified; had we kept its memory, they
            # would be lost. Go back to the last saved state: the next tick decides again
            # (rows already queued are not queued twice: the outbox deduplicates).
            self.engine = Engine.load_json(self.topology, self.rules, self._saved_text)
            raise
        for n in notifications:
            log.warning("alert %s %s (%s): %s", n.status, n.incident_key, n.reason,
                        n.annotations.get("summary_en", ""))
        self.sent += notifications
        del self.sent[:-SENT_KEPT]  # bounded: a long run must not grow it forever
        self.save()
        if notifications:
            for d in self.dispatchers.values():
                d.wake()
        return notifications

    def start(self) -> None:
        """Start delivering (what a previous run left too), re-posting and ticking."""
        for d in self.dispatchers.values():
            d.start()
        for reposter in self.reposters:
            reposter.start()
        self._task = asyncio.create_task(self._run(), name="alerts-tick")

    def nudge(self) -> None:
        """Evaluate at once instead of at the next tick (a trap changed the state): a trap's
        page must not wait for up to a tick. Evaluations still run one at a time."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.tick)
            self._wake.clear()
            try:
                if self.refresh is not None and not await self.refresh():
                    self.last_error = "the state could not be read"
                    continue
                self.evaluate()
                self.last_error = None
            except Exception as exc:  # one bad evaluation must not end alerting
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("alert evaluation failed")

    async def close(self) -> None:
        """Stop ticking and delivering; save the state; undelivered stays in the outbox."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        for reposter in self.reposters:
            await reposter.stop()
        for d in self.dispatchers.values():
            await d.stop()
        self.save(force=True)
        self.outbox.close()
