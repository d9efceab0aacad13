"""The alert engine: a pure state machine over (network state, now) that pages once per incident.

Call `Engine.evaluate(state, now, wall)` after every poll result is applied (or on a short
tick); it returns the notifications to deliver now. `now` is steady time (collector.clock,
the NetworkState's clock): every duration (`for`, `clear_for`, flap windows, group and
repeat intervals, darkness) is measured on it, so a step of the wall clock changes none
of them. `wall` is the wall clock at the same moment, used only where people gave wall
times: silences and maintenance windows ("until 18:00" means 18:00 on the wall clock,
also after an NTP correction). Times the engine keeps are steady; whoever shows them
converts (SteadyClock.to_wall). It never reads a clock, never does I/O
and keeps everything it remembers in plain data (`dump_state()` / `Engine(...,
state=...)`), so that a store can persist it and a restart neither re-pages nor forgets an
incident.

One evaluation:
1. observe: device and link snapshots become `Health` (a device counts as dark for the
   topology once it has been unreachable for `dark_after_intervals` poll intervals; a link
   remembers when it went down and which ends saw it down);
2. analyse the topology (outages with root causes, lost redundancy);
3. step every rule's alerts through their lifecycle (pending → firing → resolved);
4. group alerts into incidents by root cause (alerts.incident) — alerts behind a failed
   element become members of the root-cause incident and are never notified on their own;
5. decide per incident whether to notify, with a named reason (new, escalated, repeat,
   resolved; or why not: pending, group_wait, group_interval, flapping, unchanged,
   silenced, maintenance, never_notified); silences and maintenance windows suppress the
   notification, never the record, and never the resolve of an incident that was paged.
   An incident that ends because its alerts' device, link or site left the inventory (a
   hot reload, or a restart on a new file) resolves with the reason
   `removed_from_inventory`: nobody saw it recover, and its message says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Protocol

from borderwatch.alerts import content
from borderwatch.alerts.incident import LINK_PING_KINDS, Group, Grouper, Incident
from borderwatch.alerts.lifecycle import AlertState, Phase, Transition, condition, resolve, step
from borderwatch.alerts.notification import Decision, Notification
from borderwatch.alerts.rules import SEVERITY_RANK, Rule, RuleSet, severity_max
from borderwatch.alerts.signals import Context, signals, site_power
from borderwatch.alerts.silence import Silence, covering_window
from borderwatch.alerts.topology import (
    Analysis,
    Health,
    Topology,
    analyse,
    device_el,
    link_el,
    split_el,
)
from borderwatch.collector.state import DeviceSnapshot, LinkSnapshot

STATE_VERSION = 1


class StateView(Protocol):
    """The read side of collector.state.NetworkState that the engine uses."""

    def device_snapshots(self) -> list[DeviceSnapshot]:
        """Every device of the topology."""
        ...

    def link_snapshots(self) -> list[LinkSnapshot]:
        """Every link of the topology, with its state from both ends."""
        ...


class StateError(ValueError):
    """A saved engine state that cannot be loaded (wrong version or shape)."""


class Engine:
    """Rules + topology + memory → notifications, one evaluation at a time."""

    def __init__(self, topology: Topology, rules: RuleSet, *,
                 state: Mapping[str, Any] | None = None) -> None:
        self.topology = topology
        self.rules = rules
        self._by_name: dict[str, Rule] = {r.name: r for r in rules.rules}
        self.alerts: dict[str, AlertState] = {}
        self.incidents: dict[str, Incident] = {}  # open ones
        self.history: list[Incident] = []  # resolved, newest last, bounded
        self.silences: dict[str, Silence] = {}
        # what the observations looked like before (the topology's evidence over time)
        self.unreachable_since: dict[str, float] = {}
        self.link_down_since: dict[str, float] = {}
        self.link_down_ends: dict[str, list[str]] = {}
        self.site_power: dict[str, dict[str, Any]] = {}
        self.last_evaluation: float | None = None
        self.last_analysis: Analysis | None = None
        self.decisions: dict[str, Decision] = {}  # per open incident, last evaluation
        # alerts resolved in this evaluation because their subject left the topology
        self.removed_now: set[str] = set()
        self.wall: float | None = None  # wall clock of the current evaluation (silences)
        if state is not None:
            self._load(state)

    # ------------------------------------------------------------------ public API

    def evaluate(self, view: StateView, now: float, wall: float | None = None
                 ) -> list[Notification]:
        """One evaluation at steady time `now` (the state's clock) and wall time `wall`
        (default `now`: a simulated clock is both); the notifications to send."""
        self.wall = now if wall is None else wall
        devices = {s.device_id: s for s in view.device_snapshots()}
        links = {s.link_id: s for s in view.link_snapshots()}
        health = self._observe(devices, links, now)
        analysis = analyse(self.topology, health)
        ctx = Context(self.topology, analysis, devices, links)
        resolved_now = self._step_alerts(ctx, now)
        out = self._incidents(Grouper(self.topology, analysis, self._degraded_sites()),
                              resolved_now, now)
        self._forget()
        self.last_evaluation = now
        self.last_analysis = analysis
        return out

    def add_silence(self, silence: Silence) -> str:
        """Add (or replace) a silence; returns its id."""
        self.silences[silence.id] = silence
        return silence.id

    def expire_silence(self, silence_id: str, now: float) -> None:
        """End a silence at wall time `now` (KeyError if unknown); notifications resume at
        the next evaluation (an incident that fired while silenced is then notified as new)."""
        old = self.silences[silence_id]
        self.silences[silence_id] = Silence(old.matchers, old.starts_at,
                                            max(old.starts_at + 1e-6, now),
                                            old.created_by, old.comment, old.id)

    def open_incidents(self) -> list[Incident]:
        """Incidents not resolved yet (pending ones included), oldest first."""
        return sorted(self.incidents.values(), key=lambda i: (i.opened_at, i.key))

    def dump_state(self) -> dict[str, Any]:
        """Everything remembered, as JSON-safe data (load it back with `state=`)."""
        return {
            "version": STATE_VERSION,
            "last_evaluation": self.last_evaluation,
            "alerts": [a.to_dict() for _, a in sorted(self.alerts.items())],
            "incidents": [i.to_dict() for i in self.open_incidents()],
            "history": [i.to_dict() for i in self.history],
            "silences": [s.to_dict() for _, s in sorted(self.silences.items())],
            "memory": {
                "unreachable_since": dict(sorted(self.unreachable_since.items())),
                "link_down_since": dict(sorted(self.link_down_since.items())),
                "link_down_ends": dict(sorted(self.link_down_ends.items())),
                "site_power": dict(sorted(self.site_power.items())),
            },
        }

    def dump_json(self) -> str:
        """`dump_state()` as JSON text (for a file or a SQLite column)."""
        return json.dumps(self.dump_state(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def load_json(cls, topology: Topology, rules: RuleSet, text: str) -> Engine:
        """An engine that continues from `dump_json()` text (StateError if unusable)."""
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(f"engine state is not JSON: {exc}") from None
        if not isinstance(state, dict):
            raise StateError("engine state must be a JSON object")
        return cls(topology, rules, state=state)

    # ------------------------------------------------------------------ state

    def _load(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise StateError(f"engine state version {state.get('version')!r} is not "
                             f"supported (expected {STATE_VERSION})")
        try:
            self.last_evaluation = state.get("last_evaluation")
            for data in state.get("alerts", []):
                alert = AlertState.from_dict(data)
                self.alerts[alert.key] = alert
            for data in state.get("incidents", []):
                incident = Incident.from_dict(data)
                self.incidents[incident.key] = incident
            self.history = [Incident.from_dict(d) for d in state.get("history", [])]
            for data in state.get("silences", []):
                silence = Silence.from_dict(data)
                self.silences[silence.id] = silence
            memory = state.get("memory", {})
            self.unreachable_since = dict(memory.get("unreachable_since", {}))
            self.link_down_since = dict(memory.get("link_down_since", {}))
            self.link_down_ends = {k: list(v) for k, v in
                                   memory.get("link_down_ends", {}).items()}
            self.site_power = dict(memory.get("site_power", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"engine state cannot be loaded: {exc}") from None

    # ------------------------------------------------------------------ 1. observe

    def _observe(self, devices: Mapping[str, DeviceSnapshot],
                 links: Mapping[str, LinkSnapshot], now: float) -> Health:
        dark_after = self.rules.settings.dark_after_intervals
        device_up: dict[str, bool | None] = {}
        last_success: dict[str, float | None] = {}
        down_since: dict[str, float] = {}
        failing: set[str] = set()
        for device_id, snap in devices.items():
            last_success[device_id] = snap.last_success_steady
            if snap.up is False and snap.reachable:
                # The agent is silent but the host answers ping: the device and its site
                # are reachable (snmp_agent_down says the rest), so nothing goes dark.
                icmp = snap.icmp
                assert icmp is not None
                last_success[device_id] = max(snap.last_success_steady or -math.inf,
                                              icmp.last_reply_steady or -math.inf)
                self.unreachable_since.pop(device_id, None)
                device_up[device_id] = True
                continue
            # Not polled yet, but remembered unreachable: the collector restarted (state
            # file) and has not asked this device again. Its failure stands until a poll
            # says otherwise; forgetting it would make the sites behind it look down (not
            # isolated) for a poll interval, a change that counts toward flapping.
            if snap.up is False or (snap.up is None and device_id in self.unreachable_since):
                failing.add(device_id)
                since = self.unreachable_since.setdefault(device_id, now)
                down_since[device_el(device_id)] = since
                # one failed poll is not yet darkness: it must last a poll interval
                device_up[device_id] = False if now - since >= dark_after * snap.interval \
                    else None
            else:
                self.unreachable_since.pop(device_id, None)
                device_up[device_id] = snap.up
        link_state: dict[str, str] = {}
        for link_id, snap in links.items():
            state = snap.state
            if state == "down":
                self.link_down_since.setdefault(link_id, now)
                ends = self.link_down_ends.setdefault(link_id, [])
                for end, seen_up in (("a", snap.a_up), ("b", snap.b_up)):
                    if seen_up is False and end not in ends:
                        ends.append(end)
                        ends.sort()
            elif state == "up":
                self.link_down_since.pop(link_id, None)
                self.link_down_ends.pop(link_id, None)
            elif link_id in self.link_down_since:
                state = "down"  # last seen down, now nobody can see it: still down
            link_state[link_id] = state
            if link_id in self.link_down_since:
                down_since[link_el(link_id)] = self.link_down_since[link_id]
        for site, (on_battery, _seconds, runtime) in site_power(devices,
                                                                self.topology).items():
            prev = self.site_power.get(site, {})
            since = (prev.get("since") if prev.get("on_battery") else now) if on_battery \
                else None
            self.site_power[site] = {"on_battery": on_battery, "since": since,
                                     "runtime_seconds": runtime, "observed_at": now}
        for memory, known in ((self.unreachable_since, devices), (self.link_down_since, links),
                              (self.link_down_ends, links), (self.site_power,
                                                             self.topology.sites)):
            for key in [k for k in memory if k not in known]:
                del memory[key]  # removed from the inventory
        confirmed = frozenset(k for k, ends in self.link_down_ends.items()
                              if len(ends) == 2)
        return Health(device_up=device_up, last_success=last_success,
                      link_state=link_state, down_since=down_since,
                      confirmed_cuts=confirmed, failing=frozenset(failing))

    # ------------------------------------------------------------------ 3. alerts

    def _step_alerts(self, ctx: Context, now: float) -> set[str]:
        resolved_now: set[str] = set()
        self.removed_now = set()
        seen: set[str] = set()
        remembered = {a.rule for a in self.alerts.values()}
        for rule in self.rules.rules:
            flap = self.rules.flap(rule)
            known = rule.name in remembered
            for signal in signals(rule, ctx):
                if not known and not condition(rule, signal, None):
                    continue  # the usual case: clear, and nothing remembered for this rule
                key = f"{rule.name}/{signal.subject.key}"
                seen.add(key)
                alert = self.alerts.get(key)
                if alert is None:
                    if not condition(rule, signal, None):
                        continue  # clear and never seen: nothing to remember
                    # Not remembered means it was clear (or never had data): this first
                    # true is a change, and flap detection must count it, or a flap of
                    # n changes is seen as n-1 and pages a half-period late.
                    alert = self.alerts[key] = AlertState(rule.name, signal.subject,
                                                          rule.severity, cond=False)
                alert.severity = rule.severity
                if step(alert, rule, flap, signal, now) is Transition.RESOLVED:
                    resolved_now.add(key)
        for key, alert in list(self.alerts.items()):
            if key in seen:
                continue
            rule = self._by_name.get(alert.rule)
            gone = not self._subject_exists(alert)
            if rule is None or gone:
                if resolve(alert, now) is Transition.RESOLVED:
                    resolved_now.add(key)
                    if gone:
                        self.removed_now.add(key)
            elif step(alert, rule, self.rules.flap(rule), None, now) is Transition.RESOLVED:
                resolved_now.add(key)
        return resolved_now

    def _degraded_sites(self) -> dict[str, str]:
        """Site → the degraded link (a pending or firing link_rtt_high / link_loss_high
        alert) its own degraded-path alerts belong to: the link's far end and every site
        the plan can reach only through the link (pending counts, so that a site alert that
        fires with the link's joins the link's incident from the start)."""
        out: dict[str, str] = {}
        topo = self.topology
        for _key, alert in sorted(self.alerts.items()):
            rule = self._by_name.get(alert.rule)
            link = alert.subject.link
            if rule is None or rule.kind not in LINK_PING_KINDS or not alert.active \
                    or link not in topo.links:
                continue
            behind = {s for s, crit in topo.planned_critical.items() if link_el(link) in crit}
            far = alert.info.get("far_site")
            if far in topo.sites:
                behind.add(far)
            for site in sorted(behind):
                out.setdefault(site, link)
        return out

    def _subject_exists(self, alert: AlertState) -> bool:
        subject, topo = alert.subject, self.topology
        return ((subject.site is None or subject.site in topo.sites)
                and (subject.device is None or subject.device in topo.devices)
                and (subject.link is None or subject.link in topo.links))

    def _forget(self) -> None:
        for key in [k for k, a in self.alerts.items() if a.forgettable()]:
            del self.alerts[key]

    # ------------------------------------------------------------------ 4-5. incidents

    def _incidents(self, grouper: Grouper, resolved_now: set[str], now: float
                   ) -> list[Notification]:
        groups: dict[str, Group] = {}
        for key, alert in sorted(self.alerts.items()):
            if not (alert.active or key in resolved_now):
                continue
            rule = self._by_name.get(alert.rule)
            kind = rule.kind if rule else ""
            subject = alert.subject
            gkey = grouper.key_for(kind, subject.site, subject.device, subject.link,
                                   alert.info)
            group = groups.setdefault(gkey, Group(gkey))
            group.alerts.append(key)
            if kind == "redundancy_lost" and alert.active and subject.site:
                group.redundancy_lost.add(subject.site)
        for group in groups.values():
            grouper.fill(group)

        members: dict[str, list[str]] = {}
        fed: dict[str, list[Group]] = {}
        for gkey in sorted(groups):
            group = groups[gkey]
            homes = [self.alerts[a].incident for a in group.alerts]
            if all(h in self.incidents and self.incidents[h].family != group.family
                   for h in homes):
                # every alert already belongs to an incident of another kind: nothing new
                for akey in group.alerts:
                    members.setdefault(self.alerts[akey].incident or "", []).append(akey)
                continue
            incident = self._incident_for(group, now)
            fed.setdefault(incident.key, []).append(group)
            # the group that feeds it now goes last: groups[-1] names the incident's
            # present explanation (the notification's `group`, Alertmanager's label)
            if gkey in incident.groups:
                incident.groups.remove(gkey)
            incident.groups.append(gkey)
            for akey in group.alerts:
                alert = self.alerts[akey]
                home = alert.incident if alert.incident in self.incidents else incident.key
                members.setdefault(home, []).append(akey)

        out: list[Notification] = []
        for inc_key in sorted(self.incidents, key=lambda k: (self.incidents[k].opened_at, k)):
            incident = self.incidents[inc_key]
            notification = self._update(incident, members.get(inc_key, []),
                                         fed.get(inc_key, []), resolved_now, now)
            if notification is not None:
                out.append(notification)
        for key in [k for k, i in self.incidents.items() if i.status == "resolved"]:
            incident = self.incidents.pop(key)
            if incident.firing_since is not None:
                self.history.append(incident)
        del self.history[:max(0, len(self.history) - self.rules.settings.history)]
        for alert in self.alerts.values():
            if alert.incident is not None and alert.incident not in self.incidents:
                alert.incident = None  # its incident is over
        self.decisions = {k: d for k, d in self.decisions.items() if k in self.incidents}
        return out

    def _incident_for(self, group: Group, now: float) -> Incident:
        """The open incident a group belongs to, creating one if needed."""
        open_ = sorted(self.incidents.values(), key=lambda i: (i.opened_at, i.key))
        same_family = [i for i in open_ if i.family == group.family]
        sticky = {self.alerts[a].incident for a in group.alerts} - {None}
        for incident in same_family:  # its fired alerts tie the group to their incident
            if incident.key in sticky:
                return incident
        for incident in open_:
            if group.key in incident.groups:
                return incident
        if group.family == "reach":
            anchors = group.anchors()
            for incident in same_family:
                if incident.anchors() & anchors:
                    return incident
        for incident in open_:
            if self._explains(incident, group):
                return incident
        key = f"{group.key}@{int(now)}"
        n = 2
        while key in self.incidents:
            key = f"{group.key}@{int(now)}-{n}"
            n += 1
        incident = self.incidents[key] = Incident(key=key, family=group.family,
                                                  opened_at=now)
        return incident

    def _explains(self, incident: Incident, group: Group) -> bool:
        """An open reachability incident explains a link or device group about its own root
        cause or a device it cut off: a flapping link's LinkDown, or the far end's
        DeviceUnreachable, that starts firing while the link happens to be up (no outage
        to group it by at that moment) still belongs to the flap's incident."""
        if incident.family != "reach" or group.family not in ("link", "reach"):
            return False
        cut_off = set(incident.all_cut_off)
        for element in group.roots:
            kind, ident = split_el(element)
            if element in incident.all_roots:
                return True
            if kind == "device" and self.topology.device_site(ident) in cut_off:
                return True
        return False

    def _update(self, incident: Incident, member_keys: list[str], groups: list[Group],
                resolved_now: set[str], now: float) -> Notification | None:
        if groups:
            incident.roots = sorted({r for g in groups for r in g.roots})
            incident.evidence = sorted({e for g in groups for e in g.evidence})
            incident.cut_off = sorted({s for g in groups for s in g.cut_off})
            incident.down_sites = sorted({s for g in groups for s in g.down_sites})
            incident.all_roots = sorted(set(incident.all_roots) | set(incident.roots))
            incident.all_cut_off = sorted(set(incident.all_cut_off) | set(incident.cut_off))
        members = [self.alerts[k] for k in sorted(set(member_keys))]
        active = [a for a in members if a.active]
        incident.redundancy_lost = sorted({
            a.subject.site for a in active
            if a.subject.site and self._kind(a) == "redundancy_lost"})
        incident.alerts = [a.key for a in members]
        incident.seen_alerts = sorted(set(incident.seen_alerts) | set(incident.alerts))
        firing = [a for a in active if a.phase is Phase.FIRING]
        was = incident.status
        if firing:
            incident.status = "firing"
            if incident.firing_since is None:
                incident.firing_since = now
            incident.severity = severity_max(a.severity for a in firing)
            incident.flapping = any(a.flapping for a in firing)
            incident.flapped = incident.flapped or incident.flapping
            for alert in firing:
                alert.incident = incident.key
        elif active and was != "firing":
            incident.status = "pending"
        else:
            incident.status = "resolved"
            incident.resolved_at = now
        decision = self._decide(incident, was, now)
        if decision.reason == "resolved" and self._removed(members, resolved_now):
            decision = Decision(True, "removed_from_inventory")
        incident.last_decision = {"notify": decision.notify, "reason": decision.reason,
                                  "detail": decision.detail, "at": now}
        self.decisions[incident.key] = decision  # pruned to open incidents after the round
        if decision.reason in ("silenced", "maintenance"):
            incident.suppressed = f"{decision.reason}: {decision.detail}"
        if not decision.notify:
            return None
        notification = content.build(self, incident, members, decision, now)
        incident.notifications += 1
        incident.notified_at = now
        incident.notified_status = notification.status
        if notification.status == "firing":
            incident.notified_severity = incident.severity
            incident.notified_cut_off = list(incident.cut_off)
            incident.notified_roots = list(incident.roots)
            incident.notified_evidence = list(incident.evidence)
            incident.notified_headline = notification.headline
            incident.notified_redundancy_lost = [s.site_id for s in
                                                 notification.redundancy_lost]
            incident.notified_flapping = notification.flapping
        return notification

    def _removed(self, members: list[AlertState], resolved_now: set[str]) -> bool:
        """True when the alerts that ended the incident now all left the inventory."""
        ended = [a.key for a in members if a.key in resolved_now]
        return bool(ended) and all(k in self.removed_now for k in ended)

    def _kind(self, alert: AlertState) -> str:
        rule = self._by_name.get(alert.rule)
        return rule.kind if rule else ""

    def _decide(self, incident: Incident, was: str, now: float) -> Decision:
        settings = self.rules.settings
        if incident.status == "pending":
            return Decision(False, "pending")
        if incident.status == "resolved":
            if incident.notified_status != "firing":
                return Decision(False, "never_notified")
            # Never muted: whoever got the page learns that it is over. A silence added
            # after the page says someone is on it, not that nobody wants the all-clear.
            return Decision(True, "resolved")
        muted = self._muted(incident, now)
        if muted is not None:
            return muted
        if incident.notified_status != "firing":
            assert incident.firing_since is not None
            if now - incident.firing_since < settings.group_wait:
                return Decision(False, "group_wait")
            return Decision(True, "new")
        assert incident.notified_at is not None
        worse = SEVERITY_RANK.get(incident.severity or "", 0) > \
            SEVERITY_RANK.get(incident.notified_severity or "", 0)
        grew = sorted(set(incident.cut_off) - set(incident.notified_cut_off))
        if worse or grew:
            if incident.flapping:
                # While it flaps, its members fire and clear with every change (a link's
                # LinkDown, then its RedundancyLost...), some only because flapping skips
                # their `for`; paging those would be a page per change. That holds whether
                # the page came as flapping or at the first down, before anyone could know.
                # Once it settles, a worse state still escalates.
                return Decision(False, "flapping", "escalation waits until it stops "
                                "flapping")
            if now - incident.notified_at < settings.group_interval:
                return Decision(False, "group_interval", "escalation waits for "
                                "group_interval")
            detail = f"severity {incident.notified_severity} → {incident.severity}" if worse \
                else f"{len(grew)} more site(s) cut off"
            return Decision(True, "escalated", detail)
        repeat = min((self.rules.repeat_interval(self._by_name[a.rule])
                      for a in (self.alerts[k] for k in incident.alerts)
                      if a.rule in self._by_name), default=settings.repeat_interval)
        if now - incident.notified_at >= repeat:
            return Decision(True, "repeat")
        return Decision(False, "unchanged")

    def _muted(self, incident: Incident, now: float) -> Decision | None:
        # silences and maintenance windows are wall-clock appointments made by people
        wall = now if self.wall is None else self.wall
        labels = content.match_labels(self, incident)
        for silence in sorted(self.silences.values(), key=lambda s: s.id):
            if silence.active(wall) and silence.matches(labels):
                return Decision(False, "silenced", silence.id)
        elements = incident.roots or self._subject_elements(incident)
        window = covering_window(self.rules.maintenance, elements, self.topology, wall)
        if window is not None:
            return Decision(False, "maintenance", window.name)
        return None

    def _subject_elements(self, incident: Incident) -> list[str]:
        return sorted({e for k in incident.alerts if k in self.alerts
                       for e in self.alerts[k].subject.elements()})

