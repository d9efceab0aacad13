"""Wall-clock steps under the real service (issue 11, point 8): libfaketime moves the wall
clock of a `borderwatch run` process −1 h, then +2 h, and leaves its monotonic clocks
alone (FAKETIME_DONT_FAKE_MONOTONIC=1, offsets read from a timestamp file the test
rewrites). Real snmpd agents behind fault proxies, a real Alertmanager (on the true
clock, as on another host) delivering to the test's webhook receiver.

Expected: no device is ever "rebooted" (the sysUpTime comparison runs on the steady
clock); a rule's `for:` that is pending when the clock goes back an hour still fires
(within the test's generous wait, never an hour late); Alertmanager accepts every post
(startsAt before endsAt, times on its own clock) and never resolves the firing alert on
its own while the wall clock jumps; exactly one firing and one resolve reach the webhook.

libfaketime 0.9.10 and Python, as found here: the offset file ("+0", "-3600", "+3600") is
re-read every FAKETIME_CACHE_DURATION s; CLOCK_MONOTONIC and CLOCK_BOOTTIME stay real
with FAKETIME_DONT_FAKE_MONOTONIC=1, and asyncio's timers work; a blocking time.sleep()
fails with EINVAL under it (clock_nanosleep), which the service never calls.
"""

from __future__ import annotations

import asyncio
import glob
import os
from pathlib import Path

from alert_network import ENV, build
from am_server import start_alertmanager
from hook_receiver import Receiver
from runtime_helpers import BORDERWATCH, wait_until
from servers import Snmpd, free_tcp_port

RESEND = 1.0  # Alertmanager re-post interval (endsAt margin stays the 15 min minimum)


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is missing: run scripts/install-debian-deps.sh (faketime)"
    return found[0]


def am_statuses(recv: Receiver) -> list[str]:
    return [a["status"] for body in recv.ok("/am") for a in body["alerts"]]


async def test_wall_clock_steps_change_no_duration_and_alertmanager_stays_firing(
        tmp_path: Path, snmpd: Snmpd) -> None:
    recv = await Receiver().start()
    am = await asyncio.to_thread(start_alertmanager, tmp_path / "am", recv.url("/am"))
    net = await build(tmp_path, snmpd.port, {"alertmanager": {
        "url": am.url, "resend_interval": RESEND, "timeout": 2}})
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    log_path = tmp_path / "service.log"
    port = free_tcp_port()
    env = {**os.environ, **ENV, "LD_PRELOAD": libfaketime(),
           "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "FAKETIME_CACHE_DURATION": "1"}
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        proc = await asyncio.create_subprocess_exec(
            BORDERWATCH, "run", "--inventory", str(net.inventory),
            "--listen", f"127.0.0.1:{port}", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=log_fd)
    finally:
        os.close(log_fd)  # the child has its own copy
    log = lambda: log_path.read_text(errors="replace")  # noqa: E731
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"serving" in line, (line, log())
        await wait_until(lambda: "every device polled once: 3 up" in log(), 60,
                         "every device answering")
        await asyncio.sleep(3)  # a few polls and re-posts on the true clock

        # the post goes dark, and the wall clock goes back an hour while its alert pends
        net.cut("post-sw")
        offset.write_text("-3600\n")
        await wait_until(lambda: "firing" in am_statuses(recv), 90,
                         "the post's alert fires through Alertmanager after the step back")

        # firing, and the clock jumps two hours ahead: re-posts must keep it firing
        offset.write_text("+3600\n")
        await asyncio.sleep(8 * RESEND + 4)  # many re-posts; 8 resend intervals of jumps
        assert am_statuses(recv) == ["firing"], recv.ok("/am")
        firing = [a for a in am.alerts() if a["status"]["state"] == "active"]
        assert len(firing) == 1, am.alerts()

        net.cut("post-sw", False)
        await wait_until(lambda: "resolved" in am_statuses(recv), 90, "the resolve")
        await asyncio.sleep(2)
        assert am_statuses(recv) == ["firing", "resolved"], recv.ok("/am")
        text = log()
        assert "rebooted" not in text, text
        assert "re-posting" not in text and "HTTP 4" not in text, text  # every post accepted
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        net.close()
        await asyncio.to_thread(am.stop)
        await recv.stop()
