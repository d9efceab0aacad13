"""Webhook notifier + durable outbox against the test's aiohttp receiver (A41, restart).

500 then 200 → retried, delivered once; 404 → not retried, the error names the receiver
and not the URL's token; a receiver that is down while the service restarts still gets
the notification, once, when it is back.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from hook_receiver import RESET, Receiver
from runtime_helpers import wait_until

from borderwatch.alerts.notification import Cause, Notification, SiteRef
from borderwatch.alerts.notify.alertmanager import AlertmanagerNotifier
from borderwatch.alerts.notify.dispatcher import Dispatcher, backoff
from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.webhook import WebhookNotifier

TOKEN = "s3cr3t-tok3n-9f2"
POST = SiteRef("post", "Đồn Biên phòng Thanh Lòa", "border_post")
HUB = SiteRef("hub", "Nút Đồng Đăng", "hub")


def notification(status: str = "firing", at: float = 1000.0) -> Notification:
    """A notification as the engine makes it (content fields only)."""
    return Notification(
        incident_key="reach:link:L2", group="reach:link:L2", status=status,
        reason="new" if status == "firing" else "resolved", severity="critical",
        headline="isolation",
        root_cause=(Cause("link:L2", "link", "L2", "fiber", (HUB, POST)),),
        cut_off=(POST,), down_sites=(), redundancy_lost=(), alerts=(), power=(),
        since=990.0, at=at, ended_at=at if status == "resolved" else None,
        labels={"alertname": "SiteIsolated", "severity": "critical",
                "incident": "reach:link:L2", "root_cause": "link:L2", "sites": "post"},
        annotations={"summary_vi": "Mất liên lạc Đồn Biên phòng Thanh Lòa",
                     "summary_en": "Lost contact with Thanh Loa border post"})


async def _pipeline(tmp: Path, url: str, **kw: float) -> tuple[Outbox, Dispatcher]:
    outbox = Outbox(tmp / "outbox.sqlite")
    hook = WebhookNotifier("ops", url, language="en", timeout=2.0,
                           dashboard="http://grafana.example/d/bw?var-site={site}")
    disp = Dispatcher(hook, outbox, retry_initial=kw.get("initial", 0.2),
                      retry_max=kw.get("cap", 0.5))
    disp.start()
    return outbox, disp


async def test_500_then_200_is_retried_and_delivered_once(tmp_path: Path) -> None:
    recv = await Receiver(script=[500, 503]).start()
    outbox, disp = await _pipeline(tmp_path, recv.url(f"/hook/{TOKEN}"))
    try:
        outbox.put(["ops"], notification().to_dict())
        disp.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "the delivery")
        assert [h.status for h in recv.hits] == [500, 503, 200]
        body = recv.ok()[0]
        assert body["dedup_key"] == "reach:link:L2|firing|990.0"
        assert body["incident_key"] == "reach:link:L2" and body["status"] == "firing"
        assert body["text"] == "Lost contact with Thanh Loa border post"  # language en
        assert body["dashboard"] == "http://grafana.example/d/bw?var-site=post"
        assert body["notification"]["root_cause"][0]["ident"] == "L2"
        (row,) = outbox.rows("ops")
        assert row["attempts"] == 3 and row["delivered_at"] is not None
        assert "HTTP 503" in row["last_error"] and TOKEN not in row["last_error"]
        await asyncio.sleep(0.8)  # past the longest backoff: nothing goes out again
        assert len(recv.hits) == 3
    finally:
        await disp.stop()
        outbox.close()
        await recv.stop()


async def test_4xx_is_not_retried_and_the_error_names_the_receiver(tmp_path: Path,
                                                                   caplog) -> None:
    recv = await Receiver(script=[404]).start()
    outbox, disp = await _pipeline(tmp_path, recv.url(f"/hook?token={TOKEN}"))
    try:
        outbox.put(["ops"], notification().to_dict())
        outbox.put(["ops"], notification("resolved", at=1100.0).to_dict())
        disp.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "both entries handled")
        await asyncio.sleep(0.6)
        assert [h.status for h in recv.hits] == [404, 200]  # the 404 was not retried
        first, second = outbox.rows("ops")
        assert first["failed"] == "receiver ops: HTTP 404: nope"
        assert second["delivered_at"] is not None
        assert TOKEN not in caplog.text and "127.0.0.1" not in caplog.text
        assert "receiver ops: HTTP 404" in caplog.text
    finally:
        await disp.stop()
        outbox.close()
        await recv.stop()


async def test_receiver_down_across_a_restart_delivers_once_when_back(tmp_path: Path
                                                                      ) -> None:
    recv = Receiver()
    await recv.start()
    port = recv.port
    await recv.stop()  # down: connection refused
    outbox, disp = await _pipeline(tmp_path, f"http://127.0.0.1:{port}/hook/{TOKEN}")
    outbox.put(["ops"], notification().to_dict())
    disp.wake()
    await wait_until(lambda: outbox.rows("ops")[0]["attempts"] >= 2, 20, "two failed tries")
    row = outbox.rows("ops")[0]
    assert row["last_error"] == "receiver ops: connection failed (ClientConnectorError)"
    await disp.stop()  # the process stops with the entry undelivered
    outbox.close()
    # a re-decided duplicate after a restart is not queued twice
    outbox = Outbox(tmp_path / "outbox.sqlite")
    assert outbox.put(["ops"], notification(at=1005.0).to_dict()) == 0
    assert outbox.pending("ops") == 1
    outbox.close()
    recv = await Receiver().start(port)
    outbox, disp = await _pipeline(tmp_path, recv.url(f"/hook/{TOKEN}"))
    try:
        await wait_until(lambda: outbox.pending() == 0, 20, "delivery after the restart")
        await asyncio.sleep(0.6)
        assert len(recv.hits) == 1 and recv.hits[0].body["status"] == "firing"
    finally:
        await disp.stop()
        outbox.close()
        await recv.stop()


def test_backoff_is_exponential_capped_and_jittered() -> None:
    lo = [backoff(n, 1.0, 60.0, lambda: 0.0) for n in range(1, 9)]
    hi = [backoff(n, 1.0, 60.0, lambda: 1.0) for n in range(1, 9)]
    assert hi == [1, 2, 4, 8, 16, 32, 60, 60]
    assert lo == [h / 2 for h in hi]


async def test_slow_receiver_times_out_and_does_not_block_another(tmp_path: Path) -> None:
    """A40: one receiver hangs; the notifier gives up at its timeout and retries, and a
    second receiver gets the notification meanwhile."""
    slow = await Receiver(delay=3).start()  # far beyond the 0.5 s timeout
    fast = await Receiver().start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disps = [Dispatcher(WebhookNotifier(name, url, timeout=0.5), outbox, retry_initial=0.2,
                        retry_max=0.5)
             for name, url in (("slow", slow.url()), ("fast", fast.url()))]
    for d in disps:
        d.start()
    try:
        outbox.put(["slow", "fast"], notification().to_dict())
        for d in disps:
            d.wake()
        await wait_until(lambda: outbox.pending("fast") == 0, 20, "the fast receiver")
        await wait_until(lambda: (outbox.rows("slow")[0]["attempts"] or 0) >= 2, 20,
                         "two timed-out tries at the slow receiver")
        row = outbox.rows("slow")[0]
        assert row["delivered_at"] is None and row["failed"] is None
        assert row["last_error"] == "receiver slow: no answer within 0.5 s"
        assert len(fast.hits) == 1
    finally:
        for d in disps:
            await d.stop()
        outbox.close()
        await slow.stop()
        await fast.stop()


async def test_connection_reset_is_retried(tmp_path: Path) -> None:
    """A41: the receiver drops the connection without answering: retried, then delivered."""
    recv = await Receiver(script=[RESET]).start()
    outbox, disp = await _pipeline(tmp_path, recv.url(f"/hook/{TOKEN}"))
    try:
        outbox.put(["ops"], notification().to_dict())
        disp.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "the delivery")
        assert [h.status for h in recv.hits] == [RESET, 200]
        (row,) = outbox.rows("ops")
        assert row["last_error"].startswith("receiver ops: connection failed (")
        assert TOKEN not in row["last_error"]
    finally:
        await disp.stop()
        outbox.close()
        await recv.stop()


async def test_alertmanager_labels_stay_those_of_the_first_post(tmp_path: Path) -> None:
    """An escalation (more sites, new labels) and the resolve reuse the first post's labels:
    Alertmanager sees one alert from firing to resolved, never a second one."""
    recv = await Receiver().start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    am = AlertmanagerNotifier("am", recv.url(""), outbox, timeout=2, resend_interval=60)
    try:
        first = notification().to_dict()
        worse = {**first, "reason": "escalated", "at": 1010.0,
                 "cut_off": [*first["cut_off"], asdict(HUB)],
                 "labels": {**first["labels"], "sites": "post,hub"}}
        end = notification("resolved", at=1100.0).to_dict()
        for body in (first, worse, end):
            await am.deliver(body)
        posted = [h.body[0] for h in recv.hits]
        assert [h.path for h in recv.hits] == ["/api/v2/alerts"] * 3
        assert posted[0]["labels"] == posted[1]["labels"] == posted[2]["labels"]
        assert posted[0]["labels"]["sites"] == "post"
        assert "sites=post,hub" in posted[1]["annotations"]["labels_now"]
        assert "endsAt" in posted[0] and posted[2]["endsAt"] == "1970-01-01T00:18:20.000Z"
        assert outbox.active("am") == {}
    finally:
        await am.close()
        outbox.close()
        await recv.stop()
