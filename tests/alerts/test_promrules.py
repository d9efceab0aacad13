"""`borderwatch rules`: the generated Prometheus rules pass the real promtool and amtool, the
committed files do not drift, and bad rule files are reported at file:line.

promtool (Prometheus 2.42) and amtool come from the Debian packages CI installs
(scripts/install-debian-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from borderwatch.alerts.promrules_command import rules_command
from borderwatch.alerts.rules import default_rules
from borderwatch.cli import build_parser
from borderwatch.collector.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "alerts" / "prometheus"
RULES_FILE = PROM_DIR / "borderwatch.rules.yml"
INHIBIT_FILE = PROM_DIR / "alertmanager.inhibit.yml"
UNIT_TESTS = PROM_DIR / "borderwatch.rules.test.yml"
# The exact command that wrote the committed files (run from the repository root).
GENERATE = ("rules", "--inventory", "inventory.yaml",
            "-o", "alerts/prometheus/borderwatch.rules.yml",
            "--inhibit-output", "alerts/prometheus/alertmanager.inhibit.yml")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def borderwatch(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The console script as a user runs it."""
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=ENV, timeout=120)


def generate_in_process(*args: str | Path) -> int:
    """`borderwatch rules ...` through the real argument parser, in this process (fast)."""
    return rules_command(build_parser().parse_args(["rules", *map(str, args)]))


def tool(name: str, *args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """promtool or amtool (installed by scripts/install-debian-deps.sh)."""
    exe = shutil.which(name)
    assert exe is not None, f"{name} is not installed: run scripts/install-debian-deps.sh"
    return subprocess.run([exe, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def alerts_of(rules_file: Path) -> list[str]:
    data = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    return [r["alert"] for g in data["groups"] for r in g["rules"] if "alert" in r]


def inventory_with_rules(tmp_path: Path, rules_text: str) -> Path:
    """The example inventory with an `alerts:` section naming a rules file next to it."""
    (tmp_path / "rules.yaml").write_text(rules_text, encoding="utf-8")
    inv = tmp_path / "inventory.yaml"
    data = yaml.safe_load((REPO / "inventory.yaml").read_text(encoding="utf-8"))
    data["alerts"] = {**data.get("alerts", {}), "rules": "rules.yaml"}
    inv.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return inv


# ----------------------------------------------------------------------------- committed files

def test_committed_files_match_the_rules_and_inventory() -> None:
    run = borderwatch(*GENERATE, "--check")
    assert (run.returncode, run.stderr) == (0, "")


def test_check_names_a_drifted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    out, inhibit = tmp_path / "r.yml", tmp_path / "i.yml"
    assert generate_in_process(*GENERATE[1:3], "-o", out, "--inhibit-output", inhibit) == 0
    assert generate_in_process(*GENERATE[1:3], "-o", out, "--inhibit-output", inhibit,
                               "--check") == 0
    capsys.readouterr()
    out.write_text(out.read_text(encoding="utf-8").replace("for: 1m30s", "for: 2m"),
                   encoding="utf-8")
    assert generate_in_process(*GENERATE[1:3], "-o", out, "--inhibit-output", inhibit,
                               "--check") == 1
    err = capsys.readouterr().err
    assert str(out) in err and str(inhibit) not in err


def test_promtool_accepts_the_rules() -> None:
    run = tool("promtool", "check", "rules", RULES_FILE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_promtool_unit_tests_pass() -> None:
    run = tool("promtool", "test", "rules", UNIT_TESTS)
    assert run.returncode == 0, run.stdout + run.stderr


def test_unit_tests_cover_every_generated_alert() -> None:
    cases = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {t["alertname"] for case in cases for t in case.get("alert_rule_test", ())
             if t.get("exp_alerts")}
    quiet = {t["alertname"] for case in cases for t in case.get("alert_rule_test", ())
             if not t.get("exp_alerts")}
    generated = set(alerts_of(RULES_FILE))
    assert fired == generated  # each alert is seen firing ...
    assert quiet == generated  # ... and seen not firing (before `for`, or after clearing)


def test_unit_tests_catch_a_lost_hysteresis(tmp_path: Path) -> None:
    """Without the ALERTS branch a threshold alert clears inside the band: the tests say so.
    (Only the unit-test case of that alert is run, to keep this quick.)"""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "LinkUtilizationHigh":
                rule["expr"] = rule["expr"].split("\nor\n")[0]
    (tmp_path / RULES_FILE.name).write_text(yaml.safe_dump(data, allow_unicode=True),
                                            encoding="utf-8")
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    tests["tests"] = [case for case in tests["tests"]
                      if any(t["alertname"] == "LinkUtilizationHigh"
                             for t in case.get("alert_rule_test", ()))]
    (tmp_path / UNIT_TESTS.name).write_text(yaml.safe_dump(tests, allow_unicode=True),
                                            encoding="utf-8")
    run = tool("promtool", "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert run.returncode == 1
    assert "alertname: LinkUtilizationHigh, time: 15m" in run.stdout + run.stderr


def test_amtool_accepts_the_inhibit_configuration() -> None:
    run = tool("amtool", "check-config", INHIBIT_FILE)
    assert run.returncode == 0, run.stdout + run.stderr
    config = yaml.safe_load(INHIBIT_FILE.read_text(encoding="utf-8"))
    isolated = next(r for r in config["inhibit_rules"]
                    if r["source_matchers"] == ['alertname="SiteIsolated"'])
    assert isolated["equal"] == ["site"]
    target = isolated["target_matchers"][0]
    assert "DeviceUnreachable" in target and "LinkDown" not in target  # the root cause stays


# ----------------------------------------------------------------------------- rule files

def test_a_bad_rules_file_is_reported_at_file_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nrules:\n  - name: Cut\n    kind: link_donw\n"
                   "    severity: major\n", encoding="utf-8")
    run = borderwatch("rules", "--inventory", "inventory.yaml", "--rules", bad)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith(f"{bad}:4: rules[Cut].kind:")


def test_the_inventory_names_the_rules_file(tmp_path: Path) -> None:
    """alerts.rules of the inventory is used; match selectors become the inventory's ids;
    what has no PromQL form is skipped with a comment, not approximated."""
    inv = inventory_with_rules(tmp_path, """\
schema_version: 1
include_defaults: true
disable: [InterfaceErrors]
rules:
  - name: PostSwitchDown
    kind: device_unreachable
    severity: critical
    for: 2m
    match: {site_kinds: [border_post], device_roles: [switch]}
    labels: {team: bien-phong}
  - name: LinkSnrLow
    kind: radio_snr_low
    severity: warning
    threshold: 15
    match: {links: [L08]}
  - name: CoreDcPlant
    kind: on_battery
    severity: major
    match: {sites: [ls-core], device_roles: [dc_power]}
  - name: OddLabels
    kind: link_down
    severity: major
    labels: {a_site: elsewhere}
""")
    out = tmp_path / "out.yml"
    run = borderwatch("rules", "--inventory", inv, "-o", out, "--dashboard-url",
                      "https://grafana.example.vn/d/bw-site?var-site={site}")
    assert run.returncode == 0, run.stderr
    assert tool("promtool", "check", "rules", out).returncode == 0
    alerts = alerts_of(out)
    assert "PostSwitchDown" in alerts and "InterfaceErrors" not in alerts
    text = out.read_text(encoding="utf-8")
    assert not {"LinkSnrLow", "CoreDcPlant", "OddLabels"} & set(alerts)
    assert "# - LinkSnrLow: match.links / match.media" in text
    assert "# - CoreDcPlant: match selects nothing in this inventory" in text
    assert "# - OddLabels: labels a_site would overwrite" in text
    assert "skipped LinkSnrLow" in run.stderr
    rule = next(r for g in yaml.safe_load(out.read_text(encoding="utf-8"))["groups"]
                for r in g["rules"] if r.get("alert") == "PostSwitchDown")
    inventory = load_inventory(REPO / "inventory.yaml", resolve_secrets=False,
                               log_warnings=False)
    posts = sorted(s.id for s in inventory.sites if s.kind == "border_post")
    switches = sorted(d.id for s in inventory.sites if s.kind == "border_post"
                      for d in s.devices if d.role == "switch")
    scope = f'{{device=~"{"|".join(switches)}", site=~"{"|".join(posts)}"}}'
    assert rule["expr"] == (f"borderwatch_device_up{scope} == 0\n"
                            f"  unless on (site, device) borderwatch_icmp_up{scope} == 1")
    assert (rule["for"], rule["labels"]) == ("2m", {"severity": "critical",
                                                    "team": "bien-phong"})
    assert rule["annotations"]["dashboard"] == \
        "https://grafana.example.vn/d/bw-site?var-site={{ $labels.site }}"


def test_a_rule_named_like_a_flapping_alert_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    rules = tmp_path / "rules.yaml"
    rules.write_text("schema_version: 1\ninclude_defaults: true\nrules:\n"
                     "  - {name: LinkDownFlapping, kind: link_down, severity: warning}\n",
                     encoding="utf-8")
    assert generate_in_process("--rules", rules, "-o", tmp_path / "out.yml") == 1
    assert capsys.readouterr().err == ("borderwatch rules: rule LinkDownFlapping clashes "
                                       "with the flapping alert of LinkDown\n")
    assert not (tmp_path / "out.yml").exists()


def test_check_validates_the_rules_file_of_the_inventory(tmp_path: Path) -> None:
    inv = inventory_with_rules(tmp_path, "schema_version: 1\nrules:\n  - name: Cut\n"
                               "    kind: link_down\n    severity: major\n"
                               "    match: {links: [L99]}\n")
    run = borderwatch("check", "--no-secrets", inv)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[0].endswith("OK (secrets not checked: --no-secrets)")
    assert lines[1].startswith(f"{tmp_path / 'rules.yaml'}:6: rules[Cut].match.links[0]: "
                               "unknown link 'L99'")
    assert lines[-1] == f"{tmp_path / 'rules.yaml'}: 1 problem"


def test_check_reports_a_good_rules_file(tmp_path: Path) -> None:
    inv = inventory_with_rules(tmp_path, "schema_version: 1\ninclude_defaults: true\n")
    run = borderwatch("check", "--no-secrets", inv)
    assert run.returncode == 0, run.stdout
    assert run.stdout.splitlines()[-1] == \
        f"{tmp_path / 'rules.yaml'}: {len(default_rules().rules)} rules, 0 maintenance " \
        "windows, OK"


def test_check_alone_checks_the_rules_and_says_what_it_checked(tmp_path: Path) -> None:
    """`rules --check` with no file to compare: generates, writes nothing, says so (issue 14)."""
    run = borderwatch("rules", "--check")
    generated = alerts_of(RULES_FILE)
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        f"alerts/default_rules.yaml and inventory.yaml: {len(default_rules().rules)} rules, "
        f"{len(generated)} Prometheus alerts generated, {len(committed_skipped())} skipped "
        "(no PromQL form), OK",
        "no file compared: give --output (and --inhibit-output) to compare written files"]
    inv = inventory_with_rules(tmp_path, "schema_version: 1\nrules:\n  - {name: X}\n")
    bad = borderwatch("rules", "--inventory", inv, "--check", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout == "" and "rules.yaml:3" in bad.stderr, bad


def test_check_with_files_names_each_file_it_compared() -> None:
    run = borderwatch(*GENERATE, "--check")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1:] == [f"{GENERATE[4]}: up to date",
                                           f"{GENERATE[6]}: up to date"]


def committed_skipped() -> list[str]:
    """The skipped entries the committed rules file lists in its header."""
    text = RULES_FILE.read_text(encoding="utf-8")
    head = text.split("groups:", 1)[0].split("# Skipped", 1)
    return [line for line in head[1].splitlines() if line.startswith("# - ")] if len(head) > 1 \
        else []
