"""SessionSettings: validation with clear messages, protocol names, no secret in repr."""

from __future__ import annotations

import ipaddress

import pytest

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.settings import SessionSettings, resolve_address

AUTH = {"user": "ops", "auth_protocol": "sha256", "auth_key": Secret("cnry-AUTH-1")}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"version": "2"}, "version must be one of 1, 2c, 3"),
    ({"port": 0}, "port must be 1..65535"),
    ({"port": 70000}, "port must be 1..65535"),
    ({"timeout": 0}, "timeout must be > 0"),
    ({"retries": -1}, "retries must be >= 0"),
    ({"max_repetitions": 0}, "max_repetitions and max_oids_per_get must be >= 1"),
    ({"community": None}, "SNMPv2c needs a community"),
    ({"version": "3", "community": None}, "SNMPv3 needs a user"),
    ({"version": "3", "user": "ops", "auth_protocol": "SHA"}, "an auth protocol needs an auth key"),
    ({"version": "3", **AUTH, "auth_protocol": "SHA3"},
     "unknown auth protocol 'SHA3' (allowed: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512)"),
    ({"version": "3", **AUTH, "priv_protocol": "AES-512", "priv_key": Secret("x")},
     "unknown priv protocol 'AES-512' (allowed: DES, AES, AES-128, AES-192, AES-256"),
    ({"version": "3", "user": "ops", "priv_protocol": "AES", "priv_key": Secret("x")},
     "privacy needs authentication (authPriv)"),
    ({"version": "3", **AUTH, "priv_protocol": "AES"}, "a priv protocol needs a priv key"),
])
def test_invalid_settings_are_refused(kwargs: dict, message: str) -> None:
    options = {"community": Secret("cnry-COMM-1"), **kwargs}
    with pytest.raises(ValueError) as info:
        SessionSettings("127.0.0.1", **options)
    assert message in str(info.value)
    assert "cnry" not in str(info.value)


@pytest.mark.parametrize(("given", "auth", "priv"), [
    (("sha", "aes"), "SHA", "AES-128"),
    (("SHA-256", "AES256"), "SHA-256", "AES-256"),
    (("sha512", "aes-192"), "SHA-512", "AES-192"),
    (("md5", "des"), "MD5", "DES"),
])
def test_protocol_names_are_normalised(given: tuple[str, str], auth: str, priv: str) -> None:
    s = SessionSettings("10.0.0.1", version="3", user="ops", auth_protocol=given[0],
                        auth_key=Secret("a" * 8), priv_protocol=given[1], priv_key=Secret("p" * 8))
    assert (s.auth_protocol, s.priv_protocol) == (auth, priv)


def test_target_and_repr_never_show_secrets() -> None:
    v2 = SessionSettings("127.0.0.5", 161, community=Secret("cnry-COMM-1"))
    v3 = SessionSettings("fe80::1", 1161, "3", **AUTH, priv_protocol="AES",
                         priv_key=Secret("cnry-PRIV-1"))
    assert v2.target == "127.0.0.5:161" and v3.target == "[fe80::1]:1161"
    for text in (repr(v2), str(v2), repr(v3), f"{v3}"):
        assert "cnry" not in text


async def test_resolve_address_keeps_literals_and_resolves_host_names() -> None:
    """Both session kinds resolve through this once: literals untouched (v6 normalised),
    a host name through the system resolver (here: localhost, loopback only)."""
    assert await resolve_address("127.0.0.7", 161) == "127.0.0.7"
    assert await resolve_address("0:0:0:0:0:0:0:1", 161) == "::1"
    assert ipaddress.ip_address(await resolve_address("localhost", 161)).is_loopback
