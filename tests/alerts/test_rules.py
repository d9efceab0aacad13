"""Rule files: the defaults load, bad definitions give exact file:line messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from borderwatch.alerts.duration import DurationError, format_duration, parse_duration
from borderwatch.alerts.rules import (
    DEFAULT_RULES_PATH,
    KINDS,
    KnownIds,
    RulesError,
    default_rules,
    load_rules,
)
from borderwatch.alerts.signals import EVALUATORS
from borderwatch.alerts.topology import Topology
from borderwatch.collector.profiles import metric_catalog

HEAD = "schema_version: 1\nrules:\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def errors(path: Path, topo: Topology | None = None) -> list[str]:
    """The error lines, with the temporary directory cut off."""
    known = KnownIds.from_topology(topo) if topo else None
    with pytest.raises(RulesError) as info:
        load_rules(path, known=known, metrics=metric_catalog())
    return [line.replace(str(path), "rules.yaml") for line in str(info.value).splitlines()]


def test_defaults_load_and_cover_the_issue(topo: Topology) -> None:
    rules = load_rules(None, known=KnownIds.from_topology(topo), metrics=metric_catalog())
    kinds = {r.kind for r in rules.rules}
    assert kinds >= {"device_unreachable", "link_down", "interface_down", "link_utilization",
                     "interface_errors", "radio_fade", "radio_snr_low", "on_battery",
                     "battery_runtime_low", "site_isolated", "redundancy_lost", "site_down"}
    assert {r.severity for r in rules.rules} == {"critical", "major", "warning"}
    for rule in rules.rules:
        if rule.spec.direction:  # every threshold rule has hysteresis in the defaults
            assert rule.clear is not None and rule.clear != rule.threshold, rule.name
    assert rules.settings.flap.changes == 6
    assert rules.sources == (str(DEFAULT_RULES_PATH),)
    assert set(EVALUATORS) == set(KINDS)


def test_rule_describe() -> None:
    assert default_rules().rule("RadioFade").describe() == \
        "RadioFade (radio_fade, major), > 10 dB, clear 7, for 2m"


BAD = [
    pytest.param("""\
        schema_version: 1
        setings: {}
        """, ["rules.yaml:2: setings: unknown key 'setings' (did you mean 'settings'?); "
              "allowed keys: schema_version, include_defaults, disable, settings, rules, "
              "maintenance"], id="unknown-top-key"),
    pytest.param(HEAD + """\
          - name: Cut
            kind: link_dwn
            severity: critical
        """, ["rules.yaml:4: rules[Cut].kind: 'link_dwn' is not allowed; allowed: "
              + ", ".join(KINDS)], id="unknown-kind"),
    pytest.param(HEAD + """\
          - name: Cut
            kind: link_down
            severity: urgent
            for: 5 minutes
        """, ["rules.yaml:5: rules[Cut].severity: 'urgent' is not allowed; allowed: critical, "
              "major, warning",
              "rules.yaml:6: rules[Cut].for: '5 minutes' is not a duration; write e.g. 30s, "
              "5m, 1h30m (units: s, m, h, d)"], id="severity-and-duration"),
    pytest.param(HEAD + """\
          - name: Fade
            kind: radio_fade
            severity: major
            threshold: 10
            clear: 12
        """, ["rules.yaml:7: rules[Fade].clear: clear 12 must be at or below threshold 10: "
              "an 'above' rule fires past the threshold and clears back at clear"],
        id="clear-on-wrong-side-above"),
    pytest.param(HEAD + """\
          - name: Snr
            kind: radio_snr_low
            severity: major
            threshold: 20
            clear: 18
        """, ["rules.yaml:7: rules[Snr].clear: clear 18 must be at or above threshold 20: "
              "a 'below' rule fires past the threshold and clears back at clear"],
        id="clear-on-wrong-side-below"),
    pytest.param(HEAD + """\
          - name: Iso
            kind: site_isolated
            severity: critical
            threshold: 1
            match: {media: [fiber]}
        """, ["rules.yaml:6: rules[Iso].threshold: kind site_isolated is a yes/no condition "
              "and takes no threshold",
              "rules.yaml:7: rules[Iso].match: match.media does not apply to kind "
              "site_isolated (it is about a site); allowed: sites, site_kinds"],
        id="threshold-on-yes-no-kind"),
    pytest.param(HEAD + """\
          - name: Util
            kind: link_utilization
            severity: warning
        """, ["rules.yaml:3: rules[Util]: kind link_utilization needs a threshold (ratio)"],
        id="threshold-missing"),
    pytest.param(HEAD + """\
          - name: Temp
            kind: gauge_above
            severity: warning
            threshold: 40
        """, ["rules.yaml:3: rules[Temp]: kind gauge_above needs a metric (the exported "
              "metric name, e.g. borderwatch_vsat_receive_esno_db)"], id="metric-missing"),
    pytest.param(HEAD + """\
          - name: Temp
            kind: gauge_above
            severity: warning
            threshold: 40
            metric: borderwatch_power_battery_temperatur_celsius
        """, ["rules.yaml:7: rules[Temp].metric: unknown metric "
              "'borderwatch_power_battery_temperatur_celsius' (did you mean "
              "'borderwatch_power_battery_temperature_celsius'?); the profiles' metrics are "
              "listed in docs/metrics.md"], id="metric-unknown"),
    pytest.param(HEAD + """\
          - name: Down
            kind: link_down
            severity: major
            metric: borderwatch_interface_up
            while_on_battery: true
        """, ["rules.yaml:6: rules[Down].metric: metric is not used by kind link_down; it is "
              "used by gauge_above, gauge_below, radio_snr_low",
              "rules.yaml:7: rules[Down].while_on_battery: while_on_battery is not used by "
              "kind link_down; it is used by battery_runtime_low"], id="option-of-other-kind"),
    pytest.param(HEAD + """\
          - name: A
            kind: link_down
            severity: major
          - name: A
            kind: site_down
            severity: critical
        """, ["rules.yaml:6: rules[A].name: duplicate rule name 'A' (rule #1 has it too)"],
        id="duplicate-name"),
    pytest.param(HEAD + """\
          - name: Post
            kind: site_isolated
            severity: critical
            match: {sites: [bp-thanhlao], site_kinds: [border_pots]}
        """, ["rules.yaml:6: rules[Post].match.site_kinds[0]: 'border_pots' is not allowed; "
              "allowed: core, hub, border_post, border_gate, commune",
              "rules.yaml:6: rules[Post].match.sites[0]: unknown site 'bp-thanhlao' (did you "
              "mean 'bp-thanhloa'?)"], id="match-values"),
    pytest.param(HEAD + """\
          - name: Flappy
            kind: link_down
            severity: major
            flap: {changes: 4, window: 10m, clear_changes: 4}
        """, ["rules.yaml:6: rules[Flappy].flap.clear_changes: clear_changes 4 must be below "
              "changes 4 (hysteresis)"], id="flap-hysteresis"),
    pytest.param(HEAD + """\
          - name: Flappy
            kind: link_down
            severity: major
            flap: true
        """, ["rules.yaml:6: rules[Flappy].flap: flap is a mapping {changes, window, "
              "clear_changes} or false (off); true is not allowed"], id="flap-true"),
    pytest.param("""\
        schema_version: 1
        maintenance:
          - name: works
            start: 2026-12-01T22:00:00
            end: 2026-12-01T20:00:00+07:00
            links: [L99]
          - name: empty
            start: 2026-12-01T22:00:00+07:00
            end: 2026-12-01T20:00:00+07:00
        """, ["rules.yaml:4: maintenance[works].start: start needs a time zone offset, e.g. "
              "2026-12-01T22:00:00+07:00",
              "rules.yaml:6: maintenance[works].links[0]: unknown link 'L99' (did you mean "
              "'L49'?)",
              "rules.yaml:7: maintenance[empty]: a maintenance window needs at least one of "
              "sites, links, devices",
              "rules.yaml:9: maintenance[empty].end: end must be after start"],
        id="maintenance"),
    pytest.param("""\
        schema_version: 1
        disable: [SiteIsolatd]
        include_defaults: true
        """, ["rules.yaml:2: disable[0]: no default rule is named 'SiteIsolatd' (did you mean "
              "'SiteIsolated'?); defaults: BatteryRuntimeLow, DeviceDataIncomplete, "
              "DeviceUnreachable, "
              "InterfaceDown, InterfaceErrors, LinkDown, LinkLatencyHigh, LinkLossHigh, "
              "LinkUtilizationHigh, OnBattery, "
              "RadioFade, RadioSignalLow, RadioSnrLow, RedundancyLost, SiteDown, "
              "SiteIsolated, SiteLatencyHigh, SiteLossHigh, SnmpAgentDown, VsatEsNoLow"],
             id="disable-unknown"),
    pytest.param("schema_version: 1\nrules: [\n", ["rules.yaml:3: yaml: YAML syntax: while "
                                                   "parsing a flow node, did not find "
                                                   "expected node content"],
                 id="yaml-syntax"),
    pytest.param("schema_version: 1\nrules:\n  - !!python/object/apply:os.system [id]\n",
                 ["rules.yaml:3: rules[0]: tag !!python/object/apply:os.system is not allowed; "
                  "only plain YAML maps, lists, strings, numbers, booleans and null are "
                  "accepted"], id="unsafe-tag"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_rule_files(tmp_path: Path, topo: Topology, text: str,
                        expected: list[str]) -> None:
    assert errors(write(tmp_path, text), topo) == expected


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: file: cannot read: No such file " \
        "or directory"


def test_include_defaults_replace_and_disable(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        schema_version: 1
        include_defaults: true
        disable: [RadioSignalLow, InterfaceErrors]
        settings: {repeat_interval: 1h}
        rules:
          - name: RadioFade             # a stricter fade margin for this network
            kind: radio_fade
            severity: critical
            threshold: 6
            clear: 4
            for: 1m
            match: {media: [microwave]}
          - name: ShelterHot
            kind: gauge_above
            severity: warning
            metric: borderwatch_power_battery_temperature_celsius
            threshold: 45
            clear: 40
            for: 10m
          - name: Unused
            kind: link_down
            severity: warning
            enabled: false
        """)
    rules = load_rules(path, metrics=metric_catalog())
    names = [r.name for r in rules.rules]
    assert "RadioSignalLow" not in names and "InterfaceErrors" not in names
    assert "Unused" not in names  # disabled rules are dropped
    assert names[-2:] == ["RadioFade", "ShelterHot"]
    assert rules.rule("RadioFade").threshold == 6 and rules.rule("RadioFade").for_ == 60
    assert "SiteIsolated" in names
    assert rules.settings.repeat_interval == 3600
    assert rules.sources == (str(DEFAULT_RULES_PATH), str(path))


def test_own_file_without_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
          - name: Cut
            kind: link_down
            severity: critical
            for: 90
            flap: false
          - name: Calm
            kind: link_down
            severity: warning
            flap: {changes: 10, window: 30m}
        """)
    rules = load_rules(path)
    assert [r.name for r in rules.rules] == ["Cut", "Calm"]
    assert rules.rule("Cut").for_ == 90.0
    assert rules.flap(rules.rule("Cut")) is None
    flap = rules.flap(rules.rule("Calm"))
    assert flap is not None and (flap.changes, flap.window, flap.clear_changes) == (10, 1800, 1)


@pytest.mark.parametrize(("text", "seconds"), [
    (0, 0.0), (90, 90.0), (1.5, 1.5), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0),
    ("2d", 172800.0), ("1m30s", 90.0), ("0.5m", 30.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("5 minutes", "'5 minutes' is not a duration; write e.g. 30s, 5m, 1h30m (units: s, m, "
                  "h, d)"),
    ("", "'' is not a duration; write e.g. 30s, 5m, 1h30m (units: s, m, h, d)"),
    (True, "expected a duration, got true; write e.g. 30s, 5m, 1h30m (units: s, m, h, d)"),
    (-5, "-5.0 is out of range; must be between 0s and 30d"),
    ("31d", "31d is out of range; must be between 0s and 30d"),
    ([1], "list is not a duration; write e.g. 30s, 5m, 1h30m (units: s, m, h, d)")])
def test_bad_durations(text: object, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (45, "45s"), (300, "5m"),
                                               (5400, "1h30m"), (183600, "2d3h")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
