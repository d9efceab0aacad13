"""Building a device's data file: trimming, moving counters, the lab's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderwatch.lab.dumps import (
    CUSTOM_DIR,
    SUBTREES,
    DumpError,
    Record,
    animate,
    build_records,
    in_subtrees,
    parse_oid,
    read_records,
    source_path,
    write_data_file,
)

IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
RADIO = "1.3.6.1.4.1.32473.1.1.1"


def _by_oid(records: list[Record]) -> dict[str, Record]:
    return {".".join(map(str, r.oid)): r for r in records}


def _settings(rec: Record) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in rec.value.split(","))


def test_big_dump_is_trimmed_to_the_polled_subtrees_in_oid_order() -> None:
    full = list(read_records(source_path("network/switch/cisco-c3560")))
    built = build_records("network/switch/cisco-c3560", "dev-a")
    assert len(full) > 30_000 and 1_000 < len(built) < len(full) // 5
    assert all(in_subtrees(r.oid) for r in built)
    assert [r.oid for r in built] == sorted(r.oid for r in built)
    # Nothing under the kept subtrees is lost (sysName is replaced, not dropped).
    kept = {r.oid for r in full if in_subtrees(r.oid)}
    assert kept <= {r.oid for r in built}


def test_only_up_interfaces_get_moving_counters_and_32_bit_follows_64_bit() -> None:
    built = _by_oid(build_records("network/switch/cisco-c3560", "dev-a"))
    up = [oid.rsplit(".", 1)[1] for oid, r in built.items()
          if oid.startswith(IF_OPER + ".") and r.value == "1"]
    down = [oid.rsplit(".", 1)[1] for oid, r in built.items()
            if oid.startswith(IF_OPER + ".") and r.value != "1"]
    assert up and down
    with_hc = [i for i in up if f"{IF_HC_IN}.{i}" in built]
    assert len(with_hc) > 5
    for index in up:
        c32 = built[f"{IF_IN}.{index}"]
        assert c32.tag == "65:numeric" and float(_settings(c32)["rate"]) > 0
        assert _settings(c32)["max"] == str(2**32 - 1) and "wrap" in _settings(c32)
    for index in with_hc:
        hc = built[f"{IF_HC_IN}.{index}"]
        c32 = built[f"{IF_IN}.{index}"]
        assert hc.tag == "70:numeric"
        assert int(_settings(c32)["initial"]) == int(_settings(hc)["initial"]) % 2**32
        assert _settings(c32)["rate"] == _settings(hc)["rate"]
    for index in down:
        assert ":" not in built[f"{IF_IN}.{index}"].tag


def test_rates_are_stable_per_device_and_differ_between_devices() -> None:
    a1 = _by_oid(build_records("custom/huawei-rtn905", "dev-a"))
    a2 = _by_oid(build_records("custom/huawei-rtn905", "dev-a"))
    b = _by_oid(build_records("custom/huawei-rtn905", "dev-b"))
    key = f"{IF_HC_IN}.1"
    assert a1[key] == a2[key]
    assert _settings(a1[key])["rate"] != _settings(b[key])["rate"]
    assert a1["1.3.6.1.2.1.1.5.0"].value == "dev-a" and b["1.3.6.1.2.1.1.5.0"].value == "dev-b"
    # Radio levels differ a little between twins; the planned level stays the file's.
    assert a1[f"{RADIO}.8.1"] == b[f"{RADIO}.8.1"]


def test_sysuptime_ticks_and_a_missing_one_is_added() -> None:
    recs = {parse_oid("1.3.6.1.2.1.1.3.0"): Record(parse_oid("1.3.6.1.2.1.1.3.0"), "67", "500")}
    out = animate(recs, "x")
    assert out[parse_oid("1.3.6.1.2.1.1.3.0")].tag == "67:numeric"
    assert _settings(out[parse_oid("1.3.6.1.2.1.1.3.0")]) == {"rate": "100", "initial": "500"}
    # eaton-9px-partial has only sysObjectID under the polled subtrees.
    built = _by_oid(build_records("UPS/eaton-9px-partial", "ups-x"))
    assert built["1.3.6.1.2.1.1.3.0"].tag == "67:numeric"
    assert built["1.3.6.1.2.1.1.5.0"].value == "ups-x"


@pytest.mark.parametrize("path", sorted(CUSTOM_DIR.glob("*.snmprec")), ids=lambda p: p.stem)
def test_lab_files_have_system_interfaces_and_their_lab_mib(path: Path) -> None:
    records = _by_oid(list(read_records(path)))
    for column in ("1.0", "2.0", "3.0", "5.0"):
        assert f"1.3.6.1.2.1.1.{column}" in records
    assert records["1.3.6.1.2.1.1.2.0"].value.startswith(("1.3.6.1.4.1.2011.",
                                                          "1.3.6.1.4.1.193.",
                                                          "1.3.6.1.4.1.13732."))
    names = {oid.rsplit(".", 1)[1]: r.value for oid, r in records.items()
             if oid.startswith("1.3.6.1.2.1.31.1.1.1.1.")}
    if_number = int(records["1.3.6.1.2.1.2.1.0"].value)
    assert len(names) == if_number
    lab_mib = [oid for oid in records if oid.startswith("1.3.6.1.4.1.32473.")]
    if names.get("1") == "radio-1":
        assert names == {"1": "radio-1", "2": "eth-1", "3": "eth-2"}
        assert {f"{RADIO}.{c}.1" for c in range(2, 10)} <= set(lab_mib)
    elif names.get("1") == "sat-1":
        assert names == {"1": "sat-1", "2": "eth-1"}
        assert {f"1.3.6.1.4.1.32473.2.{i}.0" for i in range(1, 5)} <= set(lab_mib)
    else:
        assert names == {"1": "eth-1"}
        assert {f"1.3.6.1.4.1.32473.3.{i}.0" for i in range(1, 8)} <= set(lab_mib)
    # Every line is kept by the trimming and every counter of an up interface moves.
    assert all(in_subtrees(parse_oid(oid), SUBTREES) for oid in records)
    built = build_records(f"custom/{path.stem}", "dev")
    assert any(r.tag == "70:numeric" for r in built)
    # Negative levels need an explicit min: snmpsim's numeric clamps at 0 by default.
    for rec in records.values():
        if rec.tag == "2:numeric" and int(_settings(rec)["initial"]) < 0:
            assert float(_settings(rec)["min"]) < int(_settings(rec)["initial"])


def test_unknown_profiles_are_named() -> None:
    with pytest.raises(DumpError, match="no lab file"):
        source_path("custom/nothing-here")
    with pytest.raises(DumpError, match="no such dump"):
        source_path("network/switch/nothing-here")
    with pytest.raises(DumpError, match="not a relative"):
        source_path("../etc/passwd")


def test_an_up_to_date_data_file_is_not_rewritten(tmp_path: Path) -> None:
    dest, stamp = tmp_path / "data" / "c.snmprec", tmp_path / "stamp"
    n = write_data_file("custom/idirect-x7", "dev", dest, stamp)
    assert n == len(dest.read_text().splitlines()) > 20
    mtime = dest.stat().st_mtime_ns
    assert write_data_file("custom/idirect-x7", "dev", dest, stamp) == n
    assert dest.stat().st_mtime_ns == mtime  # snmpsim's index stays valid
    write_data_file("custom/idirect-x7", "other-dev", dest, stamp)
    assert "other-dev" in dest.read_text()


def test_an_interface_on_a_link_is_loaded_against_the_link_capacity() -> None:
    """A 2 Mbit/s VSAT link must not carry the share of a 100 Mbit/s port's speed."""
    plain = _by_oid(build_records("custom/idirect-x7", "dev-a"))
    capped = _by_oid(build_records("custom/idirect-x7", "dev-a", {"sat-1": 2e6}))
    index = next(oid.rsplit(".", 1)[1] for oid, r in plain.items()
                 if oid.startswith("1.3.6.1.2.1.31.1.1.1.1.") and r.value == "sat-1")
    for column in (IF_HC_IN, "1.3.6.1.2.1.31.1.1.1.10"):
        rate = float(_settings(capped[f"{column}.{index}"])["rate"])  # octets/s
        assert 0 < rate * 8 <= 0.35 * 2e6
        assert rate < float(_settings(plain[f"{column}.{index}"])["rate"])
