"""Recorded walks: what real agents answered to the built-in profiles, as JSON test data.

`record()` asks a real agent (snmpsim serving a snmpsim-data dump) for every scalar and
every table column the built-in profiles read, and stores the varbinds. The profile
engine's unit tests replay them without a network: `load()` gives back the
`{root OID: [VarBind]}` walks and `{OID: VarBind}` GET answers. Re-record with
`.venv/bin/python tests/profiles/walks.py` (it starts its own snmpsim).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from borderwatch.collector.profiles import builtin_profiles  # noqa: E402
from borderwatch.collector.snmp.types import OID, BadValue, Tag, VarBind, oid_str, parse_oid  # noqa: E402

WALK_DIR = REPO / "tests" / "data" / "walks"
RECORDED_DUMPS = (
    "network/switch/cisco-c3560",
    "network/router/cisco-unmarked-0",
    "network/wifi/ubiquiti-m5",
    "UPS/eaton-93e-80",
    "cloud/arista-dcs-7150s-52-cl",
    "network/router/vyatta-unknown",
)


def _encode(vb: VarBind) -> list[Any]:
    value: Any = vb.value
    if isinstance(value, BadValue):
        value = {"bad": [value.wire_tag, value.reason]}
    elif isinstance(value, bytes):
        value = {"hex": value.hex()}
    elif isinstance(value, tuple):
        value = {"oid": oid_str(value)}
    return [oid_str(vb.oid), int(vb.tag), value]


def _decode(item: list[Any]) -> VarBind:
    oid, tag, value = item
    if isinstance(value, dict):
        if "hex" in value:
            value = bytes.fromhex(value["hex"])
        elif "oid" in value:
            value = parse_oid(value["oid"])
        else:
            value = BadValue(*value["bad"])
    return VarBind(parse_oid(oid), Tag(tag), value)


def wanted_oids() -> tuple[list[OID], list[OID]]:
    """(scalar instances, table columns) that the built-in profiles read."""
    scalars: list[OID] = []
    columns: list[OID] = []
    for profile in builtin_profiles().values():
        for rule in profile.match:
            scalars += rule.answers
        for m in profile.scalars:
            scalars += m.oids
        for table in profile.tables:
            columns += [label.oid for label in table.labels]
            columns += [o for label in table.labels for o in label.fallback_oids]
            columns += [c.oid for c in table.where if c.oid]
            for m in table.metrics:
                columns += [o for o in (m.oid, m.fallback_oid) if o] + list(m.inputs)
    return list(dict.fromkeys(scalars)), list(dict.fromkeys(columns))


def load(name: str) -> tuple[dict[OID, list[VarBind]], dict[OID, VarBind]]:
    """(walks by column, GET answers by OID) of a recorded dump, e.g. 'cisco-c3560'."""
    data = json.loads((WALK_DIR / f"{name}.json").read_text())
    walks = {parse_oid(k): [_decode(x) for x in v] for k, v in data["walks"].items()}
    gets = {vb.oid: vb for vb in (_decode(x) for x in data["get"])}
    return walks, gets


async def _record_one(session: Any, name: str) -> None:
    loop = asyncio.get_running_loop()
    scalars, columns = wanted_oids()
    gets = await session.get(scalars, deadline=loop.time() + 30)
    walks = {}
    for column in columns:
        result = await session.walk(column, deadline=loop.time() + 60)
        walks[oid_str(column)] = [_encode(vb) for vb in result.varbinds]
    body = {"source": f"snmpsim-data {name}, recorded through collector.snmp",
            "get": [_encode(vb) for vb in gets], "walks": walks}
    out = WALK_DIR / f"{name.rsplit('/', 1)[-1]}.json"
    out.write_text(json.dumps(body, indent=0, sort_keys=True) + "\n")
    print(f"{out}: {sum(len(v) for v in walks.values()) + len(gets)} varbinds")


async def _record(port: int) -> None:
    from borderwatch.collector.secret import Secret
    from borderwatch.collector.snmp.factory import create_transport, open_session
    from borderwatch.collector.snmp.settings import SessionSettings

    transport = await create_transport(local_address="127.0.0.1")
    try:
        for name in RECORDED_DUMPS:
            settings = SessionSettings("127.0.0.1", port, community=Secret(name), timeout=5)
            await _record_one(open_session(settings, transport), name)
    finally:
        await transport.close()


def record() -> None:
    """Start a private snmpsim over RECORDED_DUMPS and record every dump's answers."""
    import tempfile

    from servers import free_udp_port, make_dump_dir, start_snmpsim

    WALK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dump_dir(Path(tmp) / "data", RECORDED_DUMPS)
        port = free_udp_port()
        sim = start_snmpsim(data, Path(tmp) / "cache", [("127.0.0.1", port)],
                            probe_community=RECORDED_DUMPS[0], log_path=Path(tmp) / "sim.log")
        try:
            asyncio.run(_record(port))
        finally:
            sim.stop()


if __name__ == "__main__":
    record()


def dump_values(name: str) -> dict[str, tuple[int, Any]]:
    """The oracle: a snmpsim-data dump parsed straight from its .snmprec file.

    Returns dotted OID → (tag, value) for plain records (variation records skipped);
    OCTET STRINGs as bytes, OIDs as dotted strings, numbers as int.
    """
    import bz2

    from servers import dump_path

    path = dump_path(name)
    raw = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
    out: dict[str, tuple[int, Any]] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        parts = line.split("|", 2)
        if len(parts) != 3 or ":" in parts[1]:
            continue
        oid, tag, value = parts
        data: Any
        if tag.endswith("x"):
            tag_num, data = int(tag[:-1]), bytes.fromhex(value)
        else:
            tag_num, data = int(tag), value
        if tag_num == 4:
            data = data if isinstance(data, bytes) else data.encode()
        elif tag_num in (2, 65, 66, 67, 70):
            data = int(data)
        out[oid] = (tag_num, data)
    return out
