"""Which agents the lab runs for an inventory, and the community they answer to.

Every device with a `sim_profile` gets one simulated agent on its own address:port (served
by a shared responder-lite that picks the data by endpoint, behind the lab's gate: the full
snmpsim picks v2c data by community only, and the lab devices share one credential; see
lab/agents.py). Communities come from the inventory's credentials like the collector's.
A device on an SNMPv3 credential gets a snmpsim engine of its own (LabUsm: the
credential's user, protocols and keys, and an engine ID derived from the device id, so that
its traps carry the engine ID its polls discover).
A credential whose variable is unset gets a random lab community: written to its
`community_file` when it names one (so `borderwatch check` and `poll` read the same file,
with no extra step), else remembered in the state dir; either way the next run keeps the
same community (and snmpsim's index cache stays valid).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from borderwatch.collector.inventory import Credential, Inventory, load_inventory
from borderwatch.collector.secret import Secret

log = logging.getLogger(__name__)

# snmpsim serves a data file under community = its path in the data dir: the community
# becomes a file name, so only characters that are safe there are accepted.
_SAFE_COMMUNITY = re.compile(r"[A-Za-z0-9._+-]{1,64}")


# A v3 agent's data file: snmpsim's v3 context lookup ends at the name of the transport
# domain of its (only) endpoint, snmpUDPDomain.0. Served to v1/v2c too under this name, which
# the readiness probe uses (lab/agents.py); it is no secret, the v3 keys are.
V3_DATA_NAME = "1.3.6.1.6.1.1.0"
_MIN_V3_KEY = 8  # snmpsim refuses shorter keys


class LabError(Exception):
    """The inventory cannot be turned into a lab (message names devices, never secrets)."""


@dataclass(frozen=True)
class LabUsm:
    """The SNMPv3 identity of a v3 lab agent: its engine ID and its credential's USM user."""

    engine_id: bytes
    user: str
    auth_protocol: str | None
    auth_key: Secret | None
    priv_protocol: str | None
    priv_key: Secret | None


def lab_engine_id(device_id: str) -> bytes:
    """A v3 lab agent's engine ID: RFC 3411 format 5 (octets) under enterprise 32473, from
    a hash of the device id, so it is the same at every start (the receiver compares a v3
    trap's engine ID with the one polling discovered)."""
    return bytes.fromhex("80007ed905") + hashlib.sha256(f"lab|{device_id}".encode()).digest()[:8]


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
    usm: LabUsm | None = None  # a v3 agent (its `community` is then V3_DATA_NAME)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


def lab_env_communities(path: str | os.PathLike[str], state_dir: Path,
                        environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each lab credential's unset community variable (in `environ`, default os.environ).

    Returns the names of the variables it set. The value is random the first time and then
    read back from `<state_dir>/secrets/<VARIABLE>` (mode 0600); it is never printed.
    A credential with a `community_file` as well is left to lab_community_files().
    """
    environ = os.environ if environ is None else environ
    names = []
    for cred in _lab_credentials(path):
        var = cred.community_env
        if not var or cred.community_file or environ.get(var):
            continue
        environ[var] = _remembered_community(state_dir, var)
        names.append(var)
    return names


def lab_community_files(path: str | os.PathLike[str],
                        environ: Mapping[str, str] | None = None) -> list[Path]:
    """Create the missing `community_file` of each lab credential whose variable is unset.

    The file is where the inventory says (relative paths: to the inventory's directory),
    mode 0600, with a random community; an existing file is never touched. Returns the
    files created (their content is never printed).
    """
    environ = os.environ if environ is None else environ
    created = []
    for cred in _lab_credentials(path):
        if not cred.community_file or (cred.community_env and environ.get(cred.community_env)):
            continue
        file = Path(cred.community_file).expanduser()
        file = file if file.is_absolute() else Path(path).resolve().parent / file
        if _create_secret_file(file, "lab-" + secrets.token_hex(8)):
            created.append(file)
    return created


def _lab_credentials(path: str | os.PathLike[str]) -> list[Credential]:
    """The v1/v2c credentials of the inventory's simulated devices."""
    inventory = load_inventory(path, resolve_secrets=False, log_warnings=False)
    names = sorted({d.credential for d in inventory.devices if d.sim_profile})
    return [cred for cred in (inventory.credentials.get(n) for n in names)
            if cred is not None and cred.version != "3"]


def _remembered_community(state_dir: Path, var: str) -> str:
    path = state_dir / "secrets" / var
    try:
        value = path.read_text().strip()
        if _SAFE_COMMUNITY.fullmatch(value):
            return value
    except FileNotFoundError:
        pass
    value = "lab-" + secrets.token_hex(8)
    path.unlink(missing_ok=True)  # an unusable former value
    _create_secret_file(path, value)
    return value


def _create_secret_file(path: Path, value: str) -> bool:
    """Write `value` to a new file of mode 0600 (a directory it needs: 0700); False if the
    file exists already."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return True


def agent_specs(inventory: Inventory) -> tuple[list[AgentSpec], list[str]]:
    """The agents of an inventory (devices with a sim_profile) and the ids of skipped ones.

    Raises LabError listing every device that cannot be simulated: a non-loopback address,
    a community unusable as a file name, v3 keys snmpsim cannot take, two devices on one
    endpoint.
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
        usm = None
        if eff.credential.version == "3":
            usm, problem = _lab_usm(inventory, device.id, eff.credential_name)
            if usm is None:
                problems.append(problem)
                continue
            community = Secret(V3_DATA_NAME, "lab")
        else:
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
                               caps.get(device.id, {}), usm))
    if problems:
        raise LabError("\n".join(problems))
    return specs, skipped


def _lab_usm(inventory: Inventory, device_id: str, name: str) -> tuple[LabUsm | None, str]:
    """The USM identity of a device on v3 credential `name`, or why snmpsim cannot serve it
    (keys go to snmpsim as whitespace-separated words of an options file, lab/agents.py)."""
    cred = inventory.credentials[name]
    keys: dict[str, Secret | None] = {}
    for which, proto in (("auth_key", cred.auth_protocol), ("priv_key", cred.priv_protocol)):
        keys[which] = None
        if not proto:
            continue
        try:
            key = inventory.secret(name, which)
        except KeyError:
            return None, f"{device_id}: credential {name} has no resolved {which}"
        text = key.reveal()
        if len(text) < _MIN_V3_KEY or any(c.isspace() for c in text):
            return None, (f"{device_id}: the {which} of credential {name} must be at least "
                          f"{_MIN_V3_KEY} characters without spaces for the lab")
        keys[which] = key
    user = cred.user or ""
    if not user or any(c.isspace() for c in user):
        return None, f"{device_id}: the user of credential {name} must have no spaces for the lab"
    return LabUsm(lab_engine_id(device_id), user, cred.auth_protocol, keys["auth_key"],
                  cred.priv_protocol, keys["priv_key"]), ""


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
