"""Hot reload of the inventory in the real service (issue 12), one test per case: added,
removed, changed, renamed, invalid, truncated.

The network: core — hub — post on one real snmpd, each device behind its own UDP proxy,
plus `spare-sw` at the hub (the device the cases add, remove, change, rename) and `aux-sw`
at the post, dead from the start, whose DeviceUnreachable waits an hour: its pending
timer must survive every reload. Alerts go to a real webhook receiver, the history to its
SQLite file.

Every case checks the same two things around the reload:
* no gap in the untouched devices' polls: each poll started on the device's tick grid
  (collector.scheduler: phase from its id, anchored to the wall clock), and the grid
  indexes of the polls just before and after the reload follow each other with none
  missing; the untouched devices keep their scheduler counters, poll totals and state
  objects (not rebuilt, so not reset);
* no false page: the receiver gets nothing, except in the removed case, whose device
  paged before and gets exactly one resolve, with the reason removed_from_inventory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fakes.udp_proxy import UdpProxy
from hook_receiver import Receiver
from runtime_helpers import ResultLog, fetch, scrape, values_by_device, wait_until
from servers import Snmpd, free_udp_port, start_snmpd

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.scheduler import stable_offset
from borderwatch.history.reader import GAP, NOT_IN_INVENTORY, REMOVED, HistoryReader
from borderwatch.history.settings import HistorySettings
from borderwatch.service import Service, start_service

INTERVAL = 2.0  # seconds between polls: a poll may start up to 0.75 of it late (load)
ENV = {"BW_RELOAD_LAB": "public", "BW_RELOAD_SECOND": "second"}
UNTOUCHED = ("core-sw", "hub-sw", "post-sw")
RULES = """\
schema_version: 1
include_defaults: true
rules:
  - name: DeviceUnreachable
    kind: device_unreachable
    severity: major
    for: 1s
    match: {device_roles: [server]}
  - name: DeviceUnreachableSlow
    kind: device_unreachable
    severity: warning
    for: 1h
    match: {device_roles: [ups]}
"""


@dataclass
class Bed:
    """The agents, the receiver, the inventory file and the running service."""

    tmp: Path
    snmpd: Snmpd
    recv: Receiver
    proxies: dict[str, UdpProxy]
    devices: dict[str, dict[str, Any]]  # id -> device entry (site under "_site")
    service: Service = field(init=False)
    polls: ResultLog = field(default_factory=ResultLog)

    @property
    def inventory(self) -> Path:
        return self.tmp / "inventory.yaml"

    def write(self) -> None:
        """Write the inventory for `devices` (atomically, as an editor should)."""
        sites = []
        for site_id, kind, name in (("core", "core", "Trung tâm Lạng Sơn"),
                                    ("hub", "hub", "Nút truyền dẫn Đồng Đăng"),
                                    ("post", "border_post", "Đồn Biên phòng Thanh Lòa")):
            devs = [{k: v for k, v in d.items() if k != "_site"}
                    for d in self.devices.values() if d["_site"] == site_id]
            sites.append({"id": site_id, "name": name, "kind": kind, "devices": devs})
        data = {
            "schema_version": 1,
            "credentials": {"lab": {"version": "2c", "community_env": "BW_RELOAD_LAB"},
                            "second": {"version": "2c", "community_env": "BW_RELOAD_SECOND"}},
            "defaults": {"interval": INTERVAL, "timeout": 0.5, "retries": 0},
            "sites": sites,
            "links": [
                {"id": "L1", "medium": "fiber", "capacity_mbps": 1000,
                 "a": {"site": "core", "device": "core-sw", "interface": "eth0"},
                 "b": {"site": "hub", "device": "hub-sw", "interface": "lo"}},
                {"id": "L2", "medium": "fiber", "capacity_mbps": 1000,
                 "a": {"site": "hub", "device": "hub-sw", "interface": "eth0"},
                 "b": {"site": "post", "device": "post-sw", "interface": "lo"}},
            ],
            "alerts": {"rules": "rules.yaml", "state_dir": "state", "tick": 0.5,
                       "retry_initial": 0.2, "retry_max": 1.0,
                       "webhooks": [{"name": "ops", "url": self.recv.url("/hook"),
                                     "language": "en", "timeout": 2}]},
        }
        tmp = self.inventory.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        tmp.replace(self.inventory)

    def device(self, device_id: str, site: str, port: int, role: str = "switch",
               credential: str = "lab") -> None:
        self.devices[device_id] = {"_site": site, "id": device_id, "address": "127.0.0.1",
                                   "port": port, "credential": credential, "role": role,
                                   "profile": ["system", "if-mib"],
                                   **({"interfaces": ["eth0", "lo"]} if role == "switch" else {})}

    def pages(self) -> list[dict[str, Any]]:
        return self.recv.ok("/hook")


def _load(path: Path) -> Any:
    return lambda: load_inventory(path, env=ENV)


@contextlib.asynccontextmanager
async def reload_bed(tmp: Path, *, spare: bool = True) -> AsyncIterator[Bed]:
    """The network of this module, running; every live device has answered once."""
    snmpd = start_snmpd(tmp / "snmpd", extra_conf="rocommunity second 127.0.0.0/8")
    recv = await Receiver().start()
    proxies: dict[str, UdpProxy] = {}
    bed = Bed(tmp, snmpd, recv, proxies, {})
    try:
        for i, name in enumerate(("core-sw", "hub-sw", "post-sw", "spare-sw", "spare-2")):
            proxies[name] = await UdpProxy.start(("127.0.0.1", snmpd.port), seed=i)
        for name, site in (("core-sw", "core"), ("hub-sw", "hub"), ("post-sw", "post")):
            bed.device(name, site, proxies[name].port)
        bed.device("aux-sw", "post", free_udp_port(), role="ups")  # dead: nothing listens
        if spare:
            bed.device("spare-sw", "hub", proxies["spare-sw"].port, role="server")
        (tmp / "rules.yaml").write_text(RULES)
        bed.write()
        inventory = load_inventory(bed.inventory, env=ENV)
        bed.service = await start_service(
            inventory, "127.0.0.1:0", local_address="127.0.0.1", base_dir=tmp,
            history=HistorySettings(path=tmp / "history.sqlite", tick=0.5),
            reload_from=_load(bed.inventory), source=str(bed.inventory))
        try:
            bed.service.result_listeners.append(bed.polls)
            live = [d for d in bed.devices if d != "aux-sw"]
            await wait_until(lambda: all(bed.service.state.device(d).up for d in live), 30,
                             "every live device answering")
            yield bed
        finally:
            await bed.service.close()
    finally:
        for proxy in proxies.values():
            proxy.close()
        await recv.stop()
        snmpd.stop()


@dataclass
class Kept:
    """What an untouched device must keep across a reload (the same objects)."""

    stats: dict[str, Any]
    snaps: dict[str, Any]
    counters: dict[str, Any]
    sessions: dict[str, Any]
    polls: dict[str, int]
    aux_since: float | None


def before(bed: Bed) -> Kept:
    svc = bed.service
    return Kept(stats={d: svc.scheduler.stats[d] for d in UNTOUCHED},
                snaps={d: svc.state.device(d) for d in UNTOUCHED},
                counters={d: svc.poll_counters[d] for d in UNTOUCHED},
                sessions={d: svc.devices[d].session for d in UNTOUCHED},
                polls={d: svc.state.device(d).polls for d in UNTOUCHED},
                aux_since=_aux_since(bed))


def _aux_since(bed: Bed) -> float | None:
    alert = bed.service.alerts.engine.alerts.get("DeviceUnreachableSlow/device=aux-sw")
    return None if alert is None else alert.active_since


def grid(bed: Bed, device_id: str) -> list[int]:
    """The tick index of each poll of a device: its start on the device's wall-clock grid.
    A poll starts on its tick, late by the scheduler's lag; 0.75 of an interval late
    still counts for its own tick."""
    offset = stable_offset(device_id, INTERVAL)
    return [math.floor((r.started - offset) / INTERVAL + 0.25)
            for r in bed.polls.for_device(device_id)]


async def reload_and_check(bed: Bed, kept: Kept, how: str = "call") -> dict[str, Any]:
    """Reload, wait for two more polls of every untouched device, check that none of
    their ticks was skipped and that they kept their objects; returns the outcome."""
    svc = bed.service
    ticks = {d: grid(bed, d)[-1] for d in UNTOUCHED}  # the latest tick before the reload
    if how == "http":
        status, _, body = await _post(f"{svc.http.url}/-/reload")
        outcome = {**json.loads(body), "code": status}
    else:
        result = await svc.reloader.reload("test")
        outcome = {"code": 200 if result.ok else 500, "result": result}
    polls = {d: len(bed.polls.for_device(d)) for d in UNTOUCHED}
    await wait_until(lambda: all(len(bed.polls.for_device(d)) >= polls[d] + 2
                                 for d in UNTOUCHED), 60, "two polls after the reload")
    for d in UNTOUCHED:
        after = [t for t in grid(bed, d) if t >= ticks[d]]
        lag = svc.scheduler.lag.window_max(svc.scheduler.clock.monotonic())
        assert after == list(range(ticks[d], ticks[d] + len(after))), \
            f"{d}: ticks {after}: a tick without a poll around the reload " \
            f"(scheduler lag max {lag:.2f} s)"
        assert svc.scheduler.stats[d] is kept.stats[d], f"{d}: its poll loop was rebuilt"
        assert svc.state.device(d) is kept.snaps[d], f"{d}: its state was rebuilt"
        assert svc.poll_counters[d] is kept.counters[d]
        assert svc.devices[d].session is kept.sessions[d], f"{d}: its session was reopened"
        assert svc.state.device(d).polls >= kept.polls[d] + 2  # counting on, not from 0
    assert _aux_since(bed) == kept.aux_since is not None, "the pending alert's timer moved"
    return outcome


async def _post(url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    import aiohttp

    async with aiohttp.ClientSession() as client, client.post(url, **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def reload_metrics(bed: Bed) -> tuple[float, float]:
    scraped = await scrape(bed.service)
    ok = scraped["samples"]["borderwatch_config_last_reload_successful"][0][1]
    at = scraped["samples"]["borderwatch_config_last_reload_success_timestamp_seconds"][0][1]
    return ok, at


async def wait_aux_pending(bed: Bed) -> None:
    await wait_until(lambda: _aux_since(bed) is not None, 30, "aux-sw's alert pending")


def history_states(bed: Bed, kind: str, element: str) -> list[tuple[str, str | None]]:
    """(state, cause) of an element's recorded intervals until now, oldest first."""
    assert bed.service.history.writer.sync(10)
    with HistoryReader.open([bed.tmp / "history.sqlite"]) as reader:
        return [(iv.state, iv.cause) for iv in reader.intervals(kind, 0, time.time())
                if iv.element == element and iv.cause not in (GAP, NOT_IN_INVENTORY)]


# ----------------------------------------------------------------------------- cases


async def test_added_device_starts_polling(tmp_path: Path) -> None:
    async with reload_bed(tmp_path, spare=False) as bed:
        await wait_aux_pending(bed)
        kept = before(bed)
        bed.device("spare-sw", "hub", bed.proxies["spare-sw"].port, role="server")
        bed.write()
        outcome = await reload_and_check(bed, kept, how="http")
        assert outcome["code"] == 200, outcome
        assert (outcome["added"], outcome["removed"], outcome["changed"]) == \
            (["spare-sw"], [], [])
        await wait_until(lambda: bed.service.state.device("spare-sw").up is True, 20,
                         "the added device answering")
        scraped = await scrape(bed.service)
        assert values_by_device(scraped, "borderwatch_device_up")["spare-sw"] == 1
        assert (await reload_metrics(bed))[0] == 1
        assert bed.pages() == []
        assert history_states(bed, "device", "spare-sw")[-1] == ("up", None)


async def test_removed_device_stops_and_its_page_resolves_as_removed(tmp_path: Path) -> None:
    async with reload_bed(tmp_path) as bed:
        await wait_aux_pending(bed)
        spare = bed.proxies["spare-sw"]
        spare.to_agent.blackhole = spare.to_client.blackhole = True
        await wait_until(lambda: [p["status"] for p in bed.pages()] == ["firing"], 30,
                         "the spare device's page")
        assert bed.pages()[0]["notification"]["labels"]["alertname"] == "DeviceUnreachable"
        kept = before(bed)
        del bed.devices["spare-sw"]
        bed.write()
        outcome = await reload_and_check(bed, kept)
        assert outcome["code"] == 200
        assert outcome["result"].diff.removed == ("spare-sw",)
        await wait_until(lambda: len(bed.pages()) == 2, 20, "the resolve")
        await asyncio.sleep(1.0)  # ticks after it: no more pages
        firing, resolved = bed.pages()
        assert len(bed.pages()) == 2
        assert (resolved["status"], resolved["reason"]) == ("resolved", "removed_from_inventory")
        assert resolved["incident_key"] == firing["incident_key"]
        assert resolved["text"].startswith("[REMOVED FROM INVENTORY] Device spare-sw removed "
                                           "from the inventory"), resolved["text"]
        assert "responds again" not in resolved["text"]
        # it stopped: no poll loop, no requests any more, no series on /metrics
        assert "spare-sw" not in bed.service.scheduler.stats
        seen = spare.to_agent.seen
        scraped = await scrape(bed.service)
        assert "spare-sw" not in scraped["text"]
        await wait_until(lambda: all(len(bed.polls.for_device(d)) >= kept.polls[d] + 4
                                     for d in UNTOUCHED), 60, "more polls of the others")
        assert spare.to_agent.seen == seen
        assert history_states(bed, "device", "spare-sw")[-2:] == [("down", None),
                                                                   ("unknown", REMOVED)]


async def test_changed_device_gets_new_settings_alone(tmp_path: Path) -> None:
    async with reload_bed(tmp_path) as bed:
        await wait_aux_pending(bed)
        kept = before(bed)
        svc = bed.service
        spare_polls = svc.state.device("spare-sw").polls
        old, new = bed.proxies["spare-sw"], bed.proxies["spare-2"]
        # address (port) and credential change: another proxy, another community
        bed.device("spare-sw", "hub", new.port, role="server", credential="second")
        bed.write()
        outcome = await reload_and_check(bed, kept, how="http")
        assert outcome["code"] == 200, outcome
        assert (outcome["added"], outcome["removed"], outcome["changed"]) == \
            ([], [], ["spare-sw"])
        seen_old = old.to_agent.seen
        await wait_until(lambda: new.to_agent.seen >= 2, 20, "polls through the new address")
        await wait_until(lambda: svc.state.device("spare-sw").polls >= spare_polls + 2, 20,
                         "the changed device's polls")
        assert old.to_agent.seen == seen_old
        snap = svc.state.device("spare-sw")
        assert snap.up is True and snap.failures == 0  # the new community answers
        assert snap.polls >= spare_polls + 2  # its totals continue
        assert svc.devices["spare-sw"].settings.credential_name == "second"
        assert bed.pages() == []


async def test_renamed_device_is_a_new_element(tmp_path: Path) -> None:
    async with reload_bed(tmp_path) as bed:
        await wait_aux_pending(bed)
        kept = before(bed)
        entry = bed.devices.pop("spare-sw")
        bed.devices["spare-renamed"] = {**entry, "id": "spare-renamed"}
        bed.write()
        outcome = await reload_and_check(bed, kept)
        diff = outcome["result"].diff
        assert (diff.added, diff.removed, diff.changed) == (("spare-renamed",), ("spare-sw",),
                                                            ())
        svc = bed.service
        await wait_until(lambda: svc.state.device("spare-renamed").up is True, 20,
                         "the renamed device answering")
        scraped = await scrape(svc)
        ups = values_by_device(scraped, "borderwatch_device_up")
        assert "spare-sw" not in ups and ups["spare-renamed"] == 1
        assert bed.pages() == []
        assert history_states(bed, "device", "spare-sw")[-1] == ("unknown", REMOVED)
        assert history_states(bed, "device", "spare-renamed")[-1] == ("up", None)


async def test_invalid_file_keeps_the_running_configuration(tmp_path: Path, caplog: Any
                                                            ) -> None:
    async with reload_bed(tmp_path) as bed:
        await wait_aux_pending(bed)
        kept = before(bed)
        _, started_at = await reload_metrics(bed)
        good = bed.inventory.read_text()
        lines = good.splitlines()
        where = next(i for i, line in enumerate(lines) if "id: spare-sw" in line)
        lines.insert(where + 1, "    colour: blue")  # an unknown key, on line where + 2
        bed.inventory.write_text("\n".join(lines) + "\n")
        outcome = await reload_and_check(bed, kept, how="http")
        assert outcome["code"] == 500
        assert any(p.startswith(f"{bed.inventory}:{where + 2}: ") and "colour" in p
                   for p in outcome["problems"]), outcome
        assert f"{bed.inventory}:{where + 2}: " in caplog.text  # the log names file:line
        assert await reload_metrics(bed) == (0, started_at)
        assert "spare-sw" in bed.service.devices and bed.service.state.device("spare-sw").up
        bed.inventory.write_text(good)  # fixed: the next reload succeeds
        status, _, body = await _post(f"{bed.service.http.url}/-/reload")
        assert status == 200, body
        ok, at = await reload_metrics(bed)
        assert ok == 1 and at > started_at
        assert bed.pages() == []


async def test_truncated_file_keeps_the_running_configuration(tmp_path: Path) -> None:
    async with reload_bed(tmp_path) as bed:
        await wait_aux_pending(bed)
        kept = before(bed)
        text = bed.inventory.read_text()
        # cut in the middle of the spare device's entry, as a copy that stopped half-way
        cut = text.index("id: spare-sw") + len("id: spare-sw\n    addr")
        bed.inventory.write_text(text[:cut])
        line = text[:cut].count("\n") + 1
        outcome = await reload_and_check(bed, kept)
        assert outcome["code"] == 500
        problems = outcome["result"].problems
        assert any(p.startswith(f"{bed.inventory}:{line}") for p in problems), problems
        assert (await reload_metrics(bed))[0] == 0
        assert set(bed.service.devices) == {"core-sw", "hub-sw", "post-sw", "aux-sw",
                                            "spare-sw"}
        assert bed.service.state.device("spare-sw").up is True
        code, _, _ = await fetch(f"{bed.service.http.url}/healthz")
        assert code == 200
        assert bed.pages() == []


async def test_topology_change_rejudges_the_open_incident(tmp_path: Path) -> None:
    """A new link core — post while hub and post are dark: the post was isolated behind
    the hub; with the new link it is down on its own. The reload rebuilds the alert
    topology and judges the open incident against it at once (no tick waited for), the
    status page and the site metrics follow, and nothing is paged for it."""
    async with reload_bed(tmp_path, spare=False) as bed:
        svc = bed.service
        for name in ("hub-sw", "post-sw"):
            proxy = bed.proxies[name]
            proxy.to_agent.blackhole = proxy.to_client.blackhole = True
        await wait_until(lambda: [p["status"] for p in bed.pages()] == ["firing"], 30,
                         "the isolation page")
        engine = svc.alerts.engine
        outage = engine.last_analysis.outage_of("post")
        assert outage.root == ("site:hub",) and "post" in outage.isolated
        _, _, body = await fetch(f"{svc.http.url}/api/status")
        assert {s["id"]: s["status"] for s in json.loads(body)["sites"]}["post"] == "isolated"
        evaluations = svc.alerts.evaluations
        links = yaml.safe_load(bed.inventory.read_text())["links"]
        links.append({"id": "L3", "medium": "microwave", "capacity_mbps": 100,
                      "a": {"site": "core", "device": "core-sw", "interface": "lo"},
                      "b": {"site": "post", "device": "post-sw", "interface": "eth0"}})
        data = yaml.safe_load(bed.inventory.read_text())
        data["links"] = links
        bed.inventory.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        result = await svc.reloader.reload("test")
        assert result.ok and result.diff.topology_changed and not result.diff.devices_changed
        # judged during the reload itself, on the new topology (not at the next tick)
        assert svc.alerts.evaluations >= evaluations + 1
        analysis = svc.alerts.engine.last_analysis
        assert "L3" in svc.alerts.topology.links
        # no longer isolated behind the hub: down itself (or unknown, until it has been
        # dark for a poll interval), reachable over L3
        assert analysis.status["post"] in ("down", "unknown"), analysis
        assert not any("post" in o.isolated for o in analysis.outages), analysis
        (incident,) = svc.alerts.engine.open_incidents()  # the same incident, re-judged
        assert incident.key == bed.pages()[0]["incident_key"]
        _, _, body = await fetch(f"{svc.http.url}/api/status")
        sites = {s["id"]: s["status"] for s in json.loads(body)["sites"]}
        assert sites["hub"] == "down" and sites["post"] != "isolated"
        scraped = await scrape(svc)
        status = {(labels["site"], labels["status"]): v
                  for labels, v in scraped["samples"]["borderwatch_site_status"]}
        assert status[("post", "isolated")] == 0
        ticks = svc.alerts.evaluations
        await wait_until(lambda: svc.alerts.evaluations >= ticks + 6, 30, "six more ticks")
        assert [p["status"] for p in bed.pages()] == ["firing"]  # nothing new paged


async def test_rules_that_name_a_removed_device_refuse_the_reload(tmp_path: Path) -> None:
    """Validation covers the alert rules too: a file that removes a device a rule names is
    refused as a whole (the rules file's line named), and the device keeps polling."""
    async with reload_bed(tmp_path) as bed:
        (tmp_path / "rules.yaml").write_text(RULES + """\
  - name: SpareDown
    kind: device_unreachable
    severity: warning
    for: 1h
    match: {devices: [spare-sw]}
""")
        assert (await bed.service.reloader.reload("rules")).ok  # the rule is taken
        polls = bed.service.state.device("spare-sw").polls
        del bed.devices["spare-sw"]
        bed.write()
        outcome = await bed.service.reloader.reload("test")
        assert not outcome.ok
        assert any(f"{tmp_path / 'rules.yaml'}:" in p and "spare-sw" in p
                   for p in outcome.problems), outcome.problems
        assert (await reload_metrics(bed))[0] == 0
        await wait_until(lambda: bed.service.state.device("spare-sw").polls >= polls + 2, 20,
                         "the spare device still polled")
        assert "spare-sw" in bed.service.alerts.topology.devices
        assert bed.pages() == []
