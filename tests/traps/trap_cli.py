"""net-snmp's snmptrap / snmpinform as a device would send them: every trap type borderwatch
maps, in every SNMP version and PDU, from a chosen 127.0.0.x source address (--clientaddr).

`KINDS`: trap name → (v2 trap OID, varbinds as snmptrap arguments, v1 form). The v1 form is
(enterprise, generic, specific) as RFC 3584 §3.2 turns the v2 OID into a v1 trap.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
UPS_TRAPS = "1.3.6.1.2.1.33.2"
UPS_ALARM_ID = "1.3.6.1.2.1.33.1.6.2.1.1"
UPS_ALARM_DESCR = "1.3.6.1.2.1.33.1.6.2.1.2"
UPS_ALARM_ON_BATTERY = "1.3.6.1.2.1.33.1.6.3.2"
UPS_SECONDS_ON_BATTERY = "1.3.6.1.2.1.33.1.2.2.0"
LAB = "1.3.6.1.4.1.32473"
LAB_RSL = f"{LAB}.1.1.1.3"
LAB_DC_MAINS = f"{LAB}.3.1.0"


def _link(index: int, up: bool) -> list[str]:
    return [f"{IF_INDEX}.{index}", "i", str(index), f"{IF_ADMIN}.{index}", "i", "1",
            f"{IF_OPER}.{index}", "i", "1" if up else "2"]


# name: (v2 trap OID, varbinds, (v1 enterprise, generic, specific))
KINDS: dict[str, tuple[str, list[str], tuple[str, int, int]]] = {
    "linkDown": ("1.3.6.1.6.3.1.1.5.3", _link(1, False), ("1.3.6.1.4.1.8072.3.2.10", 2, 0)),
    "linkUp": ("1.3.6.1.6.3.1.1.5.4", _link(1, True), ("1.3.6.1.4.1.8072.3.2.10", 3, 0)),
    "coldStart": ("1.3.6.1.6.3.1.1.5.1", [], ("1.3.6.1.4.1.8072.3.2.10", 0, 0)),
    "warmStart": ("1.3.6.1.6.3.1.1.5.2", [], ("1.3.6.1.4.1.8072.3.2.10", 1, 0)),
    "upsTrapOnBattery": (f"{UPS_TRAPS}.1", [UPS_SECONDS_ON_BATTERY, "i", "3"],
                         (UPS_TRAPS, 6, 1)),
    "upsTrapAlarmEntryAdded": (f"{UPS_TRAPS}.3", [f"{UPS_ALARM_ID}.7", "i", "7",
                                                  f"{UPS_ALARM_DESCR}.7", "o",
                                                  UPS_ALARM_ON_BATTERY], (UPS_TRAPS, 6, 3)),
    "upsTrapAlarmEntryRemoved": (f"{UPS_TRAPS}.4", [f"{UPS_ALARM_ID}.7", "i", "7",
                                                    f"{UPS_ALARM_DESCR}.7", "o",
                                                    UPS_ALARM_ON_BATTERY], (UPS_TRAPS, 6, 4)),
    "labMainsLost": (f"{LAB}.0.1", [LAB_DC_MAINS, "i", "2"], (LAB, 6, 1)),
    "labMainsRestored": (f"{LAB}.0.2", [LAB_DC_MAINS, "i", "1"], (LAB, 6, 2)),
    "labRadioFade": (f"{LAB}.0.3", [f"{LAB_RSL}.1", "i", "-900"], (LAB, 6, 3)),
    "labRadioFadeCleared": (f"{LAB}.0.4", [f"{LAB_RSL}.1", "i", "-450"], (LAB, 6, 4)),
}


@dataclass(frozen=True)
class Sender:
    """How one device sends: its source address and credential (community or v3 user)."""

    source: str
    community: str = ""
    user: str = ""
    auth: tuple[str, str] = ("SHA", "")  # (protocol, password)
    priv: tuple[str, str] = ("AES", "")

    def security(self) -> list[str]:
        if not self.user:
            return ["-c", self.community]
        level = "authPriv" if self.priv[1] else "authNoPriv"
        args = ["-u", self.user, "-l", level, "-a", self.auth[0], "-A", self.auth[1]]
        if self.priv[1]:
            args += ["-x", self.priv[0], "-X", self.priv[1]]
        return args


def argv(sender: Sender, dest: str, kind: str, version: str, pdu: str,
         engine_id: str = "0x80001f8880aabbccdd01") -> list[str]:
    """The command line that sends `kind` as a `version` `pdu` ("trap" or "inform")."""
    oid, varbinds, (enterprise, generic, specific) = KINDS[kind]
    tool = "snmpinform" if pdu == "inform" else "snmptrap"
    common = [tool, "-m", "", "-M", "/nonexistent", f"--clientaddr={sender.source}",
              "-r", "2", "-t", "1"]
    if version == "1":
        return [*common, "-v1", *sender.security(), dest, enterprise, sender.source,
                str(generic), str(specific), "", *varbinds]
    sec = ["-v2c", *sender.security()] if version == "2c" else ["-v3", *sender.security()]
    if version == "3" and pdu == "trap":
        sec += ["-e", engine_id]  # the device's own (authoritative) engine ID
    return [*common, *sec, dest, "", oid, *varbinds]


def send(sender: Sender, dest: str, kind: str, version: str, pdu: str,
         engine_id: str = "0x80001f8880aabbccdd01") -> subprocess.CompletedProcess[str]:
    """Run it; an inform returns once acknowledged (rc 0) or after its retries (rc 1).
    `engine_id`: a v3 trap's authoritative engine ID (the sending device's own)."""
    return subprocess.run(argv(sender, dest, kind, version, pdu, engine_id),
                          capture_output=True, text=True, timeout=30, check=False)
