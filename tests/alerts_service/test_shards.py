"""Three shards, one central Prometheus, one evaluator: coverage once, one page per cut.

Real processes on loopback: one snmpsim serves a small network (one community per device,
each device behind its own UDP fault proxy so a test can silence it), three `borderwatch
run --shard i/3` poll it, a real Prometheus scrapes the three, and `borderwatch alerts
--source prometheus URL` evaluates the inventory's rules on what Prometheus holds and
posts to a webhook served here.

The sites' ids are chosen by the shard hash itself (collector.shard.shard_of, computed
here, not assumed): the hub is in shard 1, the two posts behind it in shard 2, a gate
in shard 3. The cut is on the hub's interface of the hub—post link (snmpsim's
`writecache` variation: a SET makes ifOperStatus down, as a real switch reports a dead
fibre), and the posts behind it go silent. Shard 1 sees only "an interface down", shard 2
only "two devices silent"; only the evaluator, joining both through the TSDB, can say
"two posts isolated behind link L2", and it must say so in exactly one page, then one
resolve after the repair. Every wait is bounded by the intervals set here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fakes.udp_proxy import UdpProxy
from hook_receiver import Receiver
from influx.vm_server import VictoriaMetrics
from runtime_helpers import BORDERWATCH, wait_until
from servers import (
    Prometheus,
    free_tcp_port,
    free_udp_port,
    log_tail,
    prometheus_config,
    start_prometheus,
    start_snmpsim,
)
from snmprec_files import COUNTER32, GAUGE32, INTEGER, OCTET_STRING, snmprec_text, system_group

from borderwatch.collector.shard import shard_of

SHARDS = 3
POLL = 2.0  # every device's poll interval (s)
# snmpsim is one Python process answering five devices next to five borderwatch processes
# and Prometheus on two loaded cores: an answer may take most of a second. A timed-out poll
# of the hub would make it flap and re-page; the retry fits in the interval.
SNMP_TIMEOUT, SNMP_RETRIES = 0.8, 1
SCRAPE = 1.0  # Prometheus's scrape interval (s)
TICK = 0.5  # the evaluator's tick (s)
# The evaluator sees a change at most a poll, a scrape and a tick after it happened; the
# engine then needs `dark_after_intervals` polls more to call a silent device dark. Every
# wait below is a multiple of this, with room for a loaded machine.
LAG = POLL + SCRAPE + TICK
PATIENCE = 12  # lags a change may take to show through the chain on a loaded machine
# Prometheus 2.42 starts scraping new targets on its 5 s sync ticker, not at once.
PROMETHEUS_FIRST_SCRAPE = 5.0 + SCRAPE
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
RULES = """\
schema_version: 1
include_defaults: true
rules:
  - {name: SiteIsolated, kind: site_isolated, severity: critical, for: 0s, clear_for: 2s}
  - {name: SiteDown, kind: site_down, severity: critical, for: 2s, clear_for: 2s}
"""


def site_in_shard(prefix: str, shard: int, taken: set[str]) -> str:
    """The first `prefix-N` id that the shard hash puts in `shard` (and is not taken)."""
    for n in itertools.count():
        site = f"{prefix}-{n}"
        if site not in taken and shard_of(site, SHARDS) == shard:
            taken.add(site)
            return site
    raise AssertionError("unreachable")


def plan() -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Sites (id → kind) and links (id, a site, b site): core — hub — post-a — post-b, and
    core — gate. Hub in shard 1, posts in shard 2, gate in shard 3 (the core anywhere)."""
    taken = {"core"}
    hub = site_in_shard("hub", 1, taken)
    post_a, post_b = (site_in_shard("post", 2, taken) for _ in range(2))
    gate = site_in_shard("gate", 3, taken)
    sites = {"core": "core", hub: "hub", post_a: "border_post", post_b: "border_post",
             gate: "border_gate"}
    links = [("L1", "core", hub), ("L2", hub, post_a), ("L3", post_a, post_b),
             ("L4", "core", gate)]
    return sites, links


def device_of(site: str) -> str:
    return f"{site}-sw"


def agent_records(device: str, ports: int, writable: set[int]) -> str:
    """A switch with `ports` interfaces p1..pN, all up; `writable` ones take a SET of
    ifOperStatus (snmpsim's writecache: the value is kept in the agent's memory)."""
    records: dict[str, Any] = system_group(f"test switch {device}", device)
    for i in range(1, ports + 1):
        col = "1.3.6.1.2.1.2.2.1"
        records |= {f"{col}.1.{i}": (INTEGER, i), f"{col}.2.{i}": (OCTET_STRING, f"p{i}"),
                    f"{col}.3.{i}": (INTEGER, 6), f"{col}.5.{i}": (GAUGE32, 1_000_000_000),
                    f"{col}.7.{i}": (INTEGER, 1), f"{col}.8.{i}": (INTEGER, 1),
                    f"{col}.10.{i}": (COUNTER32, 1000 * i), f"{col}.16.{i}": (COUNTER32, 500),
                    f"1.3.6.1.2.1.31.1.1.1.1.{i}": (OCTET_STRING, f"p{i}")}
    text = snmprec_text(records)
    for i in writable:
        text = text.replace(f"{IF_OPER_STATUS}.{i}|2|1\n",
                            f"{IF_OPER_STATUS}.{i}|2:writecache|value=1\n")
    return text


class Network:
    """The agents (one snmpsim), a proxy per device, and the inventory written for them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sites, self.links = plan()
        self.proxies: dict[str, UdpProxy] = {}
        self.agent_ports: dict[str, int] = {}  # device → the UDP port the inventory names
        self.sim: Any = None
        self.env = {f"BW_SHARD_COMMUNITY_{i}": device_of(s)
                    for i, s in enumerate(self.sites)}

    @property
    def hub(self) -> str:
        return self.links[0][2]

    def posts(self) -> list[str]:
        return [self.links[1][2], self.links[2][2]]

    def ports(self, site: str) -> dict[str, int]:
        """The link ids at a site and the ifIndex (p1, p2...) each uses there."""
        mine = [lid for lid, a, b in self.links if site in (a, b)]
        return {lid: i for i, lid in enumerate(mine, 1)}

    async def start(self) -> None:
        data = self.tmp / "data"
        data.mkdir()
        for site in self.sites:
            ports = self.ports(site)
            writable = {ports["L2"]} if site == self.hub else set()
            (data / f"{device_of(site)}.snmprec").write_text(
                agent_records(device_of(site), max(len(ports), 1), writable))
        endpoint = ("127.0.0.1", free_udp_port())
        self.sim = await asyncio.to_thread(
            start_snmpsim, data, self.tmp / "cache", [endpoint],
            probe_community=device_of(self.hub), log_path=self.tmp / "snmpsim.log",
            timeout=120)
        for i, site in enumerate(self.sites):
            proxy = self.proxies[device_of(site)] = await UdpProxy.start(endpoint, seed=i)
            self.agent_ports[device_of(site)] = proxy.endpoint[1]

    def inventory(self, webhook: str) -> dict[str, Any]:
        credentials = {f"c{i}": {"version": "2c", "community_env": var}
                       for i, var in enumerate(self.env)}
        sites = [{"id": s, "name": f"Trạm {s}", "kind": kind, "devices": [
                     {"id": device_of(s), "address": "127.0.0.1",
                      "port": self.agent_ports[device_of(s)], "credential": f"c{i}",
                      "role": "switch", "profile": ["system", "if-mib"],
                      "interfaces": [f"p{n}" for n in self.ports(s).values()]}]}
                 for i, (s, kind) in enumerate(self.sites.items())]
        links = []
        for lid, a, b in self.links:
            links.append({"id": lid, "medium": "fiber", "capacity_mbps": 1000,
                          "a": {"site": a, "device": device_of(a),
                                "interface": f"p{self.ports(a)[lid]}"},
                          "b": {"site": b, "device": device_of(b),
                                "interface": f"p{self.ports(b)[lid]}"}})
        return {
            "schema_version": 1, "credentials": credentials,
            "defaults": {"interval": POLL, "timeout": SNMP_TIMEOUT, "retries": SNMP_RETRIES,
                         "icmp": {"enabled": False}},
            "sites": sites, "links": links,
            "alerts": {"rules": "rules.yaml", "state_dir": "alerts", "tick": TICK,
                       "retry_initial": 0.2, "retry_max": 1.0,
                       "webhooks": [{"name": "ops", "url": webhook, "timeout": 2}]},
        }

    def cut(self, cut: bool = True) -> None:
        """The L2 fibre dies (or is repaired): the hub reports its port down, the posts
        behind it are unreachable."""
        port = self.ports(self.hub)["L2"]
        subprocess.run(["snmpset", "-v2c", "-c", device_of(self.hub), "-r", "2", "-t", "2",
                        f"{self.sim.address}:{self.sim.port}", f"{IF_OPER_STATUS}.{port}",
                        "i", "2" if cut else "1"], check=True, capture_output=True)
        for post in self.posts():
            proxy = self.proxies[device_of(post)]
            proxy.to_agent.blackhole = cut
            proxy.to_client.blackhole = cut

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
        if self.sim is not None:
            self.sim.stop()


@contextlib.asynccontextmanager
async def process(argv: list[str], env: dict[str, str], cwd: Path
                  ) -> AsyncIterator[asyncio.subprocess.Process]:
    """A borderwatch process, once it printed `serving URL`; killed at the end."""
    log = cwd / f"{argv[0]}.log"
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "--log-level", "DEBUG", *argv, env={**os.environ, **env}, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().startswith("serving http://127.0.0.1:"), \
            (argv, line, log_tail(log))
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def get(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, url
        return await resp.text()


def series(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def polled_devices(metrics: str) -> set[str]:
    """Devices with a borderwatch_device_up series in an exposition."""
    out = set()
    for line in series(metrics, "borderwatch_device_up"):
        labels = line[line.index("{") + 1:line.index("}")]
        out |= {p.split("=", 1)[1].strip('"') for p in labels.split(",")
                if p.startswith("device=")}
    return out


def pages(recv: Receiver) -> list[dict[str, Any]]:
    return recv.ok("/hook")


def start_tsdb(kind: str, workdir: Path, targets: list[str]) -> Prometheus | VictoriaMetrics:
    """The central TSDB scraping the shards: a real Prometheus, or a VictoriaMetrics with
    its own Prometheus-style scraper (the same scrape config)."""
    if kind == "prometheus":
        return start_prometheus(workdir, targets, scrape_interval=f"{SCRAPE:.0f}s")
    workdir.mkdir(parents=True)
    config = workdir / "scrape.yml"
    config.write_text(prometheus_config(targets, f"{SCRAPE:.0f}s"))
    vm = VictoriaMetrics(workdir, free_tcp_port(), args=(
        f"-promscrape.config={config}", "-promscrape.config.strictParse=false"))
    vm.start()
    return vm


async def query(url: str, expr: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, \
            http.post(url + "/api/v1/query", data={"query": expr}) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.mark.parametrize("tsdb", ["prometheus", "victoriametrics"])
async def test_three_shards_cover_once_and_a_cut_across_shards_pages_once(
        tmp_path: Path, tsdb: str) -> None:
    net = Network(tmp_path)
    recv = await Receiver().start()
    prom: Prometheus | VictoriaMetrics | None = None
    try:
        await net.start()
        inventory = net.inventory(recv.url("/hook"))
        (tmp_path / "rules.yaml").write_text(RULES)
        inv_path = tmp_path / "inventory.yaml"
        inv_path.write_text(yaml.safe_dump(inventory, allow_unicode=True, sort_keys=False))
        ports = [free_tcp_port() for _ in range(SHARDS)]
        async with contextlib.AsyncExitStack() as stack:
            for i, port in enumerate(ports, 1):
                work = tmp_path / f"shard{i}"
                work.mkdir()
                await stack.enter_async_context(process(
                    ["run", "--inventory", str(inv_path), "--listen", f"127.0.0.1:{port}",
                     "--state-dir", str(work / "var"), "--no-history",
                     "--shard", f"{i}/{SHARDS}"], net.env, work))
            prom = await asyncio.to_thread(start_tsdb, tsdb, tmp_path / tsdb,
                                           [f"127.0.0.1:{p}" for p in ports])

            # (1) coverage: each shard polls exactly the sites the hash gives it
            everything = {device_of(s) for s in net.sites}
            expected = {i: {device_of(s) for s in net.sites if shard_of(s, SHARDS) == i}
                        for i in range(1, SHARDS + 1)}
            assert all(expected.values()), expected  # the plan puts a site in every shard

            async def seen() -> dict[int, set[str]]:
                return {i: polled_devices(await get(f"http://127.0.0.1:{p}/metrics"))
                        for i, p in enumerate(ports, 1)}

            deadline = time.monotonic() + PATIENCE * LAG
            while (got := await seen()) != expected:
                assert time.monotonic() < deadline, f"shards poll {got}, expected {expected}"
                await asyncio.sleep(POLL / 2)
            assert set().union(*got.values()) == everything
            assert sum(len(d) for d in got.values()) == len(everything)  # none twice
            for i, port in enumerate(ports, 1):
                text = await get(f"http://127.0.0.1:{port}/metrics")
                assert series(text, "borderwatch_shard_info") == [
                    f'borderwatch_shard_info{{shard="{i}",shards="{SHARDS}"}} 1.0']
                status = json.loads(await get(f"http://127.0.0.1:{port}/api/status"))
                assert status["shard"] == {"index": i, "count": SHARDS}
                assert "alerts" not in status  # alerting is off in a shard
            # the central view: every device once, from the shard the hash names
            deadline = time.monotonic() + PROMETHEUS_FIRST_SCRAPE + PATIENCE * LAG
            while sorted(x["metric"]["device"] for x in await query(
                    prom.url, "borderwatch_device_up == 1")) != sorted(everything):
                assert time.monotonic() < deadline, f"{tsdb} never saw every device up once"
                await asyncio.sleep(SCRAPE / 2)

            # (2) the evaluator on the TSDB
            eval_port = free_tcp_port()
            central = tmp_path / "central"
            central.mkdir()
            (central / "rules.yaml").write_text(RULES)
            (central / "inventory.yaml").write_text(inv_path.read_text())
            await stack.enter_async_context(process(
                ["alerts", "--source", tsdb, prom.url,
                 "--inventory", str(central / "inventory.yaml"),
                 "--listen", f"127.0.0.1:{eval_port}"], net.env, central))

            async def evaluations() -> int:
                text = await get(f"http://127.0.0.1:{eval_port}/metrics")
                return int(float(next(
                    (ln.split()[-1] for ln in text.splitlines()
                     if ln.startswith("borderwatch_alert_evaluations_total")), "0")))

            first = await evaluations()
            deadline = time.monotonic() + PATIENCE * LAG
            while await evaluations() < first + 4:  # a few ticks on a healthy network
                assert time.monotonic() < deadline, "the evaluator does not evaluate"
                await asyncio.sleep(TICK)
            assert recv.hits == []

            cut_at = time.time()
            await asyncio.to_thread(net.cut)
            await wait_until(lambda: len(pages(recv)) >= 1, PATIENCE * LAG,
                             "the page at the webhook")
            paged_at = time.time()
            # several lags more: still that one page (no second incident, no shard paging)
            await asyncio.sleep(3 * LAG)
            assert [p["status"] for p in pages(recv)] == ["firing"], pages(recv)
            page = pages(recv)[0]["notification"]
            assert [c["element"] for c in page["root_cause"]] == ["link:L2"], page
            assert sorted(s["site_id"] for s in page["cut_off"]) == sorted(net.posts())
            status = json.loads(await get(f"http://127.0.0.1:{eval_port}/api/status"))
            assert status["tsdb"]["up"] is True
            assert [a["root_cause"] for a in status["alerts"]] == [["link:L2"]]

            await asyncio.to_thread(net.cut, False)
            back_at = time.time()
            await wait_until(lambda: len(pages(recv)) >= 2, PATIENCE * LAG,
                             "the resolve at the webhook")
            resolved_at = time.time()
            await asyncio.sleep(3 * LAG)
            assert [p["status"] for p in pages(recv)] == ["firing", "resolved"], [
                (p["status"], p["incident_key"], p["text"]) for p in pages(recv)]
            assert pages(recv)[1]["incident_key"] == page["incident_key"]
            assert pages(recv)[1]["notification"]["reason"] == "resolved"
            print(f"\npage {paged_at - cut_at:.1f} s after the cut, resolve "
                  f"{resolved_at - back_at:.1f} s after the repair (lag bound {LAG:.1f} s)")
    finally:
        if prom is not None:
            await asyncio.to_thread(prom.stop)
        await recv.stop()
        net.close()


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1/3/2", "1/-3"])
def test_a_bad_shard_argument_is_a_clear_error(text: str) -> None:
    res = subprocess.run([BORDERWATCH, "run", "--shard", text], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2
    assert f"argument --shard: {text!r}:" in res.stderr
    assert "Traceback" not in res.stderr


async def test_the_evaluator_without_its_tsdb_says_so_and_pages_nothing(tmp_path: Path) -> None:
    """No TSDB answering: nothing is evaluated (no page on a state nobody could read),
    and the evaluator's own /metrics and /api/status say why."""
    recv = await Receiver().start()
    try:
        net = Network(tmp_path)
        net.agent_ports = {device_of(s): 1 for s in net.sites}  # never polled here
        (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(
            net.inventory(recv.url("/hook")), allow_unicode=True, sort_keys=False))
        (tmp_path / "rules.yaml").write_text(RULES)
        dead = f"http://127.0.0.1:{free_tcp_port()}"  # nothing listens there
        port = free_tcp_port()
        async with process(["alerts", "--source", "prometheus", dead, "--inventory",
                            str(tmp_path / "inventory.yaml"), "--listen",
                            f"127.0.0.1:{port}", "--query-timeout", "1"], net.env, tmp_path):
            async def failures() -> float:
                text = await get(f"http://127.0.0.1:{port}/metrics")
                line = series(text, "borderwatch_tsdb_read_failures_total") or [
                    ln for ln in text.splitlines()
                    if ln.startswith("borderwatch_tsdb_read_failures_total ")]
                return float(line[0].split()[-1])

            deadline = time.monotonic() + PATIENCE * LAG
            while await failures() < 3:
                assert time.monotonic() < deadline, "the evaluator never tried its TSDB"
                await asyncio.sleep(TICK)
            text = await get(f"http://127.0.0.1:{port}/metrics")
            assert "borderwatch_tsdb_up 0.0" in text.splitlines()
            assert "borderwatch_alert_evaluations_total 0.0" in text.splitlines()
            status = json.loads(await get(f"http://127.0.0.1:{port}/api/status"))
            assert status["tsdb"]["up"] is False
            assert dead in status["tsdb"]["error"]
            # silences are kept by the evaluator, as by `run` with alerts:
            assert json.loads(await get(f"http://127.0.0.1:{port}/api/silences")) == {
                "silences": []}
        assert recv.hits == []
    finally:
        await recv.stop()


@pytest.mark.parametrize(("argv", "message"), [
    (["--source", "graphite", "http://127.0.0.1:1"],
     "borderwatch alerts: --source 'graphite': expected one of prometheus, victoriametrics "
     "followed by the URL"),
    (["--source", "prometheus", "127.0.0.1:9090"],
     "borderwatch alerts: --source prometheus '127.0.0.1:9090': expected an http:// or "
     "https:// URL"),
])
def test_a_bad_source_is_a_clear_error(argv: list[str], message: str) -> None:
    res = subprocess.run([BORDERWATCH, "alerts", *argv], capture_output=True, text=True,
                         timeout=60)
    assert (res.returncode, res.stderr.strip()) == (2, message)


def test_an_inventory_without_alerts_has_nothing_to_evaluate(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("schema_version: 1\nsites:\n  - {id: core, name: Core, kind: core}\n")
    res = subprocess.run([BORDERWATCH, "alerts", "--source", "prometheus",
                          "http://127.0.0.1:1", "--inventory", str(inventory)],
                         capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stderr.strip()) == (2, (
        f"borderwatch alerts: {inventory}: no alerts: section (rules and receivers): "
        "nothing to evaluate"))
