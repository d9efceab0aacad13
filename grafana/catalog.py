"""Every borderwatch dashboard, declared as data: the one source `make dashboards` renders.

Conventions of the queries (tests/grafana runs each against a real Prometheus):
* `$commune` is a commune name (`.*` for All), used only as
  `borderwatch_site_info{commune=~"$commune"}` (see sites.py); `$site` one site id;
  `$sites` a regex of site ids (multi-select); `$link` one link id.
* A count that may legitimately be zero ends in ` or vector(0)`, so the stat shows 0
  instead of "No data".
"""

from __future__ import annotations

from borderwatch.grafana.model import Dashboard, Panel, Query, Row, Variable
from borderwatch.grafana.sites import COMMUNE_QUERY, SITE_IN_COMMUNE, SiteRow, in_commune

RATE = "$__rate_interval"

# The two ends of the selected link as (device, ifName) series: joins interface and radio
# metrics onto a link through borderwatch_link_info.
LINK_ENDS = (
    'max by (link, device, ifName) ('
    'label_replace(label_replace(borderwatch_link_info{link="$link"}, '
    '"device", "$1", "a_device", "(.+)"), "ifName", "$1", "a_interface", "(.+)") or '
    'label_replace(label_replace(borderwatch_link_info{link="$link"}, '
    '"device", "$1", "b_device", "(.+)"), "ifName", "$1", "b_interface", "(.+)"))'
)
LINK_DEVICES = f"max by (link, device) ({LINK_ENDS})"

UP_DOWN = ({"type": "value", "options": {"0": {"text": "down", "color": "red"},
                                         "1": {"text": "up", "color": "green"}}},)
MAINS_BATTERY = ({"type": "value", "options": {"0": {"text": "mains", "color": "green"},
                                               "1": {"text": "on battery", "color": "red"}}},)
OK_ALARM = ({"type": "value", "options": {"0": {"text": "no mains", "color": "red"},
                                          "1": {"text": "mains ok", "color": "green"}}},)
RED_IF_ANY = ((None, "green"), (1, "red"))
ORANGE_IF_ANY = ((None, "green"), (1, "orange"))
# borderwatch_site_status as one number per site for the map: worst lowest.
STATUS_CODE = {"isolated": 1, "down": 2, "unknown": 3, "up": 4}
STATUS_COLOUR = {"isolated": "purple", "down": "red", "unknown": "grey", "up": "green"}
SITE_STATUS = ({"type": "value", "options": {
    str(code): {"text": status, "color": STATUS_COLOUR[status], "index": i}
    for i, (status, code) in enumerate(STATUS_CODE.items())}},)
TABLE = {"showHeader": True, "cellHeight": "sm"}
# Data links: click a site (map marker, table row) or a link row to open its page.
TO_SITE = {"links": [{"title": "Site page", "url": "/d/bw-site/borderwatch-site?"
                      "var-site=${__data.fields.site}&${__url_time_range}"}]}
TO_LINK = {"links": [{"title": "Link page", "url": "/d/bw-link/borderwatch-link?"
                      "var-link=${__data.fields.link}&${__url_time_range}"}]}


def _stat(title: str, expr: str, *, unit: str = "none", thresholds=RED_IF_ANY,
          description: str = "", width: int = 4) -> Panel:
    return Panel(title, "stat", (Query(expr, instant=True),), unit=unit, width=width, height=4,
                 thresholds=thresholds, description=description,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "background", "graphMode": "none"})


def _table(title: str, expr: str, *, unit: str = "none", mappings=(), description: str = "",
           width: int = 12, height: int = 8, hide: tuple[str, ...] = ("Time",),
           field: dict | None = None, columns: tuple[str, ...] = (),
           rename: dict[str, str] | None = None, sort: str | None = None) -> Panel:
    """An instant query as a table; `columns` first in that order, `sort` descending."""
    options: dict = {"excludeByName": dict.fromkeys(hide, True)}
    if columns:
        options["indexByName"] = {c: i for i, c in enumerate(columns)}
    if rename:
        options["renameByName"] = rename
    organize = {"id": "organize", "options": options}
    steps: tuple[dict, ...] = (organize,)
    if sort is not None:
        steps = ({"id": "sortBy", "options": {"sort": [{"field": sort, "desc": True}]}},
                 organize)
    return Panel(title, "table", (Query(expr, instant=True),), unit=unit, width=width,
                 height=height, mappings=mappings, description=description, options=TABLE,
                 field=field or {}, transformations=steps)


def _series(title: str, *queries: Query, unit: str = "none", description: str = "",
            width: int = 12, thresholds=()) -> Panel:
    return Panel(title, "timeseries", queries, unit=unit, width=width,
                 description=description, thresholds=thresholds,
                 options={"legend": {"displayMode": "table", "placement": "bottom",
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


COMMUNE_VAR = Variable("commune", "Commune", "query", COMMUNE_QUERY, include_all=True,
                       all_value=".*")
SITE_VAR = Variable("site", "Site", "query", f"label_values({SITE_IN_COMMUNE}, site)")
SITES_VAR = Variable("sites", "Sites", "query", f"label_values({SITE_IN_COMMUNE}, site)",
                     multi=True, include_all=True, all_value=".*")
LINK_VAR = Variable("link", "Link", "query", "label_values(borderwatch_link_info, link)")


def _map(rows: list[SiteRow]) -> Panel:
    # One number per site from the one-hot status (the other statuses are 0), then the
    # site's name and coordinates from borderwatch_site_info.
    code = " or ".join(f'borderwatch_site_status{{status="{status}"}} * {n}'
                       for status, n in STATUS_CODE.items())
    expr = (f"sum by (site) ({code}) "
            f"* on(site) group_left(name, commune, kind, lat, lon) {SITE_IN_COMMUNE}")
    centre_lat = sum(r.lat for r in rows) / len(rows)
    centre_lon = sum(r.lon for r in rows) / len(rows)
    return Panel(
        "Sites by status", "geomap", (Query(expr, instant=True),), unit="none",
        width=24, height=14,
        description="Each site's status (borderwatch_site_status, as on /status): green up, "
                    "grey unknown (not polled yet), red down (no device answers), purple "
                    "isolated (cut off behind another failure). Coordinates come from the "
                    "inventory (borderwatch_site_info) and are approximate.",
        thresholds=((None, "purple"), (2, "red"), (3, "grey"), (4, "green")),
        mappings=SITE_STATUS, field=TO_SITE,
        transformations=(
            # Table format makes every label a column; lat/lon are label strings.
            {"id": "convertFieldType", "options": {"conversions": [
                {"targetField": "lat", "destinationType": "number"},
                {"targetField": "lon", "destinationType": "number"}]}},
        ),
        options={
            "view": {"id": "coords", "lat": round(centre_lat, 3), "lon": round(centre_lon, 3),
                     "zoom": 9},
            "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
            "basemap": {"type": "default", "name": "Basemap"},
            "layers": [{
                "type": "markers", "name": "Sites", "tooltip": True,
                "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                "config": {"showLegend": True,
                           "style": {"size": {"fixed": 8},
                                     "color": {"field": "Value", "fixed": "grey"},
                                     "text": {"mode": "field", "field": "name"},
                                     "textConfig": {"fontSize": 10, "offsetY": -12}}},
            }],
            "tooltip": {"mode": "details"},
        })


def _site_count(title: str, status: str, description: str) -> Panel:
    one_hot = f'borderwatch_site_status{{status="{status}"}} == 1'
    return _stat(title, f"count({in_commune(one_hot)}) or vector(0)", width=3,
                 description=description)


def overview(rows: list[SiteRow]) -> Dashboard:
    """The network at a glance: map of sites by status, counts, incidents and what is down."""
    hide = ("Time", "__name__", "job", "instance")
    return Dashboard(
        "bw-overview", "borderwatch / Overview",
        "Lạng Sơn border network: sites on the map by status, device, link and site counts, "
        "open incidents and firing alerts, what is down now.",
        variables=(COMMUNE_VAR,),
        panels=(
            _stat("Devices up", f"sum({in_commune('borderwatch_device_up')})",
                  thresholds=((None, "green"),), width=3),
            _stat("Devices down",
                  f"count({in_commune('borderwatch_device_up == 0')}) or vector(0)", width=3),
            _stat("Links up", "sum(borderwatch_link_up)", thresholds=((None, "green"),),
                  width=3),
            _stat("Links down", "count(borderwatch_link_up == 0) or vector(0)", width=3),
            _site_count("Sites down", "down",
                        "Sites where no device answers and the topology shows no failure "
                        "upstream: power or the site's own node."),
            _site_count("Sites isolated", "isolated",
                        "Sites cut off behind another failed link or site (mất liên lạc)."),
            _stat("Redundancy lost",
                  f"count({in_commune('borderwatch_site_redundancy_lost == 1')}) or vector(0)",
                  thresholds=ORANGE_IF_ANY, width=3,
                  description="Reachable sites that now hang on a single path their plan "
                              "did not have (mất dự phòng)."),
            _stat("Incidents firing",
                  'count(borderwatch_incident_open{status="firing"}) or vector(0)', width=3,
                  description="Open incidents of borderwatch's alert engine (one per root "
                              "cause); needs an `alerts:` section in the inventory."),
            _map(rows),
            Row("Incidents now"),
            _table("Open incidents",
                   "borderwatch_incident_since_timestamp_seconds * 1000 * on(incident) "
                   "group_left(status, severity, root_cause, cut_off) borderwatch_incident_open",
                   unit="dateTimeAsIso", width=24, height=7, hide=hide,
                   columns=("severity", "status", "root_cause", "cut_off", "Value", "incident"),
                   rename={"root_cause": "root cause", "cut_off": "cut-off sites",
                           "Value": "since"},
                   sort="Value",
                   description="One row per incident of the alert engine (alerts grouped by "
                               "root cause): severity, root cause, the sites it cuts off and "
                               "when it started firing. Pending incidents show while they "
                               "wait out their rules' `for`."),
            _table("Firing alerts", "borderwatch_alert_firing", width=24, height=7,
                   hide=(*hide, "Value"),
                   columns=("severity", "alertname", "site", "device", "link", "subject",
                            "incident"),
                   description="Every firing alert (rule × subject), like Prometheus' "
                               "ALERTS; `incident` is the incident above it belongs to."),
            _table("Devices not answering", in_commune("borderwatch_device_up == 0"),
                   mappings=UP_DOWN, width=8, hide=hide, field=TO_SITE),
            _table("Links down", "borderwatch_link_up == 0", mappings=UP_DOWN, width=8,
                   hide=hide, field=TO_LINK),
            _table("Sites down or isolated",
                   in_commune('borderwatch_site_status{status=~"down|isolated"} == 1'),
                   width=8, hide=(*hide, "Value"), field=TO_SITE),
            Row("Traffic"),
            _series("Busiest links (utilisation)",
                    Query("topk(10, borderwatch_link_utilization_ratio)",
                          "{{link}} {{direction}}"),
                    unit="percentunit", width=24),
        ))


def site(rows: list[SiteRow]) -> Dashboard:
    """One site ($site): its devices, interfaces, power and radios."""
    s = 'site="$site"'
    return Dashboard(
        "bw-site", "borderwatch / Site",
        "Everything at one site: devices, interfaces, power and radio.",
        variables=(COMMUNE_VAR, SITE_VAR),
        panels=(
            Row("Devices"),
            _stat("Devices up", f"sum(borderwatch_device_up{{{s}}})",
                  thresholds=((None, "green"),)),
            _stat("Devices down", f"count(borderwatch_device_up{{{s}}} == 0) or vector(0)"),
            _table("Devices", f"borderwatch_device_up{{{s}}}", mappings=UP_DOWN, width=16,
                   height=6, hide=("Time", "__name__", "job", "instance", "site")),
            _series("Device uptime", Query(f"borderwatch_device_uptime_seconds{{{s}}}",
                                           "{{device}}"), unit="s"),
            _series("Poll duration", Query(f"borderwatch_device_poll_duration_seconds{{{s}}}",
                                           "{{device}}"), unit="s"),
            Row("Ping"),
            _series("Ping round trip",
                    Query(f"borderwatch_icmp_rtt_average_seconds{{{s}}}", "{{device}} average"),
                    Query(f"borderwatch_icmp_rtt_jitter_seconds{{{s}}}", "{{device}} jitter"),
                    unit="s", description="Over the pinger's window of rounds "
                    "(defaults.icmp.window); VSAT is about 0.6 s when healthy."),
            _series("Ping loss", Query(f"borderwatch_icmp_loss_ratio{{{s}}}", "{{device}}"),
                    unit="percentunit", thresholds=((None, "green"), (0.1, "red")),
                    description="Echo requests without a reply over the pinger's window."),
            Row("Interfaces"),
            _series("Receive", Query(f"rate(borderwatch_interface_receive_bytes_total{{{s}}}"
                                     f"[{RATE}]) * 8", "{{device}} {{ifName}}"), unit="bps"),
            _series("Transmit", Query(f"rate(borderwatch_interface_transmit_bytes_total{{{s}}}"
                                      f"[{RATE}]) * 8", "{{device}} {{ifName}}"), unit="bps"),
            _table("Interface status", f"borderwatch_interface_up{{{s}}}", mappings=UP_DOWN,
                   hide=("Time", "__name__", "job", "instance", "site")),
            _series("Interface errors and discards",
                    Query(f"rate(borderwatch_interface_receive_errors_total{{{s}}}[{RATE}])",
                          "{{device}} {{ifName}} rx errors"),
                    Query(f"rate(borderwatch_interface_transmit_errors_total{{{s}}}[{RATE}])",
                          "{{device}} {{ifName}} tx errors"),
                    Query(f"rate(borderwatch_interface_receive_discards_total{{{s}}}[{RATE}])",
                          "{{device}} {{ifName}} rx discards"),
                    unit="pps"),
            Row("Power"),
            _stat("UPS on battery", f"sum(borderwatch_ups_on_battery{{{s}}}) or vector(0)"),
            _stat("DC plant without mains",
                  f"count(borderwatch_power_mains_ok{{{s}}} == 0) or vector(0)"),
            _series("Battery runtime left",
                    Query(f"borderwatch_ups_battery_runtime_seconds{{{s}}}", "UPS {{device}}"),
                    Query(f"borderwatch_power_battery_runtime_seconds{{{s}}}",
                          "DC {{device}}"), unit="s", width=16),
            _series("Battery voltage",
                    Query(f"borderwatch_ups_battery_voltage_volts{{{s}}}", "UPS {{device}}"),
                    Query(f"borderwatch_power_battery_voltage_volts{{{s}}}", "DC {{device}}"),
                    unit="volt"),
            _series("UPS input voltage", Query(f"borderwatch_ups_input_voltage_volts{{{s}}}",
                                               "{{device}} line {{line}}"), unit="volt"),
            Row("Radio"),
            _series("Received signal level",
                    Query(f"borderwatch_radio_signal_dbm{{{s}}}", "{{device}} {{radio}}"),
                    unit="dBm"),
            _series("SNR", Query(f"borderwatch_radio_snr_db{{{s}}}", "{{device}} {{radio}}"),
                    unit="dB"),
            _series("Modulation",
                    Query(f"borderwatch_radio_modulation{{{s}}}", "{{device}} {{radio}}"),
                    unit="none", description="bits per symbol: QPSK 2, 16QAM 4 … 4096QAM 12"),
            _series("VSAT Es/No", Query(f"borderwatch_vsat_receive_esno_db{{{s}}}",
                                        "{{device}}"), unit="dB"),
        ))


def link() -> Dashboard:
    """One link ($link): state, utilisation and traffic per direction, errors, signal."""
    ln = 'link="$link"'
    return Dashboard(
        "bw-link", "borderwatch / Link",
        "One link: state, utilisation per direction, errors at both ends, radio signal.",
        variables=(LINK_VAR,),
        panels=(
            _stat("State", f"borderwatch_link_up{{{ln}}}",
                  thresholds=((None, "red"), (1, "green"))),
            _table("Ends", f"borderwatch_link_info{{{ln}}}", width=20, height=4,
                   hide=("Time", "__name__", "job", "instance", "Value")),
            _series("Utilisation per direction",
                    Query(f"borderwatch_link_utilization_ratio{{{ln}}}", "{{direction}}"),
                    unit="percentunit", thresholds=((None, "green"), (0.8, "red"))),
            _series("Traffic and capacity",
                    Query(f"borderwatch_link_traffic_bits_per_second{{{ln}}}",
                          "traffic {{direction}}"),
                    Query(f"borderwatch_link_capacity_bits_per_second{{{ln}}}",
                          "capacity {{direction}}"), unit="bps"),
            _series("Errors at both ends",
                    Query("sum by (device, ifName) (rate(borderwatch_interface_receive_errors_"
                          f"total[{RATE}])) * on(device, ifName) group_left() {LINK_ENDS}",
                          "{{device}} {{ifName}} rx"),
                    Query("sum by (device, ifName) (rate(borderwatch_interface_transmit_errors_"
                          f"total[{RATE}])) * on(device, ifName) group_left() {LINK_ENDS}",
                          "{{device}} {{ifName}} tx"), unit="pps"),
            _series("End interfaces up",
                    Query("max by (device, ifName) (borderwatch_interface_up) "
                          f"* on(device, ifName) group_left() {LINK_ENDS}",
                          "{{device}} {{ifName}}"), thresholds=((None, "red"), (1, "green"))),
            _series("Ping round trip to both ends",
                    Query("borderwatch_icmp_rtt_average_seconds * on(device) group_left(link) "
                          f"{LINK_DEVICES}", "{{device}}"), unit="s",
                    description="Average over the pinger's window, for ends that are pinged."),
            _series("Ping loss to both ends",
                    Query("borderwatch_icmp_loss_ratio * on(device) group_left(link) "
                          f"{LINK_DEVICES}", "{{device}}"), unit="percentunit",
                    thresholds=((None, "green"), (0.1, "red"))),
            _series("Received signal at both ends",
                    Query("borderwatch_radio_signal_dbm * on(device) group_left(link) "
                          f"{LINK_DEVICES}", "{{device}} {{radio}}"),
                    unit="dBm", description="Radio links (microwave, airMAX) only."),
            _series("SNR / Es/No at both ends",
                    Query(f"borderwatch_radio_snr_db * on(device) group_left(link) "
                          f"{LINK_DEVICES}", "{{device}} SNR"),
                    Query(f"borderwatch_vsat_receive_esno_db * on(device) group_left(link) "
                          f"{LINK_DEVICES}", "{{device}} Es/No"),
                    unit="dB", description="Microwave SNR; VSAT Es/No."),
        ))


def power(rows: list[SiteRow]) -> Dashboard:
    """UPS and DC plants of the selected sites: on battery, runtime, charge, mains."""
    ss = 'site=~"$sites"'
    return Dashboard(
        "bw-power", "borderwatch / Power and battery",
        "UPS (RFC 1628) and -48 V DC plants: mains, battery, runtime.",
        variables=(COMMUNE_VAR, SITES_VAR),
        panels=(
            _stat("UPS on battery", f"sum(borderwatch_ups_on_battery{{{ss}}}) or vector(0)"),
            _stat("DC plants without mains",
                  f"count(borderwatch_power_mains_ok{{{ss}}} == 0) or vector(0)"),
            _stat("Rectifier alarms",
                  f"sum(borderwatch_power_rectifier_alarms{{{ss}}}) or vector(0)"),
            _stat("Shortest runtime left",
                  f"min(borderwatch_ups_battery_runtime_seconds{{{ss}}} or "
                  f"borderwatch_power_battery_runtime_seconds{{{ss}}})", unit="s",
                  thresholds=((None, "red"), (1800, "orange"), (3600, "green"))),
            _table("UPS", f"borderwatch_ups_on_battery{{{ss}}}", mappings=MAINS_BATTERY,
                   hide=("Time", "__name__", "job", "instance"), field=TO_SITE),
            _table("DC plants", f"borderwatch_power_mains_ok{{{ss}}}", mappings=OK_ALARM,
                   hide=("Time", "__name__", "job", "instance"), field=TO_SITE),
            _series("Runtime left",
                    Query(f"borderwatch_ups_battery_runtime_seconds{{{ss}}}",
                          "UPS {{site}} {{device}}"),
                    Query(f"borderwatch_power_battery_runtime_seconds{{{ss}}}",
                          "DC {{site}} {{device}}"), unit="s"),
            _series("UPS battery charge",
                    Query(f"borderwatch_ups_battery_charge_ratio{{{ss}}}", "{{site}} {{device}}"),
                    unit="percentunit"),
            _series("Battery voltage",
                    Query(f"borderwatch_ups_battery_voltage_volts{{{ss}}}", "UPS {{device}}"),
                    Query(f"borderwatch_power_battery_voltage_volts{{{ss}}}", "DC {{device}}"),
                    unit="volt"),
            _series("DC battery and load current",
                    Query(f"borderwatch_power_battery_current_amperes{{{ss}}}",
                          "battery {{device}}"),
                    Query(f"borderwatch_power_load_current_amperes{{{ss}}}", "load {{device}}"),
                    unit="amp", description="Battery current: positive charging, "
                                            "negative discharging."),
            _series("Battery temperature",
                    Query(f"borderwatch_ups_battery_temperature_celsius{{{ss}}}",
                          "UPS {{device}}"),
                    Query(f"borderwatch_power_battery_temperature_celsius{{{ss}}}",
                          "DC {{device}}"), unit="celsius"),
            _series("UPS input voltage",
                    Query(f"borderwatch_ups_input_voltage_volts{{{ss}}}",
                          "{{device}} line {{line}}"), unit="volt"),
        ))


def dashboards(rows: list[SiteRow]) -> list[Dashboard]:
    """All dashboards, in file order."""
    return [overview(rows), site(rows), link(), power(rows)]
