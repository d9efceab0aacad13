"""Prometheus alerting rules (and Alertmanager inhibit rules) from borderwatch's own rules.

For shops that alert from Prometheus: the same rule definitions the engine runs
(`alerts.rules.load_rules`) become a rules file over the metrics `/metrics` exports
(docs/metrics.md). What maps to what:

* `for` → `for`; `clear_for` → `keep_firing_for` (Prometheus ≥ 2.42, the packaged version).
* Hysteresis (`clear` ≠ `threshold`): the expression fires past `threshold`, and keeps an
  alert that is already pending or firing (its own `ALERTS` series) while the value stays
  past `clear` — the lifecycle's "inside the band the previous condition holds".
* Flap detection (yes/no kinds): a second alert `<Name>Flapping` on `changes(series[window])
  >= changes`, held until the window holds at most `clear_changes`; an inhibit rule lets it
  replace `<Name>` for the same subject, as the engine's one flapping alert does.
* `match` selectors are resolved against the inventory at generation time into id regexes
  (a site kind becomes its sites, a device role its devices, a medium its links).
* Root-cause suppression has no PromQL form: the inhibit rules (SiteIsolated and SiteDown
  silence the device-level alerts of the same site, a Flapping alert its plain twin) go to
  a second file, a complete Alertmanager configuration `amtool check-config` accepts.

What does not map is skipped with a comment naming it in the output, never approximated
silently; `Generated.skipped` lists the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import yaml

from borderwatch.alerts.duration import format_duration
from borderwatch.alerts.rules import Rule, RuleSet
from borderwatch.alerts.signals import (
    DC_MAINS_OK,
    DC_RUNTIME,
    ERROR_METRICS,
    IF_ADMIN,
    PACKET_METRICS,
    RADIO_NOMINAL,
    RADIO_SIGNAL,
    UPS_ON_BATTERY,
    UPS_RUNTIME,
)
from borderwatch.alerts.topology import Topology
from borderwatch.exporters.site_info import SITE_INFO
from borderwatch.exporters.site_status import REDUNDANCY_LOST, SITE_STATUS

# The engine judges rates over one poll interval; Prometheus needs a window holding at
# least two scrapes of a 60 s device, so counters are averaged over this one instead.
RATE_WINDOW = "5m"
DEVICE_UP = "borderwatch_device_up"
DEVICE_PARTIAL = "borderwatch_device_partial"
ICMP_UP = "borderwatch_icmp_up"
ICMP_RTT = "borderwatch_icmp_rtt_average_seconds"
ICMP_LOSS = "borderwatch_icmp_loss_ratio"
LINK_UP = "borderwatch_link_up"
LINK_UTILIZATION = "borderwatch_link_utilization_ratio"
LINK_INFO = "borderwatch_link_info"  # {link, a_site, b_site, ...} = 1: the link's ends
IF_UP = "borderwatch_interface_up"
DEFAULT_DASHBOARD = "/d/bw-site/borderwatch-site?var-site={site}"  # Grafana, relative
LINK_DASHBOARD = "/d/bw-link/borderwatch-link?var-link={{ $labels.link }}"

# Rule kind → the concern (rule group) it belongs to.
CONCERNS = {
    "site_isolated": "reachability", "site_down": "reachability",
    "redundancy_lost": "reachability", "device_unreachable": "reachability",
    "snmp_agent_down": "reachability", "site_rtt_high": "reachability",
    "site_loss_high": "reachability",
    "device_incomplete": "data",
    "link_down": "links", "interface_down": "links", "link_utilization": "traffic",
    "link_rtt_high": "links", "link_loss_high": "links",
    "interface_errors": "traffic", "radio_fade": "radio", "radio_signal_low": "radio",
    "radio_snr_low": "radio", "on_battery": "power", "battery_runtime_low": "power",
    "gauge_above": "gauges", "gauge_below": "gauges",
}
# Alerts about a whole site whose firing explains the device-level alerts of that site.
SITE_ROOT_KINDS = ("site_isolated", "site_down")


class PromRulesError(ValueError):
    """The rules cannot be expressed (e.g. a name clash between a rule and a Flapping alert)."""


@dataclass(frozen=True)
class Skipped:
    """A rule (or part of one) left out, and why."""

    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


@dataclass
class Generated:
    """The two output texts plus what was left out."""

    rules_yaml: str
    inhibit_yaml: str
    alerts: list[str] = field(default_factory=list)  # alert names emitted, in order
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Query:
    """A rule kind as PromQL: the value (or condition) and what it is about."""

    value: str  # threshold kinds: the value; yes/no kinds: a selector filtered to "true"
    subject: tuple[str, ...]  # labels naming the subject (for inhibit `equal`)
    site_labels: tuple[str, ...] = ("site",)  # labels holding site ids (for names)
    flap_series: str | None = None  # yes/no kinds: changes(...) over this, per subject
    gate: str | None = None  # subjects forced clear (battery runtime while on mains)
    notes: tuple[str, ...] = ()  # comments on where the mapping differs in detail


# ----------------------------------------------------------------------------- PromQL text

def _quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex(values: Iterable[str]) -> str:
    """An anchored RE2 alternation of literal values (Prometheus anchors matchers)."""
    return "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", v) for v in sorted(values))


def _selector(metric: str, matchers: dict[str, str] | None = None, **equal: str) -> str:
    """`metric{k="v", k=~"a|b"}`; `matchers` values are regexes, `equal` literal values."""
    parts = [f"{k}={_quote(v)}" for k, v in equal.items()]
    parts += [f"{k}=~{_quote(v)}" for k, v in sorted((matchers or {}).items())]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _tagged_sum(metrics: Sequence[str], matchers: dict[str, str]) -> str:
    """Sum of several counters' rates per series: each rate is tagged with its metric first,
    since rate() drops the name and a vector may not hold two series with the same labels."""
    terms = [f'label_replace(rate({_selector(m, matchers)}[{RATE_WINDOW}]), "bw_metric", '
             f'"{i}", "", "")' for i, m in enumerate(metrics)]
    return "sum without (bw_metric) (\n  " + "\n  or ".join(terms) + "\n)"


# ----------------------------------------------------------------------------- selectors

class _Scope:
    """A rule's `match`, resolved against the inventory into label regexes."""

    def __init__(self, rule: Rule, topo: Topology) -> None:
        self.topo = topo
        self.m = rule.match

    def sites(self) -> set[str] | None:
        if self.m is None or (self.m.sites is None and self.m.site_kinds is None):
            return None
        out = set(self.topo.sites)
        if self.m.sites is not None:
            out &= set(self.m.sites)
        if self.m.site_kinds is not None:
            out = {s for s in out if self.topo.sites[s].kind in self.m.site_kinds}
        return out

    def devices(self) -> set[str] | None:
        if self.m is None or (self.m.devices is None and self.m.device_roles is None):
            return None
        out = set(self.topo.devices)
        if self.m.devices is not None:
            out &= set(self.m.devices)
        if self.m.device_roles is not None:
            out = {d for d in out if self.topo.devices[d].role in self.m.device_roles}
        return out

    def links(self) -> set[str] | None:
        """Links admitted by links, media and (either end's) sites/site kinds."""
        m = self.m
        if m is None or all(getattr(m, f) is None for f in ("links", "media", "sites",
                                                            "site_kinds")):
            return None
        sites = self.sites()
        return {lid for lid, link in self.topo.links.items()
                if (m.links is None or lid in m.links)
                and (m.media is None or link.medium in m.media)
                and (sites is None or {link.a_site, link.b_site} & sites)}

    def device_matchers(self) -> dict[str, str] | None:
        """{site: regex, device: regex} for device-level metrics; None: matches nothing."""
        out = {}
        sites, devices = self.sites(), self.devices()
        if sites is not None and devices is not None:  # keep the regex to what can match
            devices = {d for d in devices if self.topo.devices[d].site_id in sites}
        for label, ids in (("site", sites), ("device", devices)):
            if ids is not None:
                if not ids:
                    return None
                out[label] = _regex(ids)
        return out

    def link_selector_given(self) -> bool:
        return self.m is not None and (self.m.links is not None or self.m.media is not None)


# ----------------------------------------------------------------------------- kinds

_DEV = ("site", "device")


def _per_device(metric: str, matchers: dict[str, str]) -> str:
    return f"max by (site, device) ({_selector(metric, matchers)})"


def _on_battery_value(matchers: dict[str, str]) -> str:
    """1 on battery, 0 on mains: the UPS's word first, a DC plant's mains state otherwise."""
    return (f"{_per_device(UPS_ON_BATTERY, matchers)}\n  or (1 - "
            f"{_per_device(DC_MAINS_OK, matchers)})")


def _declared(metric: str, topo: Topology, devices: set[str] | None,
              sites: set[str] | None, wrap: Callable[[str], str] = lambda s: s) -> str | None:
    """`metric` of the interfaces the inventory declares (by ifName, or ifDescr); `wrap`
    applies a function to each selector (changes() needs a plain selector)."""
    by_names: dict[tuple[str, ...], list[str]] = {}  # devices that declare the same names
    for dev_id, dev in sorted(topo.devices.items()):
        if not dev.interfaces or (devices is not None and dev_id not in devices) or (
                sites is not None and dev.site_id not in sites):
            continue
        by_names.setdefault(tuple(sorted(set(dev.interfaces))), []).append(dev_id)
    terms = []
    for names, devs in sorted(by_names.items()):
        match = {"device": _regex(devs)}
        terms += [wrap(_selector(metric, {**match, "ifName": _regex(names)})),
                  wrap(_selector(metric, {**match, "ifDescr": _regex(names)}))]
    return "(\n    " + "\n    or ".join(terms) + "\n  )" if terms else None


def _interface_scope(rule: Rule, scope: _Scope, metric: str,
                     wrap: Callable[[str], str] = lambda s: s) -> tuple[str, tuple[str, ...]]:
    """(selector of the interfaces a rule looks at over `metric`, notes)."""
    matchers = scope.device_matchers() or {}
    if rule.interfaces == "all":
        sel = (f"({wrap(_selector(metric, matchers))}\n  unless on (site, device, ifIndex) "
               f"{_selector(IF_ADMIN, matchers)} != 1)")
        return sel, ("interfaces: all — administratively down interfaces are left out, as "
                     "in the engine",)
    declared = _declared(metric, scope.topo, scope.devices(), scope.sites(), wrap)
    if declared is None:
        raise _Skip("no declared interface in this inventory matches")
    return declared, ("declared interfaces are found by ifName or ifDescr (the engine also "
                      "tries ifIndex, and prefers ifName when two interfaces claim a name)",)


class _Skip(Exception):
    """This rule has no faithful PromQL form; the message says why."""


def _query(rule: Rule, topo: Topology, flap_window: str | None) -> _Query:
    scope = _Scope(rule, topo)
    kind = rule.kind
    spec = rule.spec
    if spec.subject != "link" and scope.link_selector_given():
        raise _Skip(f"match.links / match.media on a {spec.subject} rule: the exported "
                    "series carry no link label to select by")
    if spec.subject == "link":
        links = scope.links()
        if links is not None and not links:
            raise _Skip("match selects no link of this inventory")
        lm = {} if links is None else {"link": _regex(links)}
    else:
        dm = scope.device_matchers()
        if dm is None:
            raise _Skip("match selects nothing in this inventory")
        lm = dm

    def changes(series: str) -> str:
        return f"changes({series}[{flap_window}])"

    def flap(series: str) -> str | None:
        return changes(series) if flap_window else None

    if kind in ("device_unreachable", "snmp_agent_down"):
        # a host that answers ping is reachable: its silent agent is snmp_agent_down
        sel = _selector(DEVICE_UP, lm)
        join = "unless" if kind == "device_unreachable" else "and"
        pings = f"{join} on (site, device) {_selector(ICMP_UP, lm)} == 1"
        flaps = flap(sel)
        return _Query(f"{sel} == 0\n  {pings}", _DEV,
                      flap_series=f"{flaps}\n  {pings}" if flaps else None)
    if kind in ("site_rtt_high", "site_loss_high"):
        metric = ICMP_RTT if kind == "site_rtt_high" else ICMP_LOSS
        return _Query(f"min by (site) (\n  {_selector(metric, lm)}\n  and on (site, device) "
                      f"{_selector(ICMP_UP, lm)} == 1\n)", ("site",),
                      notes=("the best of the site's pinged devices that answer",))
    if kind == "device_incomplete":
        sel = _selector(DEVICE_PARTIAL, lm)
        return _Query(f"{sel} == 1", _DEV, flap_series=flap(sel))
    if kind in ("site_down", "site_isolated"):
        sel = _selector(SITE_STATUS, {k: v for k, v in lm.items() if k == "site"},
                        status="down" if kind == "site_down" else "isolated")
        return _Query(f"{sel} == 1", ("site",), flap_series=flap(sel))
    if kind == "redundancy_lost":
        sel = _selector(REDUNDANCY_LOST, {k: v for k, v in lm.items() if k == "site"})
        return _Query(f"{sel} == 1", ("site",), flap_series=flap(sel))
    if kind == "link_down":
        sel = _selector(LINK_UP, lm)
        return _Query(f"{sel} == 0", ("link",), ("a_site", "b_site"), flap(sel))
    if kind in ("link_rtt_high", "link_loss_high"):
        metric = ICMP_RTT if kind == "link_rtt_high" else ICMP_LOSS
        pinged = f"{_selector(metric)} and on (site, device) {_selector(ICMP_UP)} == 1"

        def end(side: str) -> str:  # the link's `side` end device's value, per link
            return (f"max by (link, a_site, b_site) (\n    {_selector(LINK_INFO, lm)}\n"
                    f"    * on ({side}_device) group_left label_replace(\n      {pinged},\n"
                    f'      "{side}_device", "$1", "device", "(.*)"))')
        return _Query(f"abs(\n  {end('a')}\n  - {end('b')}\n)", ("link",),
                      ("a_site", "b_site"),
                      notes=("what the link adds: |a end − b end| of its end devices' ping "
                             "values; sites behind it are not inhibited here (the engine "
                             "groups them under the link)",))
    if kind == "link_utilization":
        # the ends' sites joined on from borderwatch_link_info, for names and the dashboard
        return _Query(f"{_selector(LINK_UTILIZATION, lm)}\n  * on (link) group_left (a_site, "
                      f"b_site) max by (link, a_site, b_site) ({_selector(LINK_INFO, lm)})",
                      ("link", "direction"), ("a_site", "b_site"))
    if kind == "interface_down":
        sel, notes = _interface_scope(rule, scope, IF_UP)
        flaps = _interface_scope(rule, scope, IF_UP, changes)[0] if flap_window else None
        return _Query(f"{sel} == 0", ("site", "device", "ifIndex"), flap_series=flaps,
                      notes=notes)
    if kind == "interface_errors":
        errors = _tagged_sum(ERROR_METRICS, lm)
        value = errors if rule.basis != "packets" else \
            f"(\n{errors}\n) / (\n{_tagged_sum(PACKET_METRICS, lm)}\n)"
        scoped, notes = _interface_scope(rule, scope, IF_UP)
        return _Query(f"({value})\n  and on (site, device, ifIndex) {scoped}",
                      ("site", "device", "ifIndex"),
                      notes=(*notes, f"errors per second are averaged over {RATE_WINDOW} "
                             "(the engine: over one poll interval)"))
    if kind == "radio_fade":
        return _Query(f"{_selector(RADIO_NOMINAL, lm)} - {_selector(RADIO_SIGNAL, lm)}",
                      (*_DEV, "radio"))
    if kind == "radio_signal_low":
        return _Query(f"{_selector(RADIO_SIGNAL, lm)} unless "
                      f"{_selector(RADIO_NOMINAL, lm)}", (*_DEV, "radio"),
                      notes=("radios with a planned level are judged by radio_fade",))
    if kind in ("radio_snr_low", "gauge_above", "gauge_below"):
        assert rule.metric_name is not None
        return _Query(_selector(rule.metric_name, lm), _DEV)
    if kind == "on_battery":
        return _Query(f"({_on_battery_value(lm)}) == 1", _DEV,
                      flap_series=(f"max by (site, device) (changes({_selector(UPS_ON_BATTERY, lm)}"
                                   f"[{flap_window}]))\n  or max by (site, device) "
                                   f"(changes({_selector(DC_MAINS_OK, lm)}[{flap_window}]))")
                      if flap_window else None)
    if kind == "battery_runtime_low":
        runtime = f"{_per_device(UPS_RUNTIME, lm)}\n  or {_per_device(DC_RUNTIME, lm)}"
        gate = None if rule.while_on_battery is False else \
            f"({_on_battery_value(lm)}) == 0"
        return _Query(runtime, _DEV, gate=gate)
    raise _Skip(f"kind {kind} has no PromQL template")  # pragma: no cover (KINDS is closed)


# ----------------------------------------------------------------------------- annotations

def _site_name(label: str, lang: str) -> str:
    """Template text: the site's name, looked up in the exported borderwatch_site_info.

    English: `name_en` without its notes in parentheses (as alerts.render shows it), else
    the Vietnamese name; the site id when the lookup finds nothing.
    """
    lookup = f'{{{{ with printf "{SITE_INFO}{{site=%q}}" $labels.{label} | query }}}}'
    missing = f"{{{{ else }}}}{{{{ $labels.{label} }}}}{{{{ end }}}}"
    if lang == "vi":
        return lookup + '{{ . | first | label "name" }}' + missing
    return (lookup + '{{ $site := . | first }}{{ with $site | label "name_en" }}'
            '{{ reReplaceAll `\\s*\\([^)]*\\)` "" . }}{{ else }}{{ $site | label "name" }}'
            '{{ end }}' + missing)


def _summaries(rule: Rule, q: _Query) -> tuple[str, str]:
    """(Vietnamese, English) summary templates for a rule's alerts."""
    k = rule.kind
    value = "{{ $value | humanize }}"
    if q.site_labels == ("a_site", "b_site"):
        a_vi, b_vi = _site_name("a_site", "vi"), _site_name("b_site", "vi")
        a_en, b_en = _site_name("a_site", "en"), _site_name("b_site", "en")
        if k == "link_down":
            return (f"Mất tuyến {{{{ $labels.link }}}} {a_vi} – {b_vi}",
                    f"Link {{{{ $labels.link }}}} {a_en} – {b_en} is down")
        if k == "link_rtt_high":
            amount = "{{ $value | humanizeDuration }}"
            return (f"Tuyến {{{{ $labels.link }}}} {a_vi} – {b_vi} suy giảm: tăng trễ ping "
                    f"thêm {amount}",
                    f"Link {{{{ $labels.link }}}} {a_en} – {b_en} degraded: adds {amount} of "
                    "ping round trip")
        if k == "link_loss_high":
            pct = "{{ $value | humanizePercentage }}"
            return (f"Tuyến {{{{ $labels.link }}}} {a_vi} – {b_vi} suy giảm: mất thêm {pct} "
                    "gói ping",
                    f"Link {{{{ $labels.link }}}} {a_en} – {b_en} degraded: adds {pct} ping "
                    "loss")
        if k == "link_utilization":
            pct = "{{ $value | humanizePercentage }}"
            way = "{{ $labels.direction }}"
            return (f"Tuyến {{{{ $labels.link }}}} {a_vi} – {b_vi} ({way}) tải {pct} dung lượng",
                    f"Link {{{{ $labels.link }}}} {a_en} – {b_en} ({way}) at {pct} of capacity")
    vi, en = _site_name("site", "vi"), _site_name("site", "en")
    dev = "{{ $labels.device }}"
    iface = "{{ or $labels.ifName $labels.ifDescr }}"  # ifName, else ifDescr
    texts = {
        "site_isolated": (f"Mất liên lạc {vi}: bị cô lập khỏi trung tâm",
                          f"{en} is cut off from the core"),
        "site_down": (f"{vi} không phản hồi: mọi thiết bị mất kết nối (nghi mất điện hoặc "
                      "hỏng thiết bị)",
                      f"{en} is down: no device answers while its links look fine"),
        "redundancy_lost": (f"{vi} mất dự phòng: chỉ còn một đường truyền",
                            f"{en} lost redundancy: it hangs on a single path"),
        "device_unreachable": (f"Thiết bị {dev} tại {vi} không phản hồi SNMP",
                               f"Device {dev} at {en} does not answer SNMP"),
        "snmp_agent_down": (f"Tác nhân SNMP của thiết bị {dev} tại {vi} không phản hồi "
                            "(thiết bị vẫn trả lời ping)",
                            f"SNMP agent of device {dev} at {en} not answering (the host "
                            "answers ping)"),
        "site_rtt_high": (f"Đường truyền tới {vi} suy giảm: trễ ping "
                          "{{ $value | humanizeDuration }}",
                          f"Path to {en} degraded: ping round trip "
                          "{{ $value | humanizeDuration }}"),
        "site_loss_high": (f"Đường truyền tới {vi} suy giảm: mất gói ping "
                           "{{ $value | humanizePercentage }}",
                           f"Path to {en} degraded: ping loss "
                           "{{ $value | humanizePercentage }}"),
        "device_incomplete": (f"Dữ liệu của thiết bị {dev} tại {vi} không đầy đủ",
                              f"Data of device {dev} at {en} is incomplete"),
        "interface_down": (f"Cổng {iface} của {dev} tại {vi} mất kết nối",
                           f"Interface {iface} of {dev} at {en} is down"),
        "interface_errors": (f"Lỗi gói trên cổng {iface} của {dev} tại {vi}: {value}/s",
                             f"Packet errors on {iface} of {dev} at {en}: {value}/s"),
        "radio_fade": (f"Suy giảm tín hiệu viba {dev} tại {vi}: thấp hơn thiết kế {value} dB",
                       f"Microwave fade on {dev} at {en}: {value} dB below plan"),
        "radio_signal_low": (f"Mức thu thấp trên {dev} tại {vi}: {value} dBm",
                             f"Low receive level on {dev} at {en}: {value} dBm"),
        "radio_snr_low": (f"Tỷ số tín hiệu/tạp âm thấp trên {dev} tại {vi}: {value} dB",
                          f"Low signal-to-noise ratio on {dev} at {en}: {value} dB"),
        "on_battery": (f"{vi} mất điện lưới: {dev} đang chạy ắc quy",
                       f"{en} lost mains power: {dev} runs on battery"),
        "battery_runtime_low": (f"{vi} sắp cạn ắc quy: còn {{{{ $value | humanizeDuration }}}}",
                                f"{en} battery nearly flat: "
                                "{{ $value | humanizeDuration }} left"),
    }
    if k in texts:
        return texts[k]
    metric = rule.metric_name
    cmp_vi = "trên" if k == "gauge_above" else "dưới"
    cmp_en = "above" if k == "gauge_above" else "below"
    return (f"{metric} của {dev} tại {vi} {cmp_vi} ngưỡng: {value}",
            f"{metric} of {dev} at {en} {cmp_en} threshold: {value}")


def _dashboard(q: _Query, dashboard_url: str | None) -> str:
    if "site" not in q.site_labels:
        return LINK_DASHBOARD if dashboard_url is None else \
            dashboard_url.replace("{site}", "{{ $labels.a_site }}")
    return (dashboard_url or DEFAULT_DASHBOARD).replace("{site}", "{{ $labels.site }}")


# ----------------------------------------------------------------------------- rules

def _ignoring(static: dict[str, str]) -> str:
    """`ignoring(...)` that lines an expression up with its alert's ALERTS series."""
    return f"ignoring ({', '.join(['alertname', 'alertstate', *static])})"


def _threshold_expr(rule: Rule, q: _Query, static: dict[str, str]) -> tuple[str, list[str]]:
    op = ">" if rule.spec.direction == "above" else "<"
    # a comparison binds tighter than and/unless/or: an expression joined by those must be
    # parenthesised before it is compared
    value = q.value if re.fullmatch(r"[\w:]+(\{[^{}]*\})?", q.value) else f"({q.value})"
    fire = f"{value} {op} {rule.threshold:g}"
    comments = []
    if rule.clear is not None and rule.clear != rule.threshold:
        held = (f"({value} {op} {rule.clear:g})\n  and {_ignoring(static)} "
                f"ALERTS{{alertname={_quote(rule.name)}}}")
        expr = f"({fire})\nor\n({held})"
        comments.append(f"hysteresis: fires past {rule.threshold:g}; an alert already "
                        f"pending or firing holds until the value is back at {rule.clear:g}")
    else:
        expr = fire
    if q.gate is not None:
        expr = f"({expr})\nunless on (site, device) {q.gate}"
        comments.append("while_on_battery: a device on mains power never counts")
    return expr, comments


def _alert(name: str, expr: str, for_: float, keep: float, labels: dict[str, str],
           annotations: dict[str, str]) -> dict:
    out: dict = {"alert": name, "expr": expr}
    if for_ > 0:
        out["for"] = format_duration(for_)
    if keep > 0:
        out["keep_firing_for"] = format_duration(keep)
    out["labels"] = labels
    out["annotations"] = annotations
    return out


@dataclass
class _Entry:
    comments: list[str]
    body: dict


def _rule_entries(rule: Rule, ruleset: RuleSet, topo: Topology, dashboard_url: str | None,
                  skipped: list[Skipped]) -> tuple[list[_Entry], _Query | None]:
    flap = ruleset.flap(rule)
    yes_no = rule.spec.direction is None
    window = format_duration(flap.window) if flap is not None and yes_no else None
    try:
        q = _query(rule, topo, window)
    except _Skip as exc:
        skipped.append(Skipped(rule.name, str(exc)))
        return [], None
    static = {"severity": rule.severity, **rule.labels}
    clash = sorted(set(rule.labels) & {*q.subject, *q.site_labels, "severity", "status",
                                       "flapping", "alertname", "alertstate"})
    if clash:  # a rule label would overwrite the series' own, and the ALERTS join with it
        skipped.append(Skipped(rule.name, f"labels {', '.join(clash)} would overwrite the "
                               "alert's own labels"))
        return [], None
    vi, en = _summaries(rule, q)
    annotations = {"summary_vi": vi, "summary_en": en}
    if rule.description:
        annotations["description"] = rule.description
    annotations["dashboard"] = _dashboard(q, dashboard_url)
    comments = [rule.describe()]
    comments += list(q.notes)
    if yes_no:
        expr = q.value
    else:
        expr, more = _threshold_expr(rule, q, static)
        comments += more
    if rule.clear_for > 0:
        comments.append(f"clear_for {format_duration(rule.clear_for)} → keep_firing_for")
        if not yes_no and rule.clear is not None and rule.clear != rule.threshold:
            comments.append("differs in detail: a value back inside the hysteresis band "
                            "during keep_firing_for makes Prometheus fire on (the engine "
                            "keeps counting towards the clear)")
    entries = [_Entry(comments, _alert(rule.name, expr, rule.for_, rule.clear_for, static,
                                       annotations))]
    if flap is not None and not yes_no:
        skipped.append(Skipped(f"{rule.name}Flapping", "flap detection of a threshold rule "
                               "(changes() counts a stored series, not a condition with "
                               "hysteresis)"))
    if flap is not None and q.flap_series is not None:
        fname = f"{rule.name}Flapping"
        if fname in {r.name for r in ruleset.rules}:
            raise PromRulesError(f"rule {fname} clashes with the flapping alert of {rule.name}")
        fstatic = {**static, "flapping": "true"}
        fexpr = (f"({q.flap_series}) >= {flap.changes}\nor\n(({q.flap_series}) > "
                 f"{flap.clear_changes}\n  and {_ignoring(fstatic)} "
                 f"ALERTS{{alertname={_quote(fname)}}})")
        fann = {"summary_vi": f"Chập chờn: {vi}", "summary_en": f"Flapping: {en}",
                "dashboard": annotations["dashboard"]}
        entries.append(_Entry(
            [f"{fname}: {flap.changes} changes within {format_duration(flap.window)} make one "
             f"flapping alert at once (no `for`); it ends at {flap.clear_changes} or fewer"],
            _alert(fname, fexpr, 0, 0, fstatic, fann)))
    return entries, q


def generate(ruleset: RuleSet, topo: Topology, *, dashboard_url: str | None = None,
             source: str = "") -> Generated:
    """The Prometheus rules file and the Alertmanager inhibit configuration for a rule set."""
    groups: dict[str, list[_Entry]] = {}
    skipped: list[Skipped] = []
    alerts: list[str] = []
    queries: dict[str, _Query] = {}
    for rule in ruleset.rules:
        entries, q = _rule_entries(rule, ruleset, topo, dashboard_url, skipped)
        if q is not None:
            queries[rule.name] = q
        groups.setdefault(CONCERNS[rule.kind], []).extend(entries)
        alerts += [e.body["alert"] for e in entries]
    lines = [
        "# Generated by `borderwatch rules` from " + (source or "the borderwatch rules") + ".",
        "# Do not edit: change the rules (or the inventory) and regenerate; CI checks drift.",
        "#",
        "# Differences from the engine, by design of Prometheus:",
        "# - no data resolves a firing alert here (the engine holds it until data returns);",
        "# - root-cause suppression is Alertmanager's inhibit_rules (the second file);",
        "# - the site-level alerts read borderwatch_site_status and",
        "#   borderwatch_site_redundancy_lost, the summaries borderwatch_site_info (site",
        "#   names), all exported by `borderwatch run`.",
    ]
    if skipped:
        lines.append("#\n# Skipped (no faithful PromQL form):")
        lines += [f"# - {s}" for s in skipped]
    lines.append("groups:")
    for concern in ("reachability", "data", "links", "traffic", "radio", "power", "gauges"):
        if groups.get(concern):
            lines += _group_text(f"borderwatch-{concern}", groups[concern], None)
    inhibit = _inhibit_yaml(ruleset, queries, set(alerts), source)
    return Generated("\n".join(lines) + "\n", inhibit, alerts, skipped)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (PromQL reads better that way)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def _group_text(name: str, entries: list[_Entry], comment: str | None) -> list[str]:
    out = [f"- name: {name}"]  # evaluated at Prometheus' global evaluation_interval
    if comment:
        out.insert(0, f"# {comment}")
    out.append("  rules:")
    for e in entries:
        out += [f"  # {c}" for c in e.comments]
        text = _dump([e.body]).rstrip("\n")
        out += ["  " + line if line else line for line in text.split("\n")]
    return out


# ----------------------------------------------------------------------------- Alertmanager

def _inhibit_yaml(ruleset: RuleSet, queries: dict[str, _Query], emitted: set[str],
                  source: str) -> str:
    """A complete Alertmanager config (a do-nothing receiver) holding the inhibit rules."""
    rules = ruleset.rules
    site_alerts = sorted(name for r in rules if r.name in queries
                         and queries[r.name].site_labels == ("site",)
                         and r.kind not in SITE_ROOT_KINDS
                         for name in (r.name, r.name + "Flapping") if name in emitted)
    inhibit = []
    for root in (r for r in rules if r.kind in SITE_ROOT_KINDS and r.name in queries):
        if site_alerts:
            inhibit.append({"source_matchers": [f"alertname={_quote(root.name)}"],
                            "target_matchers": [f"alertname=~{_quote(_regex(site_alerts))}"],
                            "equal": ["site"]})
    for r in rules:
        q = queries.get(r.name)
        if q is not None and r.name + "Flapping" in emitted:
            inhibit.append({"source_matchers": [f'alertname={_quote(r.name + "Flapping")}'],
                            "target_matchers": [f"alertname={_quote(r.name)}"],
                            "equal": list(q.subject)})
    config = {"route": {"receiver": "borderwatch", "group_by": ["alertname", "site"]},
              "receivers": [{"name": "borderwatch"}],
              "inhibit_rules": inhibit}
    head = ("# Generated by `borderwatch rules` from " + (source or "the borderwatch rules")
            + ".\n# Alertmanager inhibit rules for the generated Prometheus alerts: copy\n"
            "# `inhibit_rules` into your configuration (route and receiver here are\n"
            "# placeholders so that `amtool check-config` can validate this file).\n"
            "# - a site cut off (SiteIsolated) or down (SiteDown) explains the device-level\n"
            "#   alerts of that site; LinkDown is never inhibited, since the failed link is\n"
            "#   the root cause of an isolation;\n"
            "# - a <Name>Flapping alert replaces <Name> for the same subject.\n")
    return head + _dump(config)


