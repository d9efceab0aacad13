"""Profile files: the built-in set is valid and complete; bad files get precise errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from borderwatch.collector.inventory.models import PROFILE_NAMES
from borderwatch.collector.profiles import ProfileError, load_profile, load_profiles, metric_catalog
from borderwatch.collector.samples import Kind

# Names the issue requires (the exporter adds device/link/self metrics from state).
REQUIRED = {
    "borderwatch_device_uptime_seconds": Kind.GAUGE,
    "borderwatch_interface_up": Kind.GAUGE,
    "borderwatch_interface_receive_bytes_total": Kind.COUNTER,
    "borderwatch_interface_transmit_bytes_total": Kind.COUNTER,
    "borderwatch_interface_receive_errors_total": Kind.COUNTER,
    "borderwatch_interface_transmit_errors_total": Kind.COUNTER,
    "borderwatch_interface_receive_discards_total": Kind.COUNTER,
    "borderwatch_interface_speed_bytes": Kind.GAUGE,
    "borderwatch_radio_signal_dbm": Kind.GAUGE,
    "borderwatch_radio_noise_dbm": Kind.GAUGE,
    "borderwatch_ups_on_battery": Kind.GAUGE,
    "borderwatch_ups_battery_charge_ratio": Kind.GAUGE,
    "borderwatch_ups_battery_runtime_seconds": Kind.GAUGE,
}


def test_builtin_profiles_are_exactly_the_names_the_inventory_accepts() -> None:
    assert set(load_profiles()) == set(PROFILE_NAMES)


def test_catalog_has_the_required_metrics_with_their_types() -> None:
    catalog = metric_catalog()
    for name, kind in REQUIRED.items():
        assert catalog[name].kind is kind, name
        assert catalog[name].help, name
    rx = catalog["borderwatch_interface_receive_bytes_total"]
    assert rx.max_rate_metric == "borderwatch_interface_speed_bytes"
    assert rx.discontinuity_metric == "borderwatch_interface_discontinuity_time_seconds"


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


GOOD_TABLE = """
    profile: p
    description: test
    tables:
      - name: t
        index: [ifIndex]
        metrics:
          - {metric: borderwatch_x_total, help: h, type: counter, bits: 32,
             oid: 1.3.6.1.2.1.2.2.1.10}
"""


@pytest.mark.parametrize(("body", "message"), [
    (GOOD_TABLE.replace("profile: p", "profile: q"),
     "p.yaml: profile: must be 'p' (the file name), not 'q'"),
    (GOOD_TABLE.replace("bits: 32", "bits: 16"),
     "p.yaml: tables[0].metrics[0].bits: must be 32 or 64"),
    (GOOD_TABLE.replace("bits: 32,", "bits: 32, colour: red,"),
     "p.yaml: tables[0].metrics[0].colour: unknown key (allowed: metric, help, type, oid"),
    (GOOD_TABLE.replace("1.3.6.1.2.1.2.2.1.10", "ifInOctets"),
     "p.yaml: tables[0].metrics[0].oid: not an OID: 'ifInOctets'"),
    (GOOD_TABLE.replace("borderwatch_x_total", "borderwatch_x"),
     "p.yaml: tables[0].metrics[0].metric: a counter's name must end in _total"),
    (GOOD_TABLE.replace("type: counter", "type: histogram"),
     "p.yaml: tables[0].metrics[0].type: must be one of gauge, counter, info"),
    (GOOD_TABLE.replace(" bits: 32,", ""),
     "p.yaml: tables[0].metrics[0].bits: a counter needs bits: 32 or 64"),
    (GOOD_TABLE.replace("index: [ifIndex]", "index: [ifIndex]\n        discontinuity: nope"),
     "p.yaml: tables[0].discontinuity: 'nope' is not a metric of this table"),
    (GOOD_TABLE + "    match:\n      - {}\n",
     "p.yaml: match[0]: an empty rule would match every device"),
    ("profile: p\ndescription: d\n", "p.yaml: : a profile needs scalars or tables"),
    ("profile: p\ndescription: d\nscalars:\n  - {metric: borderwatch_y, help: h, type: gauge,"
     " inputs: [1.3.6.1.2.1.1.3.0], transform: magic}\n",
     "p.yaml: scalars[0].transform: inputs need a transform (one of any_of, entity_sensor)"),
])
def test_bad_profile_names_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile(_write(tmp_path, "p", body))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    body = GOOD_TABLE.replace("bits: 32", "bits: 16").replace("profile: p", "profile: q")
    with pytest.raises(ProfileError) as err:
        load_profile(_write(tmp_path, "p", body))
    assert len(err.value.problems) == 2
    assert str(err.value).count("p.yaml:") == 2


def test_same_metric_with_different_help_in_two_profiles_is_an_error(tmp_path: Path) -> None:
    system = Path(load_profiles()["system"].path).read_text()
    (tmp_path / "system.yaml").write_text(system)
    _write(tmp_path, "a", GOOD_TABLE.replace("profile: p", "profile: a"))
    _write(tmp_path, "b", GOOD_TABLE.replace("profile: p", "profile: b")
           .replace("help: h", "help: other"))
    with pytest.raises(ProfileError) as err:
        load_profiles(tmp_path)
    assert err.value.problems == [
        "b.yaml: borderwatch_x_total: help or type differs from its definition in a.yaml"]
