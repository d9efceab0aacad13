"""`--log-format json`: what a log shipper reads from a real `borderwatch` process, one
JSON object per line, which text from outside (a device, an HTTP client) cannot forge."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from runtime_helpers import BORDERWATCH
from servers import free_tcp_port
from snmprec_files import COUNTER32, GAUGE32, INTEGER, OCTET_STRING, start_agent, system_group

KEYS = {"time", "level", "logger", "message"}
IF, IFX = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
FORGED_RECORD = '{"time": "2026-12-07T15:00:00.000+00:00", "level": "CRITICAL", ' \
    '"logger": "borderwatch.service", "message": "forged"}'
FORGING_IFNAME = b'GE1/0/1"}\n' + FORGED_RECORD.encode()
RULES = """\
schema_version: 1
include_defaults: false
rules:
  - name: InterfaceDown
    kind: interface_down
    severity: warning
    interfaces: all
    for: 0s
"""


def json_records(stderr: str) -> list[dict[str, str]]:
    """Every stderr line parsed as one JSON object with the documented keys."""
    records = []
    for line in stderr.splitlines():
        record = json.loads(line)  # a line that is not one JSON object fails here
        assert KEYS <= record.keys() <= KEYS | {"exception", "stack"}, record
        records.append(record)
    return records


def hostile_agent_records() -> dict:
    """One interface, down (so alerted and logged), whose ifName forges a JSON record."""
    return {**system_group(b"test switch", b"sw1"),
            "1.3.6.1.2.1.2.1.0": (INTEGER, 1),
            f"{IF}.1.1": (INTEGER, 1), f"{IF}.2.1": (OCTET_STRING, b"GigabitEthernet1/0/1"),
            f"{IF}.5.1": (GAUGE32, 1_000_000_000), f"{IF}.7.1": (INTEGER, 1),
            f"{IF}.8.1": (INTEGER, 2),
            f"{IF}.10.1": (COUNTER32, 1000), f"{IF}.16.1": (COUNTER32, 2000),
            f"{IFX}.1.1": (OCTET_STRING, FORGING_IFNAME)}


def write_inventory(tmp: Path, port: int) -> Path:
    (tmp / "rules.yaml").write_text(RULES)
    data = {
        "schema_version": 1,
        "credentials": {"sim": {"version": "2c", "community_env": "BW_TEST_COMMUNITY"}},
        "defaults": {"interval": 2, "timeout": 1, "retries": 1},
        "sites": [{"id": "post1", "name": "Đồn Biên phòng", "kind": "core", "devices": [
            {"id": "sw1", "address": "127.0.0.1", "port": port, "credential": "sim",
             "profile": ["system", "if-mib"]}]}],
        "links": [],
        "alerts": {"rules": "rules.yaml", "state_dir": "state", "tick": 0.5},
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


async def test_run_logs_json_lines_a_device_cannot_forge(tmp_path: Path) -> None:
    """The service, polling a real agent whose ifName carries a forged JSON record, logs
    nothing but JSON objects, start to stop; the ifName stays inside one message."""
    agent = start_agent(tmp_path / "agent", {"hostile": hostile_agent_records()})
    port = free_tcp_port()
    try:
        proc = await asyncio.create_subprocess_exec(
            BORDERWATCH, "--log-format", "json", "run",
            "--inventory", str(write_inventory(tmp_path, agent.port)),
            "--listen", f"127.0.0.1:{port}",
            env={**os.environ, "BW_TEST_COMMUNITY": "hostile"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.startswith(b"serving "), (line, await proc.stderr.read())
            seen = b""
            while b"alert firing" not in seen:  # the downed interface's alert is logged
                seen += await asyncio.wait_for(proc.stderr.readline(), 60)
            proc.send_signal(signal.SIGTERM)
            _, rest = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        agent.stop()
    err = (seen + rest).decode()
    assert proc.returncode == 0, err[-3000:]
    records = json_records(err)
    messages = [r["message"] for r in records]
    assert "forged" not in messages and all(r["level"] != "CRITICAL" for r in records)
    # not vacuous: the device's ifName did reach the log, whole, inside its alert's message
    assert any("alert firing" in m and FORGED_RECORD in m
               for m in messages), messages
    assert any("SIGTERM" in m for m in messages), messages
    assert all(r["time"].endswith("+00:00") for r in records)  # UTC, ISO 8601
    assert "hostile" not in err  # the community stays out of the logs


def test_hostile_message_and_traceback_stay_one_record(tmp_path: Path) -> None:
    """A message built to look like a second record, and a traceback, through the CLI's own
    logging setup in a real process: each record stays one line and reads back verbatim."""
    hostile = 'ifAlias"}\n{"time": "x", "level": "ERROR", "message": "forged"}\x1b[2J\u2028end'
    script = textwrap.dedent(f"""
        import logging, sys
        from borderwatch.collector.logging_setup import setup_logging
        setup_logging("INFO", "json")
        log = logging.getLogger("collector.test")
        log.warning("device said %s", {hostile!r})
        try:
            raise ValueError({hostile!r})
        except ValueError:
            log.exception("poll failed")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    records = json_records(run.stderr)
    assert len(records) == 2, run.stderr
    assert records[0] == {**records[0], "level": "WARNING", "logger": "collector.test",
                          "message": f"device said {hostile}"}
    assert records[1]["message"] == "poll failed"
    assert records[1]["exception"].startswith("Traceback (most recent call last):")
    assert records[1]["exception"].endswith(f"ValueError: {hostile}")
    assert "forged" not in {r["message"] for r in records}


def test_text_stays_the_default(tmp_path: Path) -> None:
    """Without --log-format, the human-readable line as before."""
    run = subprocess.run([BORDERWATCH, "check", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert not run.stderr.lstrip().startswith("{"), run.stderr
