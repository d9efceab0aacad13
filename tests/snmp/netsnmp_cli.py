"""net-snmp's command line tools as a reference for what an agent serves (tests only)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from servers import find_binary

from borderwatch.collector.snmp.types import Tag, VarBind

_LINE = re.compile(r"^(\.[\d.]+) = (?:([A-Za-z][\w-]*): )?(.*)$")
_TYPES = {"INTEGER": Tag.INTEGER, "Hex-STRING": Tag.OCTET_STRING, "STRING": Tag.OCTET_STRING,
          "Counter32": Tag.COUNTER32, "Gauge32": Tag.GAUGE32, "Timeticks": Tag.TIMETICKS,
          "OID": Tag.OBJECT_IDENTIFIER, "Counter64": Tag.COUNTER64, "IpAddress": Tag.IP_ADDRESS}


def parse(output: str) -> list[VarBind]:
    """Varbinds from `-On -Ox` output (strings in hex); end-of-view lines are skipped."""
    out = []
    for line in output.splitlines():
        m = _LINE.match(line)
        if not m or m.group(3).startswith("No more variables left"):
            continue
        oid = tuple(int(x) for x in m.group(1).strip(".").split("."))
        kind, text = m.group(2), m.group(3).strip()
        if kind is None and text == '""':
            out.append(VarBind(oid, Tag.OCTET_STRING, b""))
            continue
        tag = _TYPES[kind]
        if tag == Tag.OCTET_STRING:
            hexed = kind == "Hex-STRING"
            value: object = bytes.fromhex(text) if hexed else text.strip('"').encode()
        elif tag == Tag.TIMETICKS:
            value = int(text.split(")")[0].lstrip("("))
        elif tag == Tag.OBJECT_IDENTIFIER:
            value = tuple(int(x) for x in text.strip(".").split("."))
        elif tag == Tag.IP_ADDRESS:
            value = bytes(int(x) for x in text.split("."))
        else:
            value = int(text)
        out.append(VarBind(oid, tag, value))
    return out


def bulkwalk(host: str, port: int, root: str, *, community: str = "public",
             extra: Sequence[str] = ()) -> list[VarBind]:
    """`snmpbulkwalk -v2c -On -Ox` of a subtree, parsed."""
    argv = [find_binary("snmpbulkwalk"), "-v2c", "-c", community, "-m", "", "-On", "-Ox",
            "-t", "3", "-r", "2", *extra, f"udp:{host}:{port}", root]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return parse(res.stdout)


COUNTERS = (Tag.COUNTER32, Tag.COUNTER64)


def assert_same_walk(ours: list[VarBind], before: list[VarBind], after: list[VarBind]) -> None:
    """Same OIDs and types as net-snmp; live counters between net-snmp's two readings."""
    assert [vb.oid for vb in ours] == [vb.oid for vb in before] == [vb.oid for vb in after]
    for mine, b, a in zip(ours, before, after, strict=True):
        assert mine.tag == b.tag, (mine, b)
        if mine.tag in COUNTERS:
            assert b.value <= mine.value <= a.value, (b, mine, a)
        else:
            assert mine.value in (b.value, a.value), (b, mine, a)
