"""A small border network and a scripted month of faults, as poll results.

    core ──L1 fibre── hub ──L2 fibre── p1
      │  ──L6 microwave──┘  └─L3 fibre── p2
      └──L4 VSAT── p3 (modem + UPS)

Every device is "polled" once a minute (STEP) at exact simulated times; what a poll
returns is decided by the fault windows below (a poll at t sees a fault if start <= t < end).
The expected results in test_simulated_month.py are worked out by hand from these windows,
not by running the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass

from borderwatch.alerts.topology import DeviceInfo, SiteInfo, Topology
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.state import IF_TX_METRIC, IF_UP_METRIC
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

STEP = 60.0
H = 3600.0
D = 86400.0
T0 = 1_793_491_200.0  # 2026-11-01T00:00:00Z, an hour boundary
MONTH = 30 * D

# Fault windows [start, end) as offsets from T0.
L2_CUT = (3 * D + 10 * H, 3 * D + 14.5 * H)  # fibre cut hub-p1: p1 isolated
L1_CUT = (5 * D + 6 * H, 5 * D + 9 * H)  # fibre cut core-hub: the hub hangs on L6 alone
HUB_FAIL = (10 * D + 2 * H, 10 * D + 5 * H)  # hub equipment dead: hub down, p1 p2 cut off
MAINS = (15 * D + 8 * H, 15 * D + 14 * H)  # mains failure at p3, on battery
DEPLETED = (15 * D + 13 * H, 15 * D + 14 * H)  # battery empty: p3 dark
VSAT_FADE = (20 * D + 16 * H, 20 * D + 18 * H)  # rain fade: Es/No 12 -> 3 dB
VSAT_LOSS = (20 * D + 17 * H, 20 * D + 17.5 * H)  # deepest part: carrier lost, L4 down
L6_FADE = (25 * D + 10 * H, 25 * D + 12 * H)  # microwave 12 dB below its planned level
STOPPED = (27 * D, 27 * D + 2 * H)  # collector killed at the start, started at the end
BUSY_HOUR = 1 * D + 12 * H  # L1 at 500 Mbit/s for polls H:01..H:30, else 100 Mbit/s

SITES = [SiteInfo("core", "Core", "core", devices=("core-r",)),
         SiteInfo("hub", "Hub", "hub", devices=("hub-r",)),
         SiteInfo("p1", "Post 1", "border_post", devices=("p1-r",)),
         SiteInfo("p2", "Post 2", "border_post", devices=("p2-r",)),
         SiteInfo("p3", "Post 3", "border_post", devices=("p3-vsat", "p3-ups"))]
LINKS = [LinkSpec("L1", "core", "core-r", "ge1", "hub", "hub-r", "ge1", "fiber", 1e9),
         LinkSpec("L6", "core", "core-r", "ge5", "hub", "hub-r", "ge4", "microwave", 1e8),
         LinkSpec("L2", "hub", "hub-r", "ge2", "p1", "p1-r", "ge1", "fiber", 1e9),
         LinkSpec("L3", "hub", "hub-r", "ge3", "p2", "p2-r", "ge1", "fiber", 1e9),
         LinkSpec("L4", "p3", "p3-vsat", "sat0", "core", "core-r", "ge4", "vsat", 4e6)]
INTERFACES = {"core-r": ["ge1", "ge4", "ge5"], "hub-r": ["ge1", "ge2", "ge3", "ge4"],
              "p1-r": ["ge1"], "p2-r": ["ge1"], "p3-vsat": ["sat0"], "p3-ups": []}


def topology() -> Topology:
    devices = [DeviceInfo(d, s.site_id) for s in SITES for d in s.devices]
    return Topology(SITES, LINKS, devices)


def device_specs() -> list[DeviceSpec]:
    return [DeviceSpec(d, s.site_id, interval=STEP) for s in SITES for d in s.devices]


def within(window: tuple[float, float], t: float) -> bool:
    return T0 + window[0] <= t < T0 + window[1]


@dataclass
class MonthNetwork:
    """The network's answers at simulated time t."""

    tx_total: float = 0.0  # core-r ge1 transmit byte counter

    def reachable(self, device: str, t: float) -> bool:
        hub = not within(HUB_FAIL, t)
        p3 = not within(DEPLETED, t) and not within(VSAT_LOSS, t)
        return {"core-r": True, "hub-r": hub, "p1-r": hub and not within(L2_CUT, t),
                "p2-r": hub, "p3-vsat": p3, "p3-ups": p3}[device]

    def interface_up(self, device: str, name: str, t: float) -> bool:
        down = {("core-r", "ge1"): within(L1_CUT, t) or within(HUB_FAIL, t),
                ("core-r", "ge5"): within(HUB_FAIL, t),
                ("core-r", "ge4"): within(VSAT_LOSS, t),
                ("hub-r", "ge1"): within(L1_CUT, t),
                ("hub-r", "ge2"): within(L2_CUT, t)}
        return not down.get((device, name), False)

    def poll(self, device: str, t: float) -> PollResult:
        if device == "core-r":  # the counter moves whether or not anybody looks
            busy = T0 + BUSY_HOUR + STEP <= t <= T0 + BUSY_HOUR + 30 * STEP
            self.tx_total += (500e6 if busy else 100e6) / 8 * STEP
        if not self.reachable(device, t):
            return PollResult(device, t, 0.0, False, error="timeout")
        samples: list[Sample] = []
        for index, name in enumerate(INTERFACES[device], start=1):
            labels = (("ifIndex", str(index)), ("ifName", name))
            samples.append(Sample(IF_UP_METRIC, labels,
                                  1 if self.interface_up(device, name, t) else 2))
            if (device, name) == ("core-r", "ge1"):
                samples.append(Sample(IF_TX_METRIC, labels, int(self.tx_total), Kind.COUNTER,
                                      64))
        if device == "hub-r":  # the microwave radio of L6, a row per ifIndex
            row = (("ifIndex", "4"), ("radio", "to-core"))
            samples.append(Sample("borderwatch_radio_signal_dbm", row,
                                  -62.0 if within(L6_FADE, t) else -50.0))
            samples.append(Sample("borderwatch_radio_nominal_signal_dbm", row, -50.0))
        if device == "p3-vsat":
            samples.append(Sample("borderwatch_vsat_receive_esno_db", (),
                                  3.0 if within(VSAT_FADE, t) else 12.0))
        if device == "p3-ups":
            on_battery = within(MAINS, t)
            hour = (t - T0 - MAINS[0]) // H
            charge = {0: 0.8, 1: 0.8, 2: 0.5, 3: 0.5}.get(hour, 0.1) if on_battery else 1.0
            samples += [Sample("borderwatch_ups_on_battery", (), 1 if on_battery else 0),
                        Sample("borderwatch_ups_battery_charge_ratio", (), charge)]
        return PollResult(device, t, 0.0, True, samples=samples,
                          sys_uptime_ticks=int((t - T0 + 1000) * 100))
