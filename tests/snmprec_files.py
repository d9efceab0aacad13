"""Crafted .snmprec files for snmpsim: odd and hostile devices, byte for byte.

snmpsim serves what the file holds. OctetStrings are written hex-encoded (tag `4x`), so a
value can carry any byte (CR LF, ESC, NUL, invalid UTF-8) and the test says exactly which.
Records are sorted by OID, as snmpsim's walk needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from servers import free_udp_port, start_snmpsim

INTEGER, OCTET_STRING, OID_TAG, COUNTER32, GAUGE32, TIMETICKS = 2, 4, 6, 65, 66, 67

Record = tuple[int, "int | str | bytes"]


def snmprec_text(records: Mapping[str, Record]) -> str:
    """The file's text: `OID|TAG|VALUE` lines in OID order, strings hex-encoded."""
    lines = []
    for oid in sorted(records, key=lambda o: tuple(int(x) for x in o.split("."))):
        tag, value = records[oid]
        if tag == OCTET_STRING:
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            lines.append(f"{oid}|4x|{raw.hex()}")
        else:
            lines.append(f"{oid}|{tag}|{value}")
    return "\n".join(lines) + "\n"


def system_group(descr: bytes | str, name: bytes | str, uptime: int = 123456,
                 object_id: str = "1.3.6.1.4.1.8072.3.2.10") -> dict[str, Record]:
    """sysDescr, sysObjectID, sysUpTime, sysName."""
    return {"1.3.6.1.2.1.1.1.0": (OCTET_STRING, descr),
            "1.3.6.1.2.1.1.2.0": (OID_TAG, object_id),
            "1.3.6.1.2.1.1.3.0": (TIMETICKS, uptime),
            "1.3.6.1.2.1.1.5.0": (OCTET_STRING, name)}


def start_agent(tmp: Path, files: Mapping[str, Mapping[str, Record]]):
    """One snmpsim serving `files` (community = file name) on a free loopback port."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        (data / f"{name}.snmprec").write_text(snmprec_text(records))
    return start_snmpsim(data, tmp / "cache", [("127.0.0.1", free_udp_port())],
                         probe_community=next(iter(files)), log_path=tmp / "snmpsim.log",
                         timeout=60)
