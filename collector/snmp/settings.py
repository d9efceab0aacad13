"""Per-device SNMP session settings, independent of the inventory models that fill them."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from borderwatch.collector.secret import Secret

VERSIONS = ("1", "2c", "3")
AUTO = "auto"  # timeout/retries from the device's measured round trip and loss (rtt.py)
# What `timeout: auto` stands for where a rule needs one number (walk.py's answer-time
# rule, through timing.RequestTiming.answer_reference): the former fixed default.
REFERENCE_TIMEOUT = 2.0

# Names accepted for v3 protocols (upper-cased before lookup), as net-snmp's tools spell them.
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
# AES = AES-128. AES-192/AES-256 use the Blumenthal key extension, as net-snmp does; the
# "-C" forms are the Reeder ("Cisco") key extension.
PRIV_PROTOCOLS = ("DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C")
_AUTH_ALIASES = {"SHA1": "SHA", "SHA-1": "SHA", "SHA224": "SHA-224", "SHA256": "SHA-256",
                 "SHA384": "SHA-384", "SHA512": "SHA-512"}
_PRIV_ALIASES = {"AES128": "AES-128", "AES192": "AES-192", "AES256": "AES-256"}


def normalize_auth_protocol(name: str) -> str:
    """Canonical auth protocol name; ValueError names the allowed values."""
    key = name.strip().upper()
    key = _AUTH_ALIASES.get(key, key)
    if key not in AUTH_PROTOCOLS:
        raise ValueError(f"unknown auth protocol {name!r} (allowed: {', '.join(AUTH_PROTOCOLS)})")
    return key


def normalize_priv_protocol(name: str) -> str:
    """Canonical privacy protocol name; ValueError names the allowed values."""
    key = name.strip().upper()
    key = _PRIV_ALIASES.get(key, key)
    if key == "AES":
        key = "AES-128"
    if key not in PRIV_PROTOCOLS:
        raise ValueError(f"unknown priv protocol {name!r} (allowed: {', '.join(PRIV_PROTOCOLS)})")
    return key


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Everything one SNMP session needs; secrets stay `Secret` until they hit the wire.

    `timeout` is per request attempt (seconds); a request is sent at most `retries + 1`
    times, and never past the caller's deadline. `timeout="auto"` takes both from the
    device's measured round trip (collector/snmp/timing.py); `retries="auto"` sizes the
    resends to the measured loss (with a fixed timeout too). `accept_any_source` accepts responses
    from any address (for agents that answer from another interface; reliability A7).
    """

    address: str
    port: int = 161
    version: str = "2c"
    timeout: float | str = 2.0
    retries: int | str = 1
    max_repetitions: int = 25
    community: Secret | None = None
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None
    context: str = ""
    accept_any_source: bool = False
    max_oids_per_get: int = 16

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
        if not 0 < self.port < 65536:
            raise ValueError("port must be 1..65535")
        if self.timeout != AUTO and not (isinstance(self.timeout, int | float)
                                         and self.timeout > 0):
            raise ValueError("timeout must be > 0 or 'auto'")
        if self.retries != AUTO and not (isinstance(self.retries, int) and self.retries >= 0):
            raise ValueError("retries must be >= 0 or 'auto'")
        if self.max_repetitions < 1 or self.max_oids_per_get < 1:
            raise ValueError("max_repetitions and max_oids_per_get must be >= 1")
        if self.version in ("1", "2c") and self.community is None:
            raise ValueError(f"SNMPv{self.version} needs a community")
        if self.version == "3":
            if not self.user:
                raise ValueError("SNMPv3 needs a user")
            if self.auth_protocol is not None:
                auth = normalize_auth_protocol(self.auth_protocol)
                object.__setattr__(self, "auth_protocol", auth)  # frozen: normalise once
                if self.auth_key is None:
                    raise ValueError("an auth protocol needs an auth key")
            if self.priv_protocol is not None:
                priv = normalize_priv_protocol(self.priv_protocol)
                object.__setattr__(self, "priv_protocol", priv)
                if self.priv_key is None:
                    raise ValueError("a priv protocol needs a priv key")
                if self.auth_protocol is None:
                    raise ValueError("privacy needs authentication (authPriv)")

    @property
    def target(self) -> str:
        """'address:port' ('[v6]:port'), for messages; never holds a secret."""
        try:
            if ipaddress.ip_address(self.address).version == 6:
                return f"[{self.address}]:{self.port}"
        except ValueError:
            pass
        return f"{self.address}:{self.port}"


async def resolve_address(address: str, port: int) -> str:
    """The agent's IP address as text: a literal as given, a host name resolved (sessions
    call this once and stick to the answer, so a poll never waits on DNS again)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(address, port,
                                                             type=socket.SOCK_DGRAM)
        return str(infos[0][4][0])
