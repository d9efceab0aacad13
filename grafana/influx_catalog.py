"""The InfluxDB dashboards, declared as data: InfluxQL over borderwatch's line protocol.

Measurements, tags and fields are those of exporters/line_protocol.py (docs/influx.md).
InfluxQL, not Flux: InfluxDB 1.x answers it natively, 2.x through /query with a DBRP
mapping, 3.x natively, so one set of queries serves every version (tests/grafana runs each
against a real influxd holding the lab's lines).

Query conventions:
* `$timeFilter` and `GROUP BY time($__interval)`: Grafana substitutes both.
* `${site:raw}` inside '…' and `${commune:raw}` inside /^(…)$/: `:raw` inserts the value
  as is (site ids and the commune's id regex need no escaping; commune_options checks
  them), the same in every Grafana version whatever its InfluxQL escaping rules.
* Counters are raw device counters: rates are `non_negative_derivative(last(f), 1s)`
  per `$__interval` bucket, `fill(none)` so that the derivative spans real polls.
* `${link:raw}` is a WHERE fragment generated here from the inventory's links (the
  measurements carry no link tag): both ends as (device, interface). `"ifName" = ''`
  also lets through the points of that device that have no ifName tag at all (radio,
  vsat): InfluxQL's test for a missing tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from borderwatch.collector.inventory import load_inventory
from borderwatch.grafana.model import Dashboard, InfluxQuery, Panel, Row, Variable
from borderwatch.grafana.sites import INVENTORY, SiteRow

INTERVAL = "GROUP BY time($__interval)"
UP_DOWN = ({"type": "value", "options": {"0": {"text": "down", "color": "red"},
                                         "1": {"text": "up", "color": "green"}}},)
IF_STATUS = ({"type": "value", "options": {"1": {"text": "up", "color": "green"},
                                           "2": {"text": "down", "color": "red"},
                                           "3": {"text": "testing", "color": "orange"},
                                           "5": {"text": "dormant", "color": "orange"},
                                           "7": {"text": "lowerLayerDown", "color": "red"}}},)
MAINS_BATTERY = ({"type": "value", "options": {"0": {"text": "mains", "color": "green"},
                                               "1": {"text": "on battery", "color": "red"}}},)
OK_ALARM = ({"type": "value", "options": {"0": {"text": "no mains", "color": "red"},
                                          "1": {"text": "mains ok", "color": "green"}}},)
TABLE = {"showHeader": True, "cellHeight": "sm"}
# Grafana custom-variable syntax: options split on ",", text from value on " : ".
_UNSAFE_IN_OPTION = re.compile(r",| : |\$")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")  # needs no escaping in an InfluxQL regex or string


@dataclass(frozen=True)
class LinkRow:
    """A link's id and its two ends (device id, interface name as in the inventory)."""

    link: str
    a_device: str
    a_interface: str
    b_device: str
    b_interface: str


def load_links(path: Path = INVENTORY) -> list[LinkRow]:
    """Links of the inventory, in inventory order (secrets are not resolved: none needed)."""
    inventory = load_inventory(path, resolve_secrets=False, log_warnings=False)
    return [LinkRow(ln.id, ln.a.device, ln.a.interface, ln.b.device, ln.b.interface)
            for ln in inventory.links]


def commune_options(rows: list[SiteRow]) -> str:
    """The commune variable's custom query: "commune : site1|site2, ..." (a regex of ids).

    No measurement carries a commune tag, so the commune → sites mapping is taken from the
    inventory at generation time; the site variable filters its SHOW TAG VALUES with it.
    """
    by_commune: dict[str, list[str]] = {}
    for r in rows:
        by_commune.setdefault(r.commune or "(no commune)", []).append(r.site)
    parts = []
    for commune, sites in sorted(by_commune.items()):
        if _UNSAFE_IN_OPTION.search(commune):
            raise ValueError(f"commune {commune!r} cannot be a Grafana custom option")
        if not all(_SAFE_ID.fullmatch(s) for s in sites):
            raise ValueError(f"site ids of {commune!r} are not regex-safe: {sites}")
        parts.append(f"{commune} : {'|'.join(sites)}")
    return ", ".join(parts)


def influxql_string(value: str) -> str:
    """An InfluxQL string literal: single quotes, `\\` and `'` escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def link_condition(row: LinkRow) -> str:
    """WHERE fragment selecting both ends of a link in any measurement (see module doc)."""
    ends = []
    for device, interface in ((row.a_device, row.a_interface), (row.b_device, row.b_interface)):
        ends.append(f'("device" = {influxql_string(device)} AND '
                    f'("ifName" = {influxql_string(interface)} OR "ifName" = \'\'))')
    return " OR ".join(ends)


def link_options(rows: list[LinkRow]) -> str:
    """The link variable's custom query: "L08 : <WHERE fragment>, ..."."""
    parts = []
    for row in rows:
        condition = link_condition(row)
        if _UNSAFE_IN_OPTION.search(row.link) or _UNSAFE_IN_OPTION.search(condition):
            raise ValueError(f"link {row.link}: an id or interface with ',', ' : ' or '$' "
                             "cannot be a Grafana custom option")
        parts.append(f"{row.link} : {condition}")
    return ", ".join(parts)


def _where(selector: str) -> str:
    return f"WHERE {selector} AND $timeFilter"


def _series(title: str, query: str, alias: str, *, unit: str = "none", width: int = 12,
            description: str = "", thresholds: tuple = ()) -> Panel:
    return Panel(title, "timeseries", (InfluxQuery(query, alias=alias),), unit=unit,
                 width=width, description=description, thresholds=thresholds,
                 options={"legend": {"displayMode": "table", "placement": "bottom",
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def _column(name: str, *, unit: str | None = None, mappings: tuple = ()) -> dict:
    """A table column's own settings (fieldConfig override matched by column name)."""
    props: list[dict] = []
    if unit is not None:
        props.append({"id": "unit", "value": unit})
    if mappings:
        props.append({"id": "mappings", "value": list(mappings)})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def _table(title: str, query: str, *, columns: tuple[dict, ...] = (), width: int = 12,
           height: int = 6, description: str = "") -> Panel:
    """A table of `last()` values; `columns` (from _column) set units and mappings per
    column, so that a 0/1 mapping of one column does not rename another column's 1."""
    # Multiple selectors (last(a), last(b)) share one meaningless timestamp: hide it.
    organize = {"id": "organize", "options": {"excludeByName": {"Time": True}}}
    return Panel(title, "table", (InfluxQuery(query, table=True),), width=width,
                 height=height, description=description, options=TABLE,
                 transformations=(organize,), overrides=columns)


def _stat(title: str, query: str, *, thresholds: tuple, width: int = 4,
          description: str = "") -> Panel:
    return Panel(title, "stat", (InfluxQuery(query, table=True),), width=width, height=6,
                 thresholds=thresholds, description=description,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "background", "graphMode": "none"})


def _rates(columns: dict[str, str], measurement: str, selector: str, group: str, *,
           bits: bool = False) -> str:
    """Per-second rates of counter fields ({column name: field}), × 8 when `bits`."""
    scale = " * 8" if bits else ""
    cols = ", ".join(f'non_negative_derivative(last("{field}"), 1s){scale} AS "{name}"'
                     for name, field in columns.items())
    return (f'SELECT {cols} FROM "{measurement}" {_where(selector)} '
            f"{INTERVAL}, {group} fill(none)")


def _devices_at(selector: str) -> str:
    """Per-device last `up` at the selected site(s): the inner query of the counts."""
    return f'SELECT last("up") AS "up" FROM "device" {_where(selector)} GROUP BY "device"'


def site(rows: list[SiteRow]) -> Dashboard:
    """One site ($site) from InfluxDB: devices, interfaces, power and radios."""
    s = '"site" = \'${site:raw}\''
    by_if = '"device", "ifIndex", "ifName"'
    return Dashboard(
        "bw-influxql-site", "borderwatch / Site (InfluxDB)",
        "Everything at one site from InfluxDB (InfluxQL): devices, interfaces, power, radio.",
        datasource="influxql",
        variables=(
            Variable("commune", "Commune", "custom", commune_options(rows), include_all=True,
                     all_value=".*"),
            Variable("site", "Site", "query",
                     'SHOW TAG VALUES FROM "device" WITH KEY = "site" '
                     'WHERE "site" =~ /^(${commune:raw})$/'),
        ),
        panels=(
            Row("Devices"),
            _stat("Devices up", f'SELECT sum("up") AS "up" FROM ({_devices_at(s)})',
                  thresholds=((None, "green"),)),
            _stat("Devices down",
                  f'SELECT count("up") - sum("up") AS "down" FROM ({_devices_at(s)})',
                  thresholds=((None, "green"), (1, "red")),
                  description="Devices whose latest poll in the time range failed."),
            _table("Devices",
                   'SELECT last("up") AS "up", last("uptime_seconds") AS "uptime", '
                   'last("poll_duration_seconds") AS "poll duration" FROM "device" '
                   f'{_where(s)} GROUP BY "device"', width=16,
                   columns=(_column("up", mappings=UP_DOWN), _column("uptime", unit="s"),
                            _column("poll duration", unit="s"))),
            _series("Poll duration",
                    f'SELECT mean("poll_duration_seconds") FROM "device" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="s"),
            _series("Device uptime",
                    f'SELECT last("uptime_seconds") FROM "device" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="s"),
            Row("Ping"),
            _series("Ping round trip",
                    'SELECT mean("rtt_average_seconds") AS "average", '
                    'mean("rtt_jitter_seconds") AS "jitter" FROM "icmp" '
                    f'{_where(s)} {INTERVAL}, "device" fill(none)', "$tag_device $col",
                    unit="s", description="Over the pinger's window of rounds "
                    "(defaults.icmp.window); VSAT is about 0.6 s when healthy."),
            _series("Ping loss",
                    f'SELECT mean("loss_ratio") FROM "icmp" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="percentunit",
                    thresholds=((None, "green"), (0.1, "red")),
                    description="Echo requests without a reply over the pinger's window."),
            Row("Interfaces"),
            _series("Traffic",
                    _rates({"in": "receive_bytes", "out": "transmit_bytes"}, "interface", s,
                           by_if, bits=True),
                    "$tag_device $tag_ifName $col", unit="bps",
                    description="non_negative_derivative of the byte counters × 8 (a counter "
                                "reset or wrap gives one gap, not a spike)."),
            _table("Interface status",
                   'SELECT last("oper_status") AS "oper", last("admin_status") AS "admin", '
                   'last("speed_bytes") * 8 AS "speed" FROM "interface" '
                   f'{_where(s)} GROUP BY "device", "ifIndex", "ifName", "ifAlias"',
                   columns=(_column("oper", mappings=IF_STATUS),
                            _column("admin", mappings=IF_STATUS),
                            _column("speed", unit="bps"))),
            _series("Interface errors and discards",
                    _rates({"rx errors": "receive_errors", "tx errors": "transmit_errors",
                            "rx discards": "receive_discards",
                            "tx discards": "transmit_discards"}, "interface", s, by_if),
                    "$tag_device $tag_ifName $col", unit="pps", width=24),
            Row("Power"),
            _table("UPS",
                   'SELECT last("on_battery") AS "on battery", '
                   'last("battery_charge_ratio") AS "charge", '
                   'last("battery_runtime_seconds") AS "runtime", '
                   'last("battery_voltage_volts") AS "battery V", '
                   'last("battery_temperature_celsius") AS "battery °C" FROM "ups" '
                   f'{_where(s)} GROUP BY "device"',
                   columns=(_column("on battery", mappings=MAINS_BATTERY),
                            _column("charge", unit="percentunit"),
                            _column("runtime", unit="s"), _column("battery V", unit="volt"),
                            _column("battery °C", unit="celsius"))),
            _table("DC plant",
                   'SELECT last("mains_ok") AS "mains", '
                   'last("battery_voltage_volts") AS "battery V", '
                   'last("battery_current_amperes") AS "battery A", '
                   'last("load_current_amperes") AS "load A", '
                   'last("rectifier_alarms") AS "rectifier alarms", '
                   'last("battery_runtime_seconds") AS "runtime" FROM "power" '
                   f'{_where(s)} GROUP BY "device"',
                   columns=(_column("mains", mappings=OK_ALARM),
                            _column("battery V", unit="volt"),
                            _column("battery A", unit="amp"), _column("load A", unit="amp"),
                            _column("runtime", unit="s"))),
            _series("UPS battery runtime left",
                    f'SELECT mean("battery_runtime_seconds") FROM "ups" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "UPS $tag_device", unit="s"),
            _series("DC battery voltage",
                    f'SELECT mean("battery_voltage_volts") FROM "power" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "DC $tag_device", unit="volt"),
            Row("Radio"),
            _series("Received signal level",
                    f'SELECT mean("signal_dbm") FROM "radio" {_where(s)} '
                    f'{INTERVAL}, "device", "radio" fill(none)', "$tag_device $tag_radio",
                    unit="dBm"),
            _series("SNR",
                    f'SELECT mean("snr_db") FROM "radio" {_where(s)} '
                    f'{INTERVAL}, "device", "radio" fill(none)', "$tag_device $tag_radio",
                    unit="dB"),
            _series("VSAT Es/No",
                    f'SELECT mean("receive_esno_db") FROM "vsat" {_where(s)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="dB"),
            _table("Radios now",
                   'SELECT last("signal_dbm") AS "signal", '
                   'last("nominal_signal_dbm") AS "nominal", last("snr_db") AS "SNR", '
                   'last("modulation") AS "modulation", '
                   'last("transmit_power_dbm") AS "tx power" FROM "radio" '
                   f'{_where(s)} GROUP BY "device", "radio"',
                   columns=(_column("signal", unit="dBm"), _column("nominal", unit="dBm"),
                            _column("SNR", unit="dB"), _column("tx power", unit="dBm"))),
        ))


def link(links: list[LinkRow]) -> Dashboard:
    """One link ($link) from InfluxDB: its two ends' interfaces and radios."""
    ends = "(${link:raw})"
    by_end = '"site", "device", "ifName"'
    return Dashboard(
        "bw-influxql-link", "borderwatch / Link (InfluxDB)",
        "One link from InfluxDB (InfluxQL): both ends' interface state, traffic, "
        "utilisation, errors and radio signal. The link's ends come from the inventory at "
        "generation time (`make dashboards`).",
        datasource="influxql",
        variables=(Variable("link", "Link", "custom", link_options(links)),),
        panels=(
            _table("Ends",
                   'SELECT last("oper_status") AS "oper", last("speed_bytes") * 8 AS "speed" '
                   f'FROM "interface" {_where(ends)} GROUP BY {by_end}',
                   columns=(_column("oper", mappings=IF_STATUS),
                            _column("speed", unit="bps")), width=24, height=5),
            _series("Traffic at both ends",
                    _rates({"in": "receive_bytes", "out": "transmit_bytes"}, "interface", ends,
                           by_end, bits=True),
                    "$tag_device $tag_ifName $col", unit="bps"),
            _series("Utilisation at both ends",
                    'SELECT non_negative_derivative(last("receive_bytes"), 1s) '
                    '/ last("speed_bytes") AS "in", '
                    'non_negative_derivative(last("transmit_bytes"), 1s) '
                    f'/ last("speed_bytes") AS "out" FROM "interface" {_where(ends)} '
                    f"{INTERVAL}, {by_end} fill(none)",
                    "$tag_device $tag_ifName $col", unit="percentunit",
                    thresholds=((None, "green"), (0.8, "red")),
                    description="Traffic over the interface's speed (ifHighSpeed/ifSpeed), "
                                "not over the inventory's capacity_mbps (the Prometheus "
                                "link page uses that)."),
            _series("Errors at both ends",
                    _rates({"rx errors": "receive_errors", "tx errors": "transmit_errors"},
                           "interface", ends, by_end),
                    "$tag_device $tag_ifName $col", unit="pps"),
            _series("End interfaces up",
                    f'SELECT last("up") FROM "interface" {_where(ends)} '
                    f"{INTERVAL}, {by_end} fill(none)", "$tag_device $tag_ifName",
                    thresholds=((None, "red"), (1, "green"))),
            _series("Ping round trip to both ends",
                    f'SELECT mean("rtt_average_seconds") FROM "icmp" {_where(ends)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="s",
                    description="Average over the pinger's window, for ends that are "
                                "pinged; the difference is what the link adds "
                                "(LinkLatencyHigh)."),
            _series("Ping loss to both ends",
                    f'SELECT mean("loss_ratio") FROM "icmp" {_where(ends)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="percentunit",
                    thresholds=((None, "green"), (0.1, "red"))),
            _series("Received signal at both ends",
                    f'SELECT mean("signal_dbm") FROM "radio" {_where(ends)} '
                    f'{INTERVAL}, "device", "radio" fill(none)', "$tag_device $tag_radio",
                    unit="dBm", description="Radio links (microwave, airMAX) only."),
            _series("SNR at both ends",
                    f'SELECT mean("snr_db") FROM "radio" {_where(ends)} '
                    f'{INTERVAL}, "device", "radio" fill(none)', "$tag_device $tag_radio",
                    unit="dB", description="Microwave links only."),
            _series("VSAT Es/No at both ends",
                    f'SELECT mean("receive_esno_db") FROM "vsat" {_where(ends)} '
                    f'{INTERVAL}, "device" fill(none)', "$tag_device", unit="dB",
                    description="VSAT links only."),
        ))


def dashboards(rows: list[SiteRow], links: list[LinkRow]) -> list[Dashboard]:
    """The InfluxQL dashboards, in file order."""
    return [site(rows), link(links)]
