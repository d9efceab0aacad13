"""`borderwatch_site_status` and `borderwatch_site_redundancy_lost`: the status page's view
of every site, as Prometheus series for alerting rules and the Grafana map.

Same evidence and same decision as /api/status (exporters/status.py): a site's status
comes from its devices' latest polls, and a site whose polled devices all fail is
*isolated* instead of *down* when the topology analysis (`alerts.topology.analyse`, on the
state as it is now, no debounce) finds it cut off behind another failed element. Exported
whether or not the inventory configures alerts.

The metric knows four statuses, one-hot (1 for the current one, 0 for the others, so a
rule can say `borderwatch_site_status{status="isolated"} == 1` and a change of status is
never a missing series): up, unknown, down, isolated. The page's *degraded* (some devices
answer, some do not) is *up* here: the site is reachable; `borderwatch_device_up` names
the device that is not.

`borderwatch_site_redundancy_lost` is 1 for a reachable site that now depends on a single
element (link or site) its plan did not depend on, 0 otherwise; it is absent when the
topology cannot be analysed (no core site in the inventory).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from borderwatch.alerts.topology import Analysis, Topology, analyse
from borderwatch.collector.inventory import Inventory
from borderwatch.collector.state import NetworkState
from borderwatch.exporters.status import health_from_state, site_status, topology_of, with_isolation

SITE_STATUS = "borderwatch_site_status"
REDUNDANCY_LOST = "borderwatch_site_redundancy_lost"
STATUSES = ("up", "unknown", "down", "isolated")  # the `status` label's values


def analyse_now(topology: Topology | None, state: NetworkState) -> Analysis | None:
    """The topology analysis of the state as it is now (None without a topology)."""
    if topology is None:
        return None
    return analyse(topology, health_from_state(state.device_snapshots(),
                                               state.link_snapshots()))


def site_statuses(sites: Mapping[str, tuple[str, ...]], state: NetworkState,
                  analysis: Analysis | None) -> dict[str, str]:
    """{site: up | unknown | down | isolated} for `sites` ({site: its device ids})."""
    up = {s.device_id: s.reachable for s in state.device_snapshots()}
    out = {}
    for site, devices in sites.items():
        status = with_isolation(site_status([up.get(d) for d in devices]), site, analysis)
        out[site] = "up" if status == "degraded" else status  # reachable: some device answers
    return out


class SiteStatusCollector:
    """A custom collector: site status and lost redundancy, analysed at each scrape."""

    def __init__(self, inventory: Inventory, state: NetworkState,
                 topology: Topology | None) -> None:
        self._state = state
        self._topology = topology
        self._sites = {s.id: tuple(d.id for d in s.devices) for s in inventory.sites}

    def apply_inventory(self, inventory: Inventory, diff: object = None) -> None:
        """Follow a reload: the new sites and topology (removed sites' series go)."""
        self._topology = topology_of(inventory)[0]
        self._sites = {s.id: tuple(d.id for d in s.devices) for s in inventory.sites}

    def describe(self) -> list[Metric]:
        names = [SITE_STATUS] + ([REDUNDANCY_LOST] if self._topology is not None else [])
        return [GaugeMetricFamily(n, "") for n in names]

    def collect(self) -> Iterator[Metric]:
        analysis = analyse_now(self._topology, self._state)
        statuses = site_statuses(self._sites, self._state, analysis)
        status = GaugeMetricFamily(
            SITE_STATUS, "1 for the site's current status, 0 for the others: up (a device "
            "answers), unknown (not polled yet), down (no device answers), isolated (no device "
            "answers and the topology shows it cut off behind another failure).",
            labels=["site", "status"])
        for site, now in statuses.items():
            for name in STATUSES:
                status.add_metric([site, name], 1.0 if name == now else 0.0)
        yield status
        if analysis is None:
            return
        lost = GaugeMetricFamily(
            REDUNDANCY_LOST, "1 if the reachable site now depends on a single link or site "
            "that its planned topology did not depend on (mất dự phòng), else 0.",
            labels=["site"])
        for site in self._sites:
            lost.add_metric([site], 1.0 if site in analysis.redundancy_lost else 0.0)
        yield lost
