"""The models on their own: defaults in one place, effective settings, normalisation."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import ValidationError

from borderwatch.collector.inventory import Credential, Defaults, Device, Inventory, Site

SITE = {"id": "s", "name": "S", "kind": "hub"}
CRED = {"c": {"version": "2c", "community_env": "E"}}


def _inventory(device: dict, defaults: dict | None = None) -> Inventory:
    base = {"id": "d", "address": "127.0.0.10", "credential": "c"}
    return Inventory.model_validate({
        "schema_version": 1, "credentials": CRED, "defaults": defaults or {},
        "sites": [{**SITE, "devices": [{**base, **device}]}]})


def test_defaults_live_in_one_place() -> None:
    d = Defaults()
    assert (d.interval, d.timeout, d.retries, d.max_repetitions, d.port, d.max_in_flight,
            d.poll_deadline) == (60.0, "auto", "auto", 25, 161, 64, None)


@pytest.mark.parametrize(("device", "defaults", "expected"), [
    ({}, {}, (161, 60.0, "auto", "auto", 25, 48.0)),
    ({}, {"interval": 30, "port": 16161}, (16161, 30.0, "auto", "auto", 25, 24.0)),
    ({"port": 1161, "interval": 10, "timeout": 1, "retries": 3, "max_repetitions": 5}, {},
     (1161, 10.0, 1.0, 3, 5, 8.0)),
    ({"poll_deadline": 5}, {"poll_deadline": 40}, (161, 60.0, "auto", "auto", 25, 5.0)),
    ({}, {"poll_deadline": 40}, (161, 60.0, "auto", "auto", 25, 40.0)),
    ({"interval": 300}, {}, (161, 300.0, "auto", "auto", 25, 240.0)),
], ids=["builtin", "defaults", "overrides", "device-deadline", "default-deadline",
        "deadline-follows-interval"])
def test_effective_settings(device: dict, defaults: dict, expected: tuple) -> None:
    inv = _inventory(device, defaults)
    eff = inv.effective("d")
    assert (eff.port, eff.interval, eff.timeout, eff.retries, eff.max_repetitions,
            eff.poll_deadline) == expected
    assert eff.site_id == "s" and eff.credential is inv.credentials["c"]
    assert inv.effective(inv.device("d")) == eff


@pytest.mark.parametrize(("fields", "level"), [
    ({}, "noAuthNoPriv"),
    ({"auth_protocol": "SHA", "auth_key_env": "A"}, "authNoPriv"),
    ({"auth_protocol": "SHA", "auth_key_env": "A", "priv_protocol": "DES",
      "priv_key_env": "P"}, "authPriv"),
])
def test_security_level_is_derived(fields: dict, level: str) -> None:
    assert Credential(version="3", user="u", **fields).security_level == level


@pytest.mark.parametrize(("given", "auth", "priv"), [
    (("md5", "des"), "MD5", "DES"),
    (("SHA1", "AES"), "SHA", "AES-128"),
    (("sha256", "aes256"), "SHA-256", "AES-256"),
    (("SHA-512", "AES_192"), "SHA-512", "AES-192"),
])
def test_protocol_spellings(given: tuple, auth: str, priv: str) -> None:
    cred = Credential(version=3, user="u", auth_protocol=given[0], auth_key_env="A",
                      priv_protocol=given[1], priv_key_env="P")
    assert (cred.version, cred.auth_protocol, cred.priv_protocol) == ("3", auth, priv)


def test_names_are_stored_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Đồn Biên phòng Tú Mịch")
    site = Site.model_validate({**SITE, "name": nfd, "commune": nfd})
    assert site.name == site.commune == unicodedata.normalize("NFC", nfd) != nfd


def test_interfaces_accept_a_bare_name() -> None:
    dev = Device.model_validate({"id": "d", "address": "h", "credential": "c",
                                 "interfaces": ["eth-1", {"name": "eth-2", "if_index": 2}]})
    assert [(i.name, i.if_index) for i in dev.interfaces] == [("eth-1", None), ("eth-2", 2)]


def test_models_are_frozen() -> None:
    inv = _inventory({})
    with pytest.raises(ValidationError):
        inv.device("d").address = "127.0.0.99"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        inv.defaults.interval = 1  # type: ignore[misc]


def test_programmatic_models_apply_the_same_local_rules() -> None:
    with pytest.raises(ValidationError) as info:
        Credential(version="3", user="u", priv_protocol="AES", priv_key_env="P")
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [(
        ("auth_protocol",), "priv_protocol AES-128 needs an auth_protocol too (authPriv); "
        "allowed: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512")]


def test_programmatic_inventories_get_the_cross_checks() -> None:
    with pytest.raises(ValidationError) as info:
        Inventory.model_validate({
            "schema_version": 1, "credentials": CRED,
            "sites": [{**SITE, "devices": [
                {"id": "d", "address": "127.0.0.10", "credential": "nope"},
                {"id": "d", "address": "127.0.0.11", "credential": "c"}]}],
            "links": [{"id": "L", "medium": "fiber", "capacity_mbps": 1,
                       "a": {"site": "s", "device": "d", "interface": "x"},
                       "b": {"site": "s", "device": "e", "interface": "x"}}]})
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("sites", 0, "devices", 0, "credential"), "unknown credential 'nope'; defined: c"),
        (("sites", 0, "devices", 1, "id"), "duplicate device id 'd'"),
        (("links", 0, "a", "interface"), "device d declares no interfaces; add 'x' to its "
                                         "interfaces list"),
        (("links", 0, "b", "device"), "unknown device 'e'"),
    ]
