"""The server fixtures start real servers that answer, refuse busy ports and stop cleanly."""

from __future__ import annotations

import bz2
import os
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from servers import (
    SNMPD_SYSNAME,
    SNMPSIM_TEST_DUMPS,
    SNMPSIM_V3_USER,
    SYS_OBJECT_ID_0,
    SYS_UPTIME_0,
    ServerError,
    Snmpd,
    Snmpsim,
    dump_path,
    free_tcp_port,
    free_udp_port,
    make_dump_dir,
    snmpget,
    start_snmpd,
)

SYS_NAME_0 = "1.3.6.1.2.1.1.5.0"
IF_NUMBER_0 = "1.3.6.1.2.1.2.1.0"
SNMP_ENGINE_ID_0 = "1.3.6.1.6.3.10.2.1.1.0"
SNMP_ENGINE_BOOTS_0 = "1.3.6.1.6.3.10.2.1.2.0"


def _value(res) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout.split(" = ", 1)[1].strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists": check its state.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_snmpd_answers_v2c_and_each_v3_user(snmpd: Snmpd) -> None:
    got = _value(snmpget(snmpd.address, snmpd.port, [SYS_NAME_0]))
    assert got == f'STRING: "{SNMPD_SYSNAME}"' or got == f"STRING: {SNMPD_SYSNAME}"
    for user, level, auth, priv in (
        ("testv3user", "authPriv", "SHA", "AES"),
        ("testv3sha256", "authPriv", "SHA-256", "AES-256"),
        ("testv3authonly", "authNoPriv", "SHA", None),
    ):
        extra = ["-u", user, "-l", level, "-a", auth, "-A", "authpass123"]
        if priv:
            extra += ["-x", priv, "-X", "privpass123"]
        assert SNMPD_SYSNAME in _value(snmpget(snmpd.address, snmpd.port, [SYS_NAME_0],
                                               version="3", extra=extra)), user
    # The sysonly community sees the system group only.
    res = snmpget(snmpd.address, snmpd.port, [IF_NUMBER_0], community="sysonly")
    assert "No Such Object" in res.stdout


def test_snmpd_restart_keeps_engine_id_unless_fresh(snmpd: Snmpd) -> None:
    def engine() -> tuple[str, int]:
        engine_id = _value(snmpget(snmpd.address, snmpd.port, [SNMP_ENGINE_ID_0]))
        boots = _value(snmpget(snmpd.address, snmpd.port, [SNMP_ENGINE_BOOTS_0]))
        return engine_id, int(boots.split()[-1])

    engine_id, boots = engine()
    old_pid = snmpd.pid
    snmpd.restart()
    assert snmpd.pid != old_pid and not _alive(old_pid)
    assert engine() == (engine_id, boots + 1)
    snmpd.restart(fresh_engine_id=True)
    assert engine()[0] != engine_id


def test_snmpd_refuses_a_busy_port_and_stops_cleanly(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", free_udp_port()))
        port = squatter.getsockname()[1]
        with pytest.raises(ServerError, match="already in use"):
            start_snmpd(tmp_path / "busy", port=port)
    server = start_snmpd(tmp_path / "ok")
    pid = server.pid
    server.stop()
    server.stop()  # idempotent
    assert not _alive(pid)
    assert snmpget(server.address, server.port, [SYS_UPTIME_0], timeout=0.3,
                   retries=0).returncode != 0


def test_snmpsim_dumps_answer_by_community(snmpsim_dumps: Snmpsim) -> None:
    assert sorted(snmpsim_dumps.communities) == sorted(SNMPSIM_TEST_DUMPS)
    seen = set()
    for community in SNMPSIM_TEST_DUMPS:
        got = _value(snmpget(snmpsim_dumps.address, snmpsim_dumps.port, [SYS_OBJECT_ID_0],
                             community=community, timeout=3))
        assert got.startswith("OID: .1.3.6.1.4.1."), (community, got)
        seen.add(got)
    assert len(seen) >= 6  # different dumps really are different devices
    assert snmpsim_dumps.community_for("ubiquiti-m5") == "network/wifi/ubiquiti-m5"
    # A wrong community is silence, not an answer from some default data.
    res = snmpget(snmpsim_dumps.address, snmpsim_dumps.port, [SYS_OBJECT_ID_0],
                  community="no-such-dump", timeout=0.5, retries=0)
    assert res.returncode != 0 and "Timeout" in res.stderr


def test_snmpsim_dumps_v3_context_selects_the_dump(snmpsim_dumps: Snmpsim) -> None:
    u = SNMPSIM_V3_USER
    res = snmpget(snmpsim_dumps.address, snmpsim_dumps.port, [SYS_OBJECT_ID_0], version="3",
                  timeout=3, extra=["-u", u["user"], "-l", "authPriv", "-a", "SHA", "-A",
                                    u["auth_key"], "-x", "AES", "-X", u["priv_key"],
                                    "-n", "network/wifi/ubiquiti-m5"])
    assert _value(res).startswith("OID: .1.3.6.1.4.1.41112"), res.stdout


def test_dump_path_finds_plain_and_bz2() -> None:
    assert dump_path("iot/geist-temperature-sensor").name == "geist-temperature-sensor.snmprec"
    assert dump_path("network/switch/cisco-c3560").name == "cisco-c3560.snmprec.bz2"
    with pytest.raises(FileNotFoundError):
        dump_path("network/switch/no-such-device")


def test_dump_dir_serves_bz2_dumps_decompressed(tmp_path: Path) -> None:
    """snmpsim re-reads a .snmprec.bz2 from its start on nearly every OID it answers (see
    make_dump_dir): the copies it serves must be plain files with the dump's records."""
    name = "network/switch/cisco-c3560"
    stale = tmp_path / f"{name}.snmprec.bz2"  # what an older make_dump_dir left behind
    stale.parent.mkdir(parents=True)
    stale.write_bytes(dump_path(name).read_bytes())
    make_dump_dir(tmp_path, [name, "iot/geist-temperature-sensor"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.snmprec*")) \
        == ["iot/geist-temperature-sensor.snmprec", f"{name}.snmprec"]
    copy = tmp_path / f"{name}.snmprec"
    assert copy.read_bytes() == bz2.decompress(dump_path(name).read_bytes())
    # the source's mtime, so snmpsim's index of a copy stays valid; a second call keeps it
    assert copy.stat().st_mtime_ns == dump_path(name).stat().st_mtime_ns
    inode = copy.stat().st_ino
    make_dump_dir(tmp_path, [name])
    assert copy.stat().st_ino == inode


def test_prometheus_scrapes_a_real_exporter(prometheus_factory) -> None:
    registry = CollectorRegistry()
    Gauge("bw_fixture_probe", "fixture self-test", registry=registry).set(42)
    port = free_tcp_port()
    httpd, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prom = prometheus_factory([f"127.0.0.1:{port}"])
        with urllib.request.urlopen(prom.url + "/-/ready", timeout=5) as resp:
            assert resp.status == 200
        result = prom.wait_for("bw_fixture_probe", lambda r: len(r) == 1, timeout=30)
        assert float(result[0]["value"][1]) == 42.0
        pid = prom.pid
        prom.stop()
        assert not _alive(pid)
    finally:
        httpd.shutdown()
        thread.join(5)
