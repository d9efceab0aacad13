"""Which agents the lab runs for an inventory, and the community they answer to.

Every device with a `sim_profile` gets one simulated agent on its own address:port (one
snmpsim process each: snmpsim picks v2c data by community only, and the lab devices share
one credential). Communities come from the inventory's credentials like the collector's;
an unset `community_env` variable gets a random lab community, remembered in the state dir
so that the next run keeps the same file names (and snmpsim's index cache stays valid).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from collector.inventory import Inventory, load_inventory
from collector.secret import Secret

log = logging.getLogger(__name__)

# snmpsim serves a data file under community = its path in the data dir: the community
# becomes a file name, so only characters that are safe there are accepted.
_SAFE_COMMUNITY = re.compile(r"[A-Za-z0-9._+-]{1,64}")


class LabError(Exception):
    """The inventory cannot be turned into a lab (message names devices, never secrets)."""


@dataclass(frozen=True)
class AgentSpec:
    """One simulated agent: a device's endpoint, its data and the community it answers."""

    device_id: str
    address: str
    port: int
    sim_profile: str
    community: Secret
    # Interface name → capacity (bit/s) of the inventory link it ends, so the lab's traffic
    # fits the link (the smaller direction when a link is asymmetric).
    link_capacity: Mapping[str, float] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


def lab_env_communities(path: str | os.PathLike[str], state_dir: Path,
                        environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each lab credential's unset community variable (in `environ`, default os.environ).

    Returns the names of the variables it set. The value is random the first time and then
    read back from `<state_dir>/secrets/<VARIABLE>` (mode 0600); it is never printed.
    """
    environ = os.environ if environ is None else environ
    inventory = load_inventory(path, resolve_secrets=False, log_warnings=False)
    names = []
    for cred_name in sorted({d.credential for d in inventory.devices if d.sim_profile}):
        cred = inventory.credentials.get(cred_name)
        if cred is None or cred.version == "3" or not cred.community_env:
            continue
        var = cred.community_env
        if environ.get(var):
            continue
        environ[var] = _remembered_community(state_dir, var)
        names.append(var)
    return names


def _remembered_community(state_dir: Path, var: str) -> str:
    path = state_dir / "secrets" / var
    try:
        value = path.read_text().strip()
        if _SAFE_COMMUNITY.fullmatch(value):
            return value
    except FileNotFoundError:
        pass
    value = "lab-" + secrets.token_hex(8)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def agent_specs(inventory: Inventory) -> tuple[list[AgentSpec], list[str]]:
    """The agents of an inventory (devices with a sim_profile) and the ids of skipped ones.

    Raises LabError listing every device that cannot be simulated: a non-loopback address,
    an SNMPv3 credential, a community unusable as a file name, two devices on one endpoint.
    """
    specs: list[AgentSpec] = []
    skipped: list[str] = []
    problems: list[str] = []
    by_endpoint: dict[tuple[str, int], str] = {}
    caps = link_capacities(inventory)
    for device in inventory.devices:
        if not device.sim_profile:
            skipped.append(device.id)
            continue
        eff = inventory.effective(device)
        try:
            loopback = ipaddress.ip_address(eff.address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            problems.append(f"{device.id}: address {eff.address} is not a loopback address; "
                            "the lab only runs agents on 127.0.0.0/8 or ::1")
            continue
        if eff.credential.version == "3":
            problems.append(f"{device.id}: credential {eff.credential_name} is SNMPv3; "
                            "the lab simulates v1/v2c agents only")
            continue
        try:
            community = inventory.secret(eff.credential_name, "community")
        except KeyError:
            problems.append(f"{device.id}: credential {eff.credential_name} has no community")
            continue
        if not _SAFE_COMMUNITY.fullmatch(community.reveal()):
            problems.append(f"{device.id}: the community of credential {eff.credential_name} "
                            "must be 1-64 characters of A-Z a-z 0-9 . _ + - for the lab")
            continue
        key = (eff.address, eff.port)
        if key in by_endpoint:
            problems.append(f"{device.id}: {eff.address}:{eff.port} is also the address of "
                            f"{by_endpoint[key]}; each lab device needs its own address:port")
            continue
        by_endpoint[key] = device.id
        specs.append(AgentSpec(device.id, eff.address, eff.port, device.sim_profile, community,
                               caps.get(device.id, {})))
    if problems:
        raise LabError("\n".join(problems))
    return specs, skipped


def link_capacities(inventory: Inventory) -> dict[str, dict[str, float]]:
    """Device id → {interface name → the lowest capacity (bit/s) of a link it ends}."""
    out: dict[str, dict[str, float]] = {}
    for link in inventory.links:
        mbps = [m for m in (link.capacity_mbps, link.capacity_up_mbps) if m]
        if not mbps:
            continue
        bps = min(mbps) * 1e6
        for end in (link.a, link.b):
            per_device = out.setdefault(end.device, {})
            per_device[end.interface] = min(per_device.get(end.interface, bps), bps)
    return out
