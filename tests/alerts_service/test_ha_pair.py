"""An HA pair: two identical `borderwatch run` processes, one Alertmanager cluster, one page.

Both instances poll the same network (real snmpd behind fault proxies, alert_network.py)
and post every alert to both members of a real two-member Alertmanager cluster peered
over loopback gossip (docs/deployment.md). Alertmanager identifies an alert by its label
set, which both instances derive from the same topology and observations, and the cluster
shares its notification log, so the webhook behind it gets one page per incident and one
resolve, even when one instance is killed (SIGKILL) before the page or in the middle of the
incident. Times are printed (-s), not asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from alert_network import ENV, Network, build
from am_server import Alertmanager, start_cluster
from hook_receiver import Receiver
from runtime_helpers import BORDERWATCH, wait_until
from servers import Snmpd, free_tcp_port

RESEND = 1.0  # each instance re-posts its firing alerts every second
PEER_TIMEOUT = 3.0  # the second cluster member waits this long for the first one's page
# Much longer than the peer timeout, as Alertmanager's defaults are (5 min against 15 s):
# the second member's notification compares the group as it was when its flush began,
# one peer timeout earlier, with the log; a state change inside that window is sent again
# (docs/deployment.md). Both members flush in step (their groups start with the same post).
GROUP_INTERVAL = 20.0


def notifications(recv: Receiver) -> list[str]:
    """The status of every notification (webhook POST) the cluster made."""
    return [body["status"] for body in recv.ok("/am")]


async def device_up_count(url: str) -> int:
    """How many devices the instance at `url` reports up on /metrics."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    return sum(1 for line in text.splitlines()
               if line.startswith("borderwatch_device_up{") and line.endswith(" 1.0"))


@contextlib.asynccontextmanager
async def instance(workdir: Path, net: Network) -> AsyncIterator[
        tuple[asyncio.subprocess.Process, str]]:
    """One member of the pair: the same inventory in its own directory (its own alert
    state and history, as on its own host), serving on a free port."""
    def copy() -> None:
        workdir.mkdir()
        for name in ("inventory.yaml", "rules.yaml"):
            shutil.copy(net.inventory.parent / name, workdir / name)

    await asyncio.to_thread(copy)
    port = free_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(workdir / "inventory.yaml"),
        "--listen", f"127.0.0.1:{port}", "--state-dir", str(workdir / "var"),
        env={**os.environ, **ENV}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().strip() == f"serving http://127.0.0.1:{port}/metrics", line
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def kill9(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


@pytest.mark.parametrize("killed", ["first-before-the-page", "second-mid-incident"])
async def test_ha_pair_pages_once_and_resolves_once_when_either_instance_dies(
        tmp_path: Path, snmpd: Snmpd, killed: str) -> None:
    recv = await Receiver().start()
    cluster: list[Alertmanager] = await asyncio.to_thread(
        start_cluster, tmp_path / "am", recv.url("/am"), peer_timeout=f"{PEER_TIMEOUT:.0f}s",
        group_interval=f"{GROUP_INTERVAL:.0f}s")
    net = await build(tmp_path, snmpd.port, {"alertmanager": [
        {"name": f"am{i}", "url": am.url, "resend_interval": RESEND, "timeout": 2}
        for i, am in enumerate(cluster)]})
    try:
        await wait_until(lambda: all(len(am.status()["cluster"]["peers"]) == len(cluster)
                                     for am in cluster), 30, "the cluster peered")
        async with instance(tmp_path / "a", net) as (proc_a, url_a), \
                instance(tmp_path / "b", net) as (proc_b, url_b):
            for url in (url_a, url_b):
                deadline = time.monotonic() + 30
                while await device_up_count(url) < 3:
                    assert time.monotonic() < deadline, f"{url}: devices never all up"
                    await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # a few ticks on a healthy network: nothing
            assert recv.hits == []

            cut_at = time.time()
            net.cut("hub-sw")
            net.cut("post-sw")  # behind the hub: unreachable too
            if killed == "first-before-the-page":
                await kill9(proc_a)
            await wait_until(lambda: "firing" in notifications(recv), 30 + PEER_TIMEOUT,
                             "the page at the webhook")
            paged_at = time.time()
            if killed == "second-mid-incident":
                await kill9(proc_b)
            # past the second member's wait and several re-posts: still the one page
            await asyncio.sleep(PEER_TIMEOUT + 4 * RESEND + 2)
            assert notifications(recv) == ["firing"]
            page = recv.ok("/am")[0]["alerts"]
            assert [a["labels"]["root_cause"] for a in page] == ["site:hub"]
            # the identity both instances share, whichever site each saw fail first: the
            # group that explains the outage, not the key each opened the incident with
            assert page[0]["labels"]["incident"] == "reach:site:hub"

            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            back_at = time.time()
            await wait_until(lambda: "resolved" in notifications(recv), 30 + GROUP_INTERVAL,
                             "the resolve at the webhook")
            resolved_at = time.time()
            await asyncio.sleep(PEER_TIMEOUT + 2)
            assert notifications(recv) == ["firing", "resolved"]
            for am in cluster:  # both members agree the alert is over
                left = await asyncio.to_thread(am.alerts)
                assert [a for a in left if a["status"]["state"] == "active"] == []
            print(f"\n{killed}: page {paged_at - cut_at:.1f} s after the cut, resolve "
                  f"{resolved_at - back_at:.1f} s after the repair")
    finally:
        net.close()
        for am in cluster:
            await asyncio.to_thread(am.stop)
        await recv.stop()
