"""Hot reload of a real `borderwatch run` process (issue 12): SIGHUP and POST /-/reload,
the write route's authentication (basic auth from --web.config.file), the reload metrics,
and a refused file that keeps the running devices. Real snmpd agent on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp
import bcrypt
from prometheus_client.parser import text_string_to_metric_families
from runtime_helpers import BORDERWATCH, Dev, v2c, write_inventory
from servers import free_tcp_port, start_snmpd

PASSWORD = "reload-test-pass"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests
GOOD = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"ops:nope").decode()}
ENV = {"BW_RELOAD_ONE": "public", "BW_RELOAD_TWO": "public", "BW_RELOAD_THREE": "public"}
DEFAULTS = {"interval": 1, "timeout": 0.5, "retries": 0}


async def _request(method: str, url: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client, \
            client.request(method, url, headers=headers) as resp:
        return resp.status, await resp.text()


async def _metrics(url: str) -> dict[str, dict[str, float]]:
    """{sample name: {device or "": value}} of /metrics."""
    status, text = await _request("GET", f"{url}/metrics", GOOD)
    assert status == 200
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[s.labels.get("device", "")] = s.value
    return out


async def test_sighup_and_post_reload_in_a_real_process(tmp_path: Path) -> None:
    snmpd = start_snmpd(tmp_path / "snmpd")
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    one, two, three = (Dev(n, snmpd.port, n, extra={"profile": ["system"]})
                       for n in ("one", "two", "three"))
    creds = {n: v2c(f"BW_RELOAD_{n.upper()}") for n in ("one", "two", "three")}
    inv = write_inventory(tmp_path / "inventory.yaml", [one, two], creds, DEFAULTS)
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  ops: {HASH}\n")
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(inv), "--listen", f"127.0.0.1:{port}",
        "--web.config.file", str(web), "--no-history", env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.decode().strip() == f"serving {url}/metrics", line
        seen: dict[str, dict[str, float]] = {}

        def polls(device: str) -> float:
            return seen.get("borderwatch_device_polls_total", {}).get(device, 0)

        async def until(what: str, done: Callable[[], bool]) -> None:
            for _ in range(300):
                seen.update(await _metrics(url))
                if done():
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"timed out waiting for {what}")

        await until("both devices polled", lambda: polls("one") >= 2 and polls("two") >= 2)
        assert seen["borderwatch_config_last_reload_successful"][""] == 1
        started = seen["borderwatch_config_last_reload_success_timestamp_seconds"][""]
        polls_one = seen["borderwatch_device_polls_total"]["one"]

        # SIGHUP: a third device starts polling
        write_inventory(inv, [one, two, three], creds, DEFAULTS)
        proc.send_signal(signal.SIGHUP)
        await until("the added device polled", lambda: polls("three") >= 2)
        assert seen["borderwatch_device_up"]["three"] == 1
        assert seen["borderwatch_config_last_reload_success_timestamp_seconds"][""] > started

        # POST /-/reload is a write: the listener's basic auth decides
        write_inventory(inv, [one, three], creds, DEFAULTS)
        assert (await _request("POST", f"{url}/-/reload", {}))[0] == 401
        assert (await _request("POST", f"{url}/-/reload", WRONG))[0] == 401
        assert (await _request("GET", f"{url}/-/reload", GOOD))[0] == 405
        assert "two" in (await _metrics(url))["borderwatch_device_up"]  # nothing applied yet
        status, body = await _request("POST", f"{url}/-/reload", GOOD)
        assert status == 200, body
        assert json.loads(body)["removed"] == ["two"]
        after = await _metrics(url)
        assert "two" not in after["borderwatch_device_up"]
        assert "two" not in after["borderwatch_device_polls_total"]

        # a refused file: 500 with file:line, the metric says 0, the devices keep polling
        text = inv.read_text()
        inv.write_text(text.replace("schema_version: 1", "schema_version: 1\nunknown_key: 1"))
        status, body = await _request("POST", f"{url}/-/reload", GOOD)
        assert status == 500
        problems = json.loads(body)["problems"]
        assert any(p.startswith(f"{inv}:2: unknown_key") for p in problems), problems
        before = polls("three")
        await until("more polls after the refused file", lambda: polls("three") >= before + 2)
        assert seen["borderwatch_config_last_reload_successful"][""] == 0
        assert seen["borderwatch_device_polls_total"]["three"] > before
        # the untouched device counted on through every reload, never overran
        assert seen["borderwatch_device_polls_total"]["one"] > polls_one
        assert seen["borderwatch_poll_overruns_total"]["one"] == 0

        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        snmpd.stop()
    stderr = err.decode()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "reloading" in stderr and "(SIGHUP)" in stderr
    assert f"{inv}:2: unknown_key" in stderr  # the log names file:line
    assert "public" not in stderr  # the community never shows
