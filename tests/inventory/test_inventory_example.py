"""The repository's inventory.yaml: loads, is addressed at the lab, and its link ends name
interfaces that exist (and are up) in the dumps the lab serves for those devices."""

from __future__ import annotations

import bz2
import functools
import ipaddress
from pathlib import Path

import pytest
from inventory_helpers import EXAMPLE, LAB_ENV, REPO

from borderwatch.collector.inventory import PROFILE_NAMES, load_inventory

IF_DESCR = "1.3.6.1.2.1.2.2.1.2."
IF_OPER = "1.3.6.1.2.1.2.2.1.8."
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1."

INVENTORY = load_inventory(EXAMPLE, env=LAB_ENV)


def test_example_shape() -> None:
    inv = INVENTORY
    assert (len(inv.sites), len(inv.devices), len(inv.links)) == (38, 81, 49)
    assert {s.kind for s in inv.sites} == {"core", "hub", "border_post", "border_gate",
                                           "commune"}
    assert {link.medium for link in inv.links} == {"fiber", "microwave", "vsat"}
    assert EXAMPLE.read_text(encoding="utf-8").splitlines()[0] == (
        "# yaml-language-server: $schema=collector/schema/inventory.schema.json")


def test_example_is_addressed_at_the_lab() -> None:
    inv = INVENTORY
    addresses = [ipaddress.IPv4Address(d.address) for d in inv.devices]
    assert len(set(addresses)) == len(addresses)
    assert all(a in ipaddress.IPv4Network("127.0.0.0/24") and int(a) % 256 >= 10
               for a in addresses)
    for device in inv.devices:
        eff = inv.effective(device)
        assert (eff.port, eff.interval, eff.credential_name) == (16161, 30.0, "lab-v2c")
        assert (eff.timeout, eff.retries, eff.max_repetitions, eff.poll_deadline) == (
            "auto", "auto", 25, 24.0)
        assert device.sim_profile
    cred = inv.credentials["lab-v2c"]
    assert (cred.version, cred.community_env) == ("2c", "BORDERWATCH_LAB_COMMUNITY")
    assert cred.community.reveal() == LAB_ENV["BORDERWATCH_LAB_COMMUNITY"]


def test_every_link_end_is_declared_on_its_device() -> None:
    inv = INVENTORY
    for link in inv.links:
        for end in (link.a, link.b):
            assert inv.site_of(end.device).id == end.site
            assert end.interface in {i.name for i in inv.device(end.device).interfaces}


def _dump_path(sim_profile: str) -> Path | None:
    if sim_profile.startswith("custom/"):
        path = REPO / "lab" / "snmprec" / f"{sim_profile.removeprefix('custom/')}.snmprec"
        return path if path.is_file() else None
    import snmpsim_data

    root = Path(snmpsim_data.__file__).resolve().parent / "data"
    for suffix in (".snmprec", ".snmprec.bz2"):
        if (root / f"{sim_profile}{suffix}").is_file():
            return root / f"{sim_profile}{suffix}"
    raise AssertionError(f"no snmpsim-data dump {sim_profile}")


@functools.cache
def interfaces_in_dump(path: Path) -> dict[str, bool]:
    """{ifName (or ifDescr when the agent has no ifName): oper up} read from an .snmprec."""
    names: dict[str, str] = {}
    descrs: dict[str, str] = {}
    oper: dict[str, bool] = {}
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            oid, _, rest = line.partition("|")
            if not oid.startswith((IF_DESCR, IF_OPER, IF_NAME)):
                continue
            tag, _, value = rest.rstrip("\r\n").partition("|")
            if tag.endswith("x"):  # hex-encoded OCTET STRING
                value = bytes.fromhex(value).decode("utf-8", "replace")
            for prefix, table in ((IF_NAME, names), (IF_DESCR, descrs), (IF_OPER, oper)):
                if oid.startswith(prefix):
                    index = oid[len(prefix):]
                    table[index] = value == "1" if table is oper else value
    return {names.get(i) or descrs.get(i, ""): oper.get(i, False)
            for i in set(names) | set(descrs)}


SIM_INTERFACES = sorted({(d.sim_profile, i.name) for d in INVENTORY.devices
                         for i in d.interfaces})


@pytest.mark.parametrize(("sim_profile", "interface"), SIM_INTERFACES,
                         ids=[f"{s}:{i}" for s, i in SIM_INTERFACES])
def test_declared_interfaces_exist_and_are_up_in_the_lab_data(sim_profile: str,
                                                              interface: str) -> None:
    path = _dump_path(sim_profile)
    if path is None:
        pytest.skip(f"the lab's own file for {sim_profile} is not in lab/snmprec yet")
    found = interfaces_in_dump(path)
    assert interface in found, f"{interface} not in {sim_profile}: {sorted(found)}"
    assert found[interface], f"{interface} is not up (ifOperStatus) in {sim_profile}"


def test_profile_names_constant() -> None:
    assert PROFILE_NAMES == ("system", "if-mib", "ups-mib", "airmax", "host-resources",
                             "entity-sensor", "microwave-radio", "vsat-modem", "dc-power")
