"""`borderwatch silence` against a service whose inventory has no `alerts:` section: it says
so (issue 14: it used to print "the service answered 404: Not Found").

The service is a real `borderwatch run` process; the CLI is the real console script.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from aiohttp import web
from loopback_http import serve_on_loopback
from runtime_helpers import BORDERWATCH, Dev, v2c, write_inventory
from servers import free_tcp_port, free_udp_port

from borderwatch.alerts.silence_off import MESSAGE

COMMUNITY_VAR = "BW_SILENCE_OFF_COMMUNITY"


def silence(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BORDERWATCH, "silence", "--url", url, *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def service_without_alerts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`borderwatch run` on an inventory without alerts (its one device never answers)."""
    inv = write_inventory(tmp_path_factory.mktemp("noalerts") / "inventory.yaml",
                          [Dev("quiet-sw", free_udp_port(), "c")], {"c": v2c(COMMUNITY_VAR)},
                          {"interval": 60, "timeout": 1, "retries": 0})
    port = free_tcp_port()
    proc = subprocess.Popen([BORDERWATCH, "run", "--inventory", str(inv), "--listen",
                             f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, COMMUNITY_VAR: "public"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"serving http://127.0.0.1:{port}/metrics", line
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("args", [
    ("add", "site=test-hub", "--comment", "thay ắc quy", "--duration", "1h"),
    ("list",),
    ("list", "--json"),
    ("expire", "0123abcd"),
])
def test_silence_commands_say_alerts_are_not_configured(service_without_alerts: str,
                                                        args: tuple[str, ...]) -> None:
    run = silence(service_without_alerts, *args)
    assert run.returncode == 1 and run.stdout == ""
    assert MESSAGE in run.stderr and "404" not in run.stderr, run.stderr


def test_the_route_answers_json_for_scripts(service_without_alerts: str) -> None:
    request = urllib.request.Request(f"{service_without_alerts}/api/silences", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 404
    assert json.loads(answer.value.read()) == {"error": MESSAGE, "reason": "alerts_not_configured"}


async def test_a_service_without_the_route_at_all_is_explained_too() -> None:
    """A bare 404 (a service from before the JSON answer, or no borderwatch at all)."""
    runner, port = await serve_on_loopback(web.Application())
    try:
        run = await asyncio.to_thread(silence, f"http://127.0.0.1:{port}", "list")
    finally:
        await runner.cleanup()
    assert run.returncode == 1
    assert run.stderr == (f"borderwatch: silence list: the service at http://127.0.0.1:{port} "
                          "has no silence API (404): alerts are not configured in its "
                          "inventory (no alerts: section)\n")
