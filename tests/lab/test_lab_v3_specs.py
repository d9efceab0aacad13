"""A lab device on an SNMPv3 credential becomes a v3 agent (lab/devices.py LabUsm): its
user, protocols and keys from the credential, a stable engine ID of its own; keys snmpsim
cannot take are refused with a message that names the device, never the key. Started, it
answers net-snmp's snmpget in v3 authPriv with its data, and refuses a wrong key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from servers import snmpget

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.agents import Lab
from borderwatch.lab.devices import V3_DATA_NAME, LabError, agent_specs, lab_engine_id
from borderwatch.lab.quality import free_port

AUTH, PRIV = "auth-key-0123", "priv-key-4567"


ADDR = "127.0.0.9"


def _inventory(tmp_path: Path, auth: str = AUTH, port: int = 16161) -> object:
    data = {"schema_version": 1,
            "credentials": {"v3": {"version": "3", "user": "lab-user",
                                   "auth_protocol": "SHA-256", "auth_key_env": "T_AUTH",
                                   "priv_protocol": "AES-128", "priv_key_env": "T_PRIV"}},
            "defaults": {"port": port},
            "sites": [{"id": "s", "name": "S", "kind": "hub", "devices": [
                {"id": "ups1", "address": ADDR, "credential": "v3",
                 "sim_profile": "UPS/eaton-93e-80"}]}]}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path, env={"T_AUTH": auth, "T_PRIV": PRIV})


def test_a_v3_device_gets_its_user_keys_and_engine(tmp_path: Path) -> None:
    (spec,), skipped = agent_specs(_inventory(tmp_path))  # type: ignore[arg-type]
    assert skipped == []
    assert spec.usm is not None
    assert (spec.usm.user, spec.usm.auth_protocol, spec.usm.priv_protocol) == \
        ("lab-user", "SHA-256", "AES-128")
    assert spec.usm.auth_key is not None and spec.usm.auth_key.reveal() == AUTH
    assert spec.usm.priv_key is not None and spec.usm.priv_key.reveal() == PRIV
    assert spec.usm.engine_id == lab_engine_id("ups1") != lab_engine_id("ups2")
    assert spec.community.reveal() == V3_DATA_NAME


def test_a_key_snmpsim_refuses_is_named_without_the_key(tmp_path: Path) -> None:
    with pytest.raises(LabError) as caught:
        agent_specs(_inventory(tmp_path, auth="with a space"))  # type: ignore[arg-type]
    assert "ups1" in str(caught.value) and "auth_key" in str(caught.value)
    assert "with a space" not in str(caught.value)


def test_the_v3_agent_answers_net_snmp_with_its_keys_only(tmp_path: Path) -> None:
    port = free_port([ADDR])
    specs, _ = agent_specs(_inventory(tmp_path, port=port))  # type: ignore[arg-type]
    lab = Lab(specs, tmp_path / "lab", ready_timeout=60)
    lab.prepare()
    try:
        report = lab.start()
        assert not report.failed, [a.error for a in report.failed]

        def get(auth: str) -> str:
            res = snmpget(ADDR, port, ["1.3.6.1.2.1.1.5.0"], version="3", timeout=2,
                          extra=["-l", "authPriv", "-u", "lab-user", "-a", "SHA-256", "-A",
                                 auth, "-x", "AES", "-X", PRIV])
            return res.stdout + res.stderr

        assert '"ups1"' in get(AUTH)  # sysName.0, from its data
        assert "ups1" not in get("wrong-key-0123")
    finally:
        lab.stop()
