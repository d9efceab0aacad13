"""Alerts that page once per incident: topology-aware root cause, declarative rules, a pure
engine, bilingual texts.

How the service drives it (one engine per inventory; everything runs on the event loop)::

    topology = Topology.from_inventory(inventory)
    rules = load_rules(path_or_None, known=KnownIds.from_topology(topology),
                       metrics=metric_catalog())          # RulesError: file:line messages
    engine = Engine(topology, rules, state=store.load())  # None on the first start
    ...
    # every TICK seconds (5 s keeps detection within one poll interval + 5 s), or after
    # each NetworkState.apply():
    clock = SteadyClock.resume(saved_mark)   # collector.clock; NetworkState(clock=clock)
    for notification in engine.evaluate(network_state, clock.now(), clock.wall()):
        outbox.put(notification)                           # notifiers: a later issue
    store.save(engine.dump_state())                        # JSON-safe; no re-page on restart

`now` must be the same steady clock as the NetworkState's (poll start times are compared
with it); `wall` is only for silences and maintenance windows, which people give in wall
time. Silences: `engine.add_silence(Silence(...))`, `engine.expire_silence(id, wall)`.
Maintenance windows come from the rules file. `engine.open_incidents()`,
`engine.history` and `engine.last_analysis` are the read side for an API and reports;
`alerts.topology.single_points` / `capacity_risks` are the planners' static analysis;
`alerts.render.render(notification, "vi" | "en")` the text of a notification.
"""

from borderwatch.alerts.engine import Engine, StateError
from borderwatch.alerts.notification import Decision, Notification
from borderwatch.alerts.rules import KnownIds, RulesError, RuleSet, default_rules, load_rules
from borderwatch.alerts.silence import Matcher, Silence
from borderwatch.alerts.topology import Topology, analyse, capacity_risks, single_points

__all__ = [
    "Decision", "Engine", "KnownIds", "Matcher", "Notification", "RuleSet", "RulesError",
    "Silence", "StateError", "Topology", "analyse", "capacity_risks", "default_rules",
    "load_rules", "single_points",
]
