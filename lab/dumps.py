"""Per-device snmpsim data files: a dump trimmed to what borderwatch polls, with moving counters.

A device's `sim_profile` names a dump of the snmpsim-data package ('network/switch/cisco-c3560')
or one of the lab's own files ('custom/huawei-rtn950a' → lab/snmprec/huawei-rtn950a.snmprec).
Big dumps (the Juniper MX960 one has 650,000 records) are cut to the subtrees the collector
polls, so snmpsim indexes them in well under a second; interface octet counters and sysUpTime
become snmpsim `numeric` variations so that rates and uptime move like on a real device.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import importlib.util
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

CUSTOM_PREFIX = "custom/"
CUSTOM_DIR = Path(__file__).resolve().parent / "snmprec"

# Bump when the output of build_records() changes for the same input, so cached files rebuild.
BUILD_VERSION = "2"

# The subtrees borderwatch polls; everything else is dropped from the dumps.
SUBTREES: tuple[tuple[int, ...], ...] = tuple(
    tuple(int(x) for x in s.split("."))
    for s in (
        "1.3.6.1.2.1.1",            # system
        "1.3.6.1.2.1.2",            # interfaces (ifNumber, ifTable)
        "1.3.6.1.2.1.31",           # IF-MIB ifXTable
        "1.3.6.1.2.1.33",           # RFC 1628 UPS-MIB
        "1.3.6.1.2.1.25.3.3",       # HOST-RESOURCES hrProcessorTable
        "1.3.6.1.2.1.47.1.1.1",     # ENTITY-MIB entPhysicalTable (sensor names)
        "1.3.6.1.2.1.99",           # ENTITY-SENSOR-MIB
        "1.3.6.1.4.1.41112",        # Ubiquiti airMAX
        "1.3.6.1.4.1.32473",        # the lab's own MIB (lab/LAB-MIB.md)
    )
)

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_SPEED = (1, 3, 6, 1, 2, 1, 2, 2, 1, 5)          # bit/s, Gauge32
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)    # 1 = up
IF_IN_OCTETS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10)     # Counter32
IF_OUT_OCTETS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 16)    # Counter32
IF_HC_IN_OCTETS = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)    # Counter64
IF_HC_OUT_OCTETS = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)  # Counter64
IF_HIGH_SPEED = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15)     # Mbit/s
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
UBNT_SIGNAL = (1, 3, 6, 1, 4, 1, 41112, 1, 4, 5, 1, 5)  # airMAX signal, dBm

# Lab MIB radio columns (RSL, SNR, MSE in 0.1 units): how far (±) a device's level is shifted
# from its file's value, drawn under a key, with a sign (MSE moves opposite to SNR). The
# planned RSL stays, so fade margins differ per device.
_RADIO = (1, 3, 6, 1, 4, 1, 32473, 1, 1, 1)
LAB_RADIO_SHIFT: dict[tuple[int, ...], tuple[int, str, int]] = {
    (*_RADIO, 3): (40, "rsl", 1),
    (*_RADIO, 5): (20, "snr", 1),
    (*_RADIO, 6): (20, "snr", -1),
}

COUNTER32_MAX = 2**32 - 1
# Column of a direction's octet counters: (32-bit, 64-bit).
OCTET_COLUMNS = {"in": (IF_IN_OCTETS, IF_HC_IN_OCTETS), "out": (IF_OUT_OCTETS, IF_HC_OUT_OCTETS)}


class DumpError(Exception):
    """A sim_profile names no dump, or a dump cannot be read."""


@dataclass(frozen=True)
class Record:
    """One snmprec line: OID, tag (e.g. '65', '4x', '2:numeric') and value text."""

    oid: tuple[int, ...]
    tag: str
    value: str

    def line(self) -> str:
        return f"{'.'.join(map(str, self.oid))}|{self.tag}|{self.value}"


def snmpsim_data_root() -> Path:
    """The `data` directory of the installed snmpsim-data package."""
    spec = importlib.util.find_spec("snmpsim_data")
    if spec is None or not spec.submodule_search_locations:
        raise DumpError("python package snmpsim-data is not installed (run scripts/setup.sh)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def source_path(sim_profile: str) -> Path:
    """The file a sim_profile names: lab/snmprec/<name>.snmprec or an snmpsim-data dump."""
    parts = sim_profile.split("/")
    if not sim_profile or any(p in ("", ".", "..") for p in parts):
        raise DumpError(f"sim_profile {sim_profile!r}: not a relative dump path")
    if sim_profile.startswith(CUSTOM_PREFIX):
        path = CUSTOM_DIR / f"{sim_profile[len(CUSTOM_PREFIX):]}.snmprec"
        if path.is_file():
            return path
        known = sorted(p.stem for p in CUSTOM_DIR.glob("*.snmprec"))
        raise DumpError(f"sim_profile {sim_profile!r}: no lab file {path.name} "
                        f"(the lab has: {', '.join(known)})")
    root = snmpsim_data_root()
    for suffix in (".snmprec", ".snmprec.bz2"):
        path = root / f"{sim_profile}{suffix}"
        if path.is_file():
            return path
    raise DumpError(f"sim_profile {sim_profile!r}: no such dump in snmpsim-data ({root})")


def parse_oid(text: str) -> tuple[int, ...]:
    """'1.3.6.1' → (1, 3, 6, 1); raises ValueError on anything else."""
    return tuple(int(x) for x in text.strip(".").split("."))


def read_records(path: Path) -> Iterator[Record]:
    """The records of an .snmprec or .snmprec.bz2 file (comments and bad lines skipped)."""
    opener = bz2.open if path.name.endswith(".bz2") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as fh:
            for raw in fh:
                line = raw.rstrip("\r\n")
                if not line or line.startswith("#"):
                    continue
                parts = line.split("|", 2)
                if len(parts) != 3:
                    continue
                try:
                    oid = parse_oid(parts[0])
                except ValueError:
                    continue
                yield Record(oid, parts[1], parts[2])
    except (OSError, EOFError) as exc:
        raise DumpError(f"cannot read {path}: {exc}") from exc


def in_subtrees(oid: tuple[int, ...], subtrees: Iterable[tuple[int, ...]] = SUBTREES) -> bool:
    """True when oid lies under one of the subtrees."""
    return any(oid[: len(s)] == s for s in subtrees)


def _column(records: dict[tuple[int, ...], Record], column: tuple[int, ...]
            ) -> dict[tuple[int, ...], Record]:
    n = len(column)
    return {oid[n:]: rec for oid, rec in records.items() if oid[:n] == column}


def _int(rec: Record | None) -> int | None:
    if rec is None or ":" in rec.tag:
        return None
    try:
        return int(rec.value)
    except ValueError:
        return None


def _speed_bps(index: tuple[int, ...], records: dict[tuple[int, ...], Record]) -> int:
    high = _int(records.get(IF_HIGH_SPEED + index))
    if high:
        return high * 1_000_000
    speed = _int(records.get(IF_SPEED + index))
    # ifSpeed saturates at 4294967295 for fast links; fall back to 10 Mbit/s when unknown.
    return speed if speed else 10_000_000


def record_text(rec: Record | None) -> str | None:
    """An OctetString record's text ('4' plain, '4x' hex), None for anything else."""
    if rec is None:
        return None
    if rec.tag == "4":
        return rec.value
    if rec.tag == "4x":
        try:
            return bytes.fromhex(rec.value).decode("utf-8", "replace")
        except ValueError:
            return None
    return None


def _interface_names(records: dict[tuple[int, ...], Record],
                     index: tuple[int, ...]) -> set[str]:
    """The names a link end may use for an interface: ifName and ifDescr."""
    names = {record_text(records.get(IF_NAME + index)), record_text(records.get(IF_DESCR + index))}
    return {n for n in names if n}


def _rng(seed: str, *parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _numeric(tag: str, **settings: object) -> tuple[str, str]:
    return f"{tag}:numeric", ",".join(f"{k}={v}" for k, v in settings.items())


def animate(records: dict[tuple[int, ...], Record], seed: str,
            link_capacity: Mapping[str, float] | None = None) -> dict[tuple[int, ...], Record]:
    """Rewrite sysUpTime and octet counters of up interfaces into snmpsim `numeric` lines.

    Rates are a deterministic, plausible share (2–35 %) of the interface speed, drawn from
    `seed` (the device id), so a device keeps its traffic pattern across lab restarts. An
    interface that ends an inventory link (`link_capacity`: interface name → bit/s) is
    loaded against the link's capacity instead when that is lower: a 1 Gbit/s port on a
    2 Mbit/s VSAT link must not show 300 Mbit/s. A 32-bit counter starts at its 64-bit
    twin's value modulo 2**32, so both stay consistent.
    """
    link_capacity = link_capacity or {}
    out = dict(records)
    uptime = _int(records.get(SYS_UPTIME))
    if uptime is not None and records[SYS_UPTIME].tag == "67":
        out[SYS_UPTIME] = Record(SYS_UPTIME, *_numeric("67", rate=100, initial=uptime))

    oper = _column(records, IF_OPER_STATUS)
    for index, status in sorted(oper.items()):
        if _int(status) != 1:
            continue
        speed = _speed_bps(index, records)
        caps = [link_capacity[n] for n in _interface_names(records, index) if n in link_capacity]
        if caps:
            speed = min(speed, min(caps))
        for direction, (col32, col64) in OCTET_COLUMNS.items():
            share = _rng(seed, direction, index).uniform(0.02, 0.35)
            rate = max(1, round(speed * share / 8))  # octets per second
            hc = records.get(col64 + index)
            hc_initial = _int(hc)
            if hc is not None and hc.tag == "70" and hc_initial is not None:
                out[col64 + index] = Record(col64 + index,
                                            *_numeric("70", rate=rate, initial=hc_initial,
                                                      wrap=1))
            c32 = records.get(col32 + index)
            c32_initial = _int(c32)
            if c32 is not None and c32.tag == "65" and c32_initial is not None:
                if hc_initial is not None:
                    c32_initial = hc_initial % 2**32
                out[col32 + index] = Record(col32 + index,
                                            *_numeric("65", rate=rate, initial=c32_initial,
                                                      wrap=1, max=COUNTER32_MAX))

    # airMAX signal strength: a couple of dB of jitter, as a real link shows.
    for index, rec in _column(records, UBNT_SIGNAL).items():
        signal = _int(rec)
        if signal is not None and rec.tag == "2":
            out[UBNT_SIGNAL + index] = Record(
                UBNT_SIGNAL + index,
                *_numeric("2", rate=0, initial=signal, deviation=2, min=-110, max=0))
    return out


@functools.lru_cache(maxsize=64)
def trimmed_records(sim_profile: str) -> dict[tuple[int, ...], Record]:
    """The records of a sim_profile under SUBTREES (parsed once per process and profile)."""
    path = source_path(sim_profile)
    records = {rec.oid: rec for rec in read_records(path) if in_subtrees(rec.oid)}
    if not records:
        raise DumpError(f"sim_profile {sim_profile!r}: nothing under the polled subtrees")
    return records


def personalise(records: dict[tuple[int, ...], Record], device_id: str
                ) -> dict[tuple[int, ...], Record]:
    """Make the device look configured: sysName = device id, a sysUpTime if the dump lacks one,
    and lab-MIB radio levels shifted a little per device so that twins are told apart.
    """
    out = dict(records)
    # Operators set sysName; the dump's is some stranger's host name.
    out[SYS_NAME] = Record(SYS_NAME, "4", device_id)
    if SYS_UPTIME not in out:
        ticks = _rng(device_id, "uptime").randrange(360_000, 400_000_000)
        out[SYS_UPTIME] = Record(SYS_UPTIME, "67", str(ticks))
    for column, (spread, key, sign) in LAB_RADIO_SHIFT.items():
        for index, rec in _column(records, column).items():
            if rec.tag != "2:numeric":
                continue
            settings = dict(kv.split("=", 1) for kv in rec.value.split(","))
            if "initial" not in settings:
                continue
            shift = sign * _rng(device_id, "radio", key).randint(-spread, spread)
            settings["initial"] = str(int(float(settings["initial"])) + shift)
            out[column + index] = Record(column + index, rec.tag,
                                         ",".join(f"{k}={v}" for k, v in settings.items()))
    return out


def build_records(sim_profile: str, device_id: str,
                  link_capacity: Mapping[str, float] | None = None) -> list[Record]:
    """A device's trimmed, personalised, animated records, sorted by OID (snmpsim needs it)."""
    records = personalise(trimmed_records(sim_profile), device_id)
    return sorted(animate(records, device_id, link_capacity).values(), key=lambda r: r.oid)


def _build_key(sim_profile: str, device_id: str,
               link_capacity: Mapping[str, float] | None = None) -> str:
    src = source_path(sim_profile)
    st = src.stat()
    caps = ",".join(f"{k}={v:g}" for k, v in sorted((link_capacity or {}).items()))
    return f"v{BUILD_VERSION} {sim_profile} {st.st_size} {st.st_mtime_ns} {device_id} [{caps}]"


def write_data_file(sim_profile: str, device_id: str, dest: Path, stamp: Path,
                    link_capacity: Mapping[str, float] | None = None) -> int:
    """Build dest (an .snmprec) for a device unless `stamp` says it is up to date.

    Returns the record count. An up-to-date file is left untouched: its mtime is what keeps
    snmpsim's index valid. The stamp must live outside snmpsim's data dir.
    """
    # The destination is part of the key: in the shared lab a file's name is its endpoint's
    # position, which moves when the inventory changes.
    key = f"{_build_key(sim_profile, device_id, link_capacity)} {dest}"
    if dest.is_file() and stamp.is_file():
        try:
            stored_key, count = stamp.read_text().rsplit("\n", 1)
            if stored_key == key:
                return int(count)
        except ValueError:
            pass
    records = build_records(sim_profile, device_id, link_capacity)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.writelines(rec.line() + "\n" for rec in records)
    os.replace(tmp, dest)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{key}\n{len(records)}")
    return len(records)
