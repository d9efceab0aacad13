"""`borderwatch poll` output and exit codes; canary secrets never leave the process (A43).

Real agents: snmpsim (cisco-c3560 dump) and a net-snmp snmpd whose v2c community and v3
keys ARE the canaries, so the secrets are really used on the wire while the test greps
every output for them (plain, hex, base64, URL-encoded).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from runtime_helpers import (
    BORDERWATCH,
    Dev,
    fetch,
    find_leaks,
    v2c,
    v3,
    write_inventory,
)
from servers import free_tcp_port, free_udp_port, start_snmpd

CANARY_COMM = "cnry-COMM-7f3a9c"
CANARY_AUTH = "cnry-AUTH-5e1d2b"
CANARY_PRIV = "cnry-PRIV-9a8b7c"
CANARY_WRONG = "cnry-AUTH-0bad77"  # a wrong key: exercises the authentication error path
CANARIES = (CANARY_COMM, CANARY_AUTH, CANARY_PRIV, CANARY_WRONG)


def borderwatch(*args: str, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BORDERWATCH, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def c3560_inventory(tmp_path: Path, snmpsim_dumps) -> tuple[Path, dict[str, str]]:
    env = {"BW_C3560": snmpsim_dumps.community_for("cisco-c3560")}
    inv = write_inventory(tmp_path / "inventory.yaml",
                          [Dev("ls-core-sw1", snmpsim_dumps.port, "sim"),
                           Dev("ls-core-sw2", free_udp_port(), "sim")],
                          {"sim": v2c("BW_C3560")},
                          # patient: at load 4-8 the shared snmpsim took over 1 s to answer
                          # and the if-mib walk timed out (a partial poll, no interfaces)
                          {"interval": 30, "timeout": 5, "retries": 2, "max_repetitions": 60})
    return inv, env


def test_poll_json_against_snmpsim(c3560_inventory: tuple[Path, dict[str, str]]) -> None:
    inv, env = c3560_inventory
    res = borderwatch("poll", "--inventory", str(inv), "ls-core-sw1", "--json", env=env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["device"] == "ls-core-sw1" and data["ok"] is True and data["error"] is None
    assert "if-mib" in data["profile"]
    rx = [s for s in data["samples"]
          if s["metric"] == "borderwatch_interface_receive_bytes_total"]
    assert len(rx) >= 50
    assert all({"ifIndex", "ifName", "ifAlias", "ifDescr"} <= set(s["labels"]) for s in rx)
    assert all(s["type"] == "counter" and isinstance(s["value"], int) for s in rx)
    assert data["varbinds"] > 500 and data["requests"] >= 1
    assert env["BW_C3560"] not in res.stdout + res.stderr


def _table_sections(stdout: str) -> tuple[list[str], list[str]]:
    """The interface table's rows and the sample table's rows of a `poll` table."""
    lines = stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("IFINDEX ")))
    end = lines.index("", start)
    metric = lines.index(next(line for line in lines if line.startswith("METRIC ")))
    samples_end = lines.index("", metric) if "" in lines[metric:] else len(lines)
    return lines[start:end], lines[metric + 1:samples_end]


def test_poll_table_is_one_line_per_interface(tmp_path: Path, snmpsim_dumps) -> None:
    """Issue 14: the table cut ifName to "Gigabit…". Now one line per interface with its
    full name, piped or --wide; only a terminal's width ($COLUMNS) cuts, and visibly."""
    env = {"BW_C3560": snmpsim_dumps.community_for("cisco-c3560")}
    # patient: a poll that times out on a loaded machine would prove nothing here
    inv = write_inventory(tmp_path / "inventory.yaml",
                          [Dev("ls-core-sw1", snmpsim_dumps.port, "sim")],
                          {"sim": v2c("BW_C3560")},
                          {"interval": 60, "timeout": 5, "retries": 2, "max_repetitions": 60})
    data = json.loads(borderwatch("poll", "--inventory", str(inv), "ls-core-sw1", "--json",
                                  env=env).stdout)
    names = {s["labels"]["ifIndex"]: s["labels"] for s in data["samples"]
             if s["metric"] == "borderwatch_interface_oper_status"}
    assert len(names) >= 50
    for args, columns in ((["--wide"], "60"), ([], "")):  # --wide beats $COLUMNS; a pipe
        res = borderwatch("poll", "--inventory", str(inv), "ls-core-sw1", *args,
                          env={**env, "COLUMNS": columns})
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].startswith("device   ls-core-sw1 (site test-hub) at 127.0.0.1:")
        assert lines[1] == "result   ok"
        header, *rows = _table_sections(res.stdout)[0]
        assert header.split() == ["IFINDEX", "IFNAME", "STATUS", "SPEED", "RX_BYTES",
                                  "TX_BYTES", "ERRORS_RX/TX", "DISCARDS_RX/TX", "DISCONT_S",
                                  "DESCR"], header  # no ALIAS: the dump's are all empty
        assert [r.split()[0] for r in rows] == sorted(names, key=int)
        for row in rows:
            labels = names[row.split()[0]]
            assert row.split()[1] == labels["ifName"]
            assert row.endswith(f"  {labels['ifDescr']}")
        assert "…" not in res.stdout and "fitted to" not in res.stdout
    # a terminal 80 columns wide: names kept whole, the least needed columns left out,
    # the long sysDescr label cut, visibly; every line fits
    res = borderwatch("poll", "--inventory", str(inv), "ls-core-sw1",
                      env={**env, "COLUMNS": "80"})
    assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout
    (header, *rows), samples = _table_sections(res.stdout)
    assert header.split() == ["IFINDEX", "IFNAME", "STATUS", "SPEED", "RX_BYTES", "TX_BYTES",
                              "ERRORS_RX/TX"]
    assert [r.split()[1] for r in rows] == [names[i]["ifName"] for i in sorted(names, key=int)]
    (info,) = [r for r in samples if r.startswith("borderwatch_device_info ")]
    assert info.endswith("…") and 'sysDescr="Cisco IOS Software' in info
    assert res.stdout.endswith("\nfitted to 80 columns (--wide shows everything):\n"
                               "  cells ending in … are cut\n"
                               "  left out: DISCARDS_RX/TX, DISCONT_S, DESCR\n")


def test_poll_exit_codes(c3560_inventory: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    inv, env = c3560_inventory
    dead = borderwatch("poll", "--inventory", str(inv), "ls-core-sw2", "--json", env=env)
    assert dead.returncode == 1
    assert json.loads(dead.stdout)["ok"] is False
    assert "ls-core-sw2" in dead.stderr and "did not answer: timeout" in dead.stderr

    unknown = borderwatch("poll", "--inventory", str(inv), "ls-core-sw", env=env)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no device 'ls-core-sw'" in unknown.stderr
    hint = unknown.stderr.split("did you mean: ", 1)[1].strip().rstrip("?")
    assert set(hint.split(", ")) == {"ls-core-sw1", "ls-core-sw2"}

    bad = tmp_path / "bad.yaml"
    bad.write_text(inv.read_text().replace("retries: 2", "retries: 2\n  comunity: x"))
    res = borderwatch("poll", "--inventory", str(bad), "ls-core-sw1", env=env)
    assert res.returncode == 2
    assert f"{bad}:" in res.stderr and "comunity" in res.stderr
    res = borderwatch("run", "--inventory", str(bad), env=env)
    assert res.returncode == 2 and "comunity" in res.stderr


@pytest.mark.slow
async def test_canary_secrets_never_appear_in_any_output(tmp_path: Path) -> None:
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf="\n".join([
        f"rocommunity {CANARY_COMM} 127.0.0.0/8",
        f"createUser cnryuser SHA {CANARY_AUTH} AES {CANARY_PRIV}",
        "rouser cnryuser priv",
    ]))
    env = {"BW_COMM": CANARY_COMM, "BW_V3_AUTH": CANARY_AUTH, "BW_V3_PRIV": CANARY_PRIV,
           "BW_BAD_AUTH": CANARY_WRONG, "BW_BAD_PRIV": CANARY_PRIV}
    creds = {"comm": v2c("BW_COMM"), "v3": v3("cnryuser", "SHA", "AES-128", "BW_V3"),
             "v3bad": v3("cnryuser", "SHA", "AES-128", "BW_BAD")}
    devices = [Dev("canary-v2c", snmpd.port, "comm"), Dev("canary-v3", snmpd.port, "v3"),
               Dev("canary-v3-wrongkey", snmpd.port, "v3bad"),
               Dev("canary-dead", free_udp_port(), "comm")]
    inv = write_inventory(tmp_path / "inventory.yaml", devices, creds,
                          {"interval": 2, "timeout": 0.5, "retries": 1})
    outputs: dict[str, str] = {}
    try:
        port = free_tcp_port()
        proc = await asyncio.create_subprocess_exec(
            BORDERWATCH, "--log-level", "DEBUG", "run", "--inventory", str(inv), "--listen",
            f"127.0.0.1:{port}", env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 30)
            cmdline = Path(f"/proc/{proc.pid}/cmdline")
            outputs["cmdline"] = (await asyncio.to_thread(cmdline.read_bytes)).decode()
            health: dict = {}

            async def polled_all() -> None:
                nonlocal health
                while True:
                    health = json.loads((await fetch(f"{url}/healthz"))[2])
                    if health["devices_unknown"] == 0 and health["devices_up"] == 2:
                        return
                    await asyncio.sleep(0.2)

            await asyncio.wait_for(polled_all(), 30)
            outputs["healthz"] = json.dumps(health)
            outputs["metrics"] = (await fetch(f"{url}/metrics"))[2].decode()
            outputs["metrics.gz"] = (await fetch(f"{url}/metrics",
                                                 {"Accept-Encoding": "gzip"}))[2].hex()
            outputs["metrics.om"] = (await fetch(f"{url}/metrics", {
                "Accept": "application/openmetrics-text; version=1.0.0"}))[2].decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        outputs["run stdout"], outputs["run stderr"] = out.decode(), err.decode()
        for device in ("canary-v2c", "canary-v3", "canary-v3-wrongkey", "canary-dead"):
            for fmt in (("--json",), ()):
                res = await asyncio.to_thread(
                    borderwatch, "--log-level", "DEBUG", "poll", "--inventory", str(inv),
                    device, *fmt, env=env)
                outputs[f"poll {device} {fmt}"] = res.stdout + res.stderr
                assert res.returncode == (0 if device in ("canary-v2c", "canary-v3") else 1)
    finally:
        snmpd.stop()

    # The scenario is real: the canary credentials worked, the wrong key and dead port not.
    assert 'borderwatch_device_up{device="canary-v3",site="test-hub"} 1.0' in outputs["metrics"]
    assert 'borderwatch_device_up{device="canary-v2c",site="test-hub"} 1.0' in \
        outputs["metrics"]
    assert 'device="canary-v3-wrongkey",site="test-hub"} 0.0' in outputs["metrics"]
    assert "DEBUG" in outputs["run stderr"]  # the logs really were at DEBUG level
    assert "canary-v3-wrongkey" in outputs["run stderr"]  # its failure was logged
    leaks = {name: find_leaks(text, CANARIES) for name, text in outputs.items()}
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}
