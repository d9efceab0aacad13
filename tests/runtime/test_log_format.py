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

from runtime_helpers import BORDERWATCH, Dev, fetch, v2c, write_inventory
from servers import SNMPD_COMMUNITY, free_tcp_port, start_snmpd

KEYS = {"time", "level", "logger", "message"}


def json_records(stderr: str) -> list[dict[str, str]]:
    """Every stderr line parsed as one JSON object with the documented keys."""
    records = []
    for line in stderr.splitlines():
        record = json.loads(line)  # a line that is not one JSON object fails here
        assert KEYS <= record.keys() <= KEYS | {"exception", "stack"}, record
        records.append(record)
    return records


async def test_run_logs_json_lines(tmp_path: Path) -> None:
    """The service, polling a real snmpd, logs nothing but JSON objects, start to stop."""
    snmpd = start_snmpd(tmp_path / "snmpd")
    port = free_tcp_port()
    try:
        inv = write_inventory(tmp_path / "inventory.yaml",
                              [Dev("edge1", snmpd.port, "lab", extra={"profile": ["system"]})],
                              {"lab": v2c("BW_TEST_COMMUNITY")}, {"interval": 5})
        proc = await asyncio.create_subprocess_exec(
            BORDERWATCH, "--log-format", "json", "--log-level", "DEBUG", "run",
            "--inventory", str(inv), "--listen", f"127.0.0.1:{port}",
            env={**os.environ, "BW_TEST_COMMUNITY": SNMPD_COMMUNITY},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.startswith(b"serving "), (line, await proc.stderr.read())
            up: list[bool] = []

            async def polled() -> None:
                _, _, body = await fetch(f"http://127.0.0.1:{port}/metrics")
                up.append('borderwatch_device_up{device="edge1"' in body.decode())

            while not up or not up[-1]:
                await polled()
                await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        snmpd.stop()
    assert proc.returncode == 0, err.decode()[-3000:]
    records = json_records(err.decode())
    messages = [r["message"] for r in records]
    assert any("SIGTERM" in m for m in messages), messages
    assert {r["level"] for r in records} >= {"INFO"}
    assert all(r["time"].endswith("+00:00") for r in records)  # UTC, ISO 8601
    assert SNMPD_COMMUNITY not in err.decode()  # the secret stays out of the logs


def test_hostile_message_and_traceback_stay_one_record(tmp_path: Path) -> None:
    """A message built to look like a second record, and a traceback, through the CLI's own
    logging setup in a real process: each record stays one line and reads back verbatim."""
    hostile = 'ifAlias"}\n{"time": "x", "level": "ERROR", "message": "forged"}\x1b[2J\u2028end'
    script = textwrap.dedent(f"""
        import logging, sys
        from collector.logging_setup import setup_logging
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
