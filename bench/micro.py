"""Micro-benchmarks of the data path: codec, mapping, state update, exposition, request wait.

    .venv/bin/python bench/micro.py [--quick] [--pyasn1] [--only NAME]

Plain process-CPU timings (no network, no root): each case runs until it has used at
least `--seconds` of CPU and reports the cost per operation and per 1,000 varbinds
(or per series). Results go to bench/results/micro.json; when that file exists from an
earlier run, each line also shows the change against it, so a regression is visible.
Nothing here passes or fails: it is kept out of the test suite on purpose (timings on
a shared 2-core machine are noisy).

The Go snmp_exporter's whole pipeline costs 0.0125-0.027 CPU-s per 1,000 varbinds on this
machine (bench/results/latest.json, testbed.md): every line below is a slice of that.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "profiles"), str(ROOT / "tests")]

from bench_mapping import map_once, prepare  # noqa: E402
from prometheus_client.exposition import generate_latest  # noqa: E402

from borderwatch.collector.profiles import builtin_profiles  # noqa: E402
from borderwatch.collector.samples import Kind, PollResult, Sample  # noqa: E402
from borderwatch.collector.scheduler import Job, Scheduler  # noqa: E402
from borderwatch.collector.snmp import ber  # noqa: E402
from borderwatch.collector.state import NetworkState  # noqa: E402
from borderwatch.collector.topology_spec import DeviceSpec  # noqa: E402
from borderwatch.exporters.http import MetricsApp  # noqa: E402
from borderwatch.exporters.prometheus import ExporterSources, PollCounters, build_registry  # noqa: E402
from borderwatch.exporters.scrape_render import GZIP_LEVEL, _encode, _gzip  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "micro.json"
IF_PROFILES = ("system", "if-mib")


def cpu_per_call(fn: Callable[[], object], seconds: float) -> float:
    """CPU-seconds per call of fn, over at least `seconds` of process CPU."""
    fn()  # warm caches once
    calls, start = 0, time.process_time()
    spent = 0.0
    while spent < seconds:
        fn()
        calls += 1
        spent = time.process_time() - start
    return spent / calls


class Report:
    """Collects results and prints them next to the previous run's."""

    def __init__(self, previous: dict) -> None:
        self.previous = previous
        self.results: dict[str, dict] = {}

    def add(self, name: str, per_call: float, *, unit: str, per: int, what: str) -> None:
        """per_call CPU-s for `per` units (varbinds, series...); prints CPU-s per 1,000."""
        per_1k = per_call / per * 1000
        self.results[name] = {"cpu_s_per_call": per_call, f"cpu_s_per_1k_{unit}": per_1k,
                              "units_per_call": per, "what": what}
        old = self.previous.get(name, {}).get(f"cpu_s_per_1k_{unit}")
        change = f"{(per_1k / old - 1) * 100:+6.1f} %" if old else "       "
        print(f"{name:34} {per_call * 1e6:11.1f} us/call {per_1k:9.5f} CPU-s/1k {unit:9} "
              f"{change}  {what}", flush=True)


# ----------------------------------------------------------------------------- codec


def packets(min_varbinds: int = 40) -> list[bytes]:
    """Captured responses of real agents (tests/data/packets) with many varbinds."""
    out = []
    for name in ("snmpd", "snmpsim"):
        for line in (ROOT / "tests/data/packets" / f"{name}.jsonl").read_text().splitlines():
            data = bytes.fromhex(json.loads(line)["response"])
            if len(ber.decode_message(data).varbinds) >= min_varbinds:
                out.append(data)
    return out


def bench_codec(report: Report, seconds: float, pyasn1: bool) -> None:
    data = packets()
    n = sum(len(ber.decode_message(p).varbinds) for p in data)

    def decode_all() -> None:
        for p in data:
            ber.decode_message(p)

    report.add("codec.decode", cpu_per_call(decode_all, seconds), unit="varbinds", per=n,
               what=f"{len(data)} captured responses, OID cache warm")

    def decode_cold() -> None:
        for p in data:
            ber._OID_CACHE.clear()  # every OID decoded from scratch
            ber.decode_message(p)

    report.add("codec.decode.cold_oids", cpu_per_call(decode_cold, seconds), unit="varbinds",
               per=n, what="same, OID cache cleared before each message")
    column = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 17)

    def encode() -> None:
        ber.encode_request(ber.VERSION_2C, b"public", ber.GET_BULK_REQUEST, 12345, [column],
                           max_repetitions=25)

    report.add("codec.encode.getbulk", cpu_per_call(encode, seconds), unit="requests", per=1,
               what="one GETBULK request (1 OID, max-repetitions 25)")
    if pyasn1:
        from pyasn1.codec.ber import decoder
        from pysnmp.proto import api

        spec = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C].Message()

        def pyasn1_all() -> None:
            for p in data:
                decoder.decode(p, asn1Spec=spec)

        report.add("codec.decode.pyasn1", cpu_per_call(pyasn1_all, seconds), unit="varbinds",
                   per=n, what="same packets through pyasn1 (what pysnmp does)")


# ----------------------------------------------------------------------------- mapping, state


def bench_mapping_state(report: Report, seconds: float) -> None:
    walks, gets, plans, varbinds = prepare("cisco-c3560", IF_PROFILES)
    report.add("mapping.if-mib", cpu_per_call(lambda: map_once(walks, gets, plans), seconds),
               unit="varbinds", per=varbinds,
               what=f"cisco-c3560 recorded walk ({varbinds} varbinds) → samples")
    samples = map_once(walks, gets, plans).samples
    state = NetworkState([DeviceSpec("d", "s", interval=60)], [])
    poll = [0]

    def apply() -> None:
        i = poll[0] = poll[0] + 1
        state.apply(PollResult("d", 1e9 + 60 * i, 0.5, True, samples=samples,
                               sys_uptime_ticks=10**8 + 6000 * i, varbinds=varbinds))

    report.add("state.apply.if-mib", cpu_per_call(apply, seconds), unit="varbinds",
               per=varbinds, what=f"NetworkState.apply of that poll ({len(samples)} samples)")


# ----------------------------------------------------------------------------- exposition


def _if_samples(n_if: int, poll: int) -> list[Sample]:
    """Samples of an if-mib poll of `n_if` interfaces, named as the profile names them."""
    profiles = builtin_profiles()
    uptime, info = (m.info.name for m in profiles["system"].scalars)
    out: list[Sample] = [Sample(uptime, (), 1000.0 + poll * 60),
                         Sample(info, (("sysDescr", "Linux bench"), ("sysName", "bench"),
                                       ("sysObjectID", "1.3.6.1.4.1.8072")), 1)]
    for i in range(1, n_if + 1):
        labels = (("ifAlias", ""), ("ifDescr", f"tap{i}"), ("ifIndex", str(i)),
                  ("ifName", f"tap{i}"))
        for metric in profiles["if-mib"].tables[0].metrics:
            if metric.info.kind is Kind.COUNTER:
                out.append(Sample(metric.info.name, labels, 10**9 + poll * 12345 * i,
                                  Kind.COUNTER, 64))
            else:
                out.append(Sample(metric.info.name, labels, 1))
    return out


def fleet_state(devices: int, n_if: int) -> NetworkState:
    """A NetworkState of `devices` devices with `n_if` interfaces each, polled twice."""
    specs = [DeviceSpec(f"dev{k:05d}", f"site{k // 100:03d}", f"127.0.0.1:{k}", IF_PROFILES)
             for k in range(devices)]
    now = time.time()
    state = NetworkState(specs, [], clock=lambda: now)
    for poll in (0, 1):
        samples = _if_samples(n_if, poll)
        for spec in specs:
            state.apply(PollResult(spec.device_id, now - 60 + 30 * poll, 0.2, True,
                                   samples=list(samples), sys_uptime_ticks=100000 + poll * 3000,
                                   varbinds=16 * n_if + 4, requests=17, profile="system+if-mib"))
    return state


def _fresh_series(state: NetworkState) -> list[dict]:
    """For each device, a copy of its series with new label tuples and strings, as the
    next poll's apply() would make (so the text cache sees a changed device)."""
    out = []
    for snap in state.device_snapshots():
        out.append({metric: {tuple((n, (v + "#")[:-1]) for n, v in labels): value
                             for labels, value in rows.items()}
                    for metric, rows in snap.series.items()})
    return out


def bench_exposition(report: Report, seconds: float, quick: bool) -> None:
    from aiohttp.test_utils import make_mocked_request

    sizes = [(100, 48)] if quick else [(100, 48), (10_000, 4)]
    loop = asyncio.new_event_loop()
    for devices, n_if in sizes:
        state = fleet_state(devices, n_if)
        snaps = state.device_snapshots()
        scheduler = Scheduler(Job(device_id=s.device_id, interval=60, poll_deadline=50,
                                  poll=None, site=s.site_id)  # type: ignore[arg-type]
                              for s in snaps)
        counters = {s.device_id: PollCounters(site=s.site_id, varbinds=1000, requests=17)
                    for s in snaps}
        registry = build_registry(ExporterSources(state=state, scheduler=scheduler,
                                                  poll_counters=counters, series_cap=1000),
                                  process_metrics=False)
        app = MetricsApp(registry, dict)
        tag = f"{devices}x{n_if}if"
        headers = {"Accept-Encoding": "gzip"}

        async def collect(registry=registry) -> list:  # (the scheduler reads the loop time)
            return list(registry.collect())

        series = sum(len(f.samples) for f in loop.run_until_complete(collect()))

        def reference(collect=collect) -> bytes:  # bound now: the loop variable changes
            return _gzip(_encode(generate_latest, [], loop.run_until_complete(collect())))

        report.add(f"exposition.prometheus_client.{tag}", cpu_per_call(reference, seconds),
                   unit="series", per=series, what=f"the old path: registry.collect() + "
                   f"generate_latest + gzip {GZIP_LEVEL}, {series} series")
        scrape = make_mocked_request("GET", "/metrics", headers=headers)

        def served(app=app, scrape=scrape) -> None:
            loop.run_until_complete(app.metrics(scrape))

        report.add(f"exposition.metrics.unchanged.{tag}", cpu_per_call(served, seconds),
                   unit="series", per=series, what="/metrics (exporters/device_text.py), "
                   f"gzip {GZIP_LEVEL}; no device polled since the previous scrape")
        variants = [_fresh_series(state), _fresh_series(state)]
        turn = [0]

        def repolled(app=app, scrape=scrape, snaps=snaps, variants=variants,
                     turn=turn) -> None:
            turn[0] += 1
            for snap, series_ in zip(snaps, variants[turn[0] % 2], strict=True):
                snap.series = series_  # what apply() does: a new dict, new label tuples
                snap.series_version += 1
            loop.run_until_complete(app.metrics(scrape))

        report.add(f"exposition.metrics.all_changed.{tag}", cpu_per_call(repolled, seconds),
                   unit="series", per=series,
                   what="same, every device polled since the previous scrape")
        wall, cpu = loop.run_until_complete(_longest_slice(app, scrape, snaps, variants[0]))
        print(f"{'':34} longest event-loop slice of an all-changed /metrics: "
              f"{cpu * 1000:.1f} ms CPU ({wall * 1000:.1f} ms wall)", flush=True)
        report.results[f"exposition.metrics.longest_slice.{tag}"] = {
            "cpu_s": cpu, "wall_s": wall, "what": "longest time the loop ran without yielding"}
    loop.close()


async def _longest_slice(app: MetricsApp, scrape: object, snaps: list, variant: list,
                         ) -> tuple[float, float]:
    """The longest stretch /metrics keeps the event loop to itself (all devices changed):
    a ticker task measures the gaps between its turns while a scrape runs, in wall time
    and in CPU time of the loop's thread (wall includes time the OS gave other processes,
    a lot on a shared machine). Garbage collection is off meanwhile: a full collection
    stalls the loop whatever runs on it (see the README)."""
    for snap, series in zip(snaps, variant, strict=True):
        snap.series = series
        snap.series_version += 1
    wall: list[float] = []
    cpu: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done.is_set():
            await asyncio.sleep(0)
            now, now_cpu = time.perf_counter(), time.thread_time()
            wall.append(now - last)
            cpu.append(now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    gc.disable()
    try:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await app.metrics(scrape)  # type: ignore[arg-type]
        done.set()
        await task
    finally:
        gc.enable()
    return max(wall), max(cpu)


# ----------------------------------------------------------------------------- request wait


def bench_wait(report: Report, seconds: float) -> None:
    """The per-request await of collector/snmp/transport.py and a cheaper equivalent."""

    async def run(kind: str) -> float:
        loop = asyncio.get_running_loop()
        calls, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            for _ in range(1000):
                fut = loop.create_future()
                loop.call_soon(fut.set_result, None)  # the answer arrives next loop pass
                if kind == "asyncio.wait":
                    await asyncio.wait((fut,), timeout=2.0)
                else:  # a timer handle that fails the future, cancelled on the answer
                    timer = loop.call_later(2.0, _expire, fut)
                    try:
                        await fut
                    finally:
                        timer.cancel()
            calls += 1000
        return (time.process_time() - start) / calls

    for kind in ("asyncio.wait", "call_later+await"):
        report.add(f"transport.wait.{kind}", asyncio.run(run(kind)), unit="requests", per=1,
                   what="one request's wait for its answer (future resolved next loop pass)")


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU-s per case")
    parser.add_argument("--quick", action="store_true", help="0.3 s per case, small sizes")
    parser.add_argument("--pyasn1", action="store_true", help="also decode with pyasn1")
    parser.add_argument("--only", help="run only cases whose group starts with this")
    args = parser.parse_args()
    seconds = 0.3 if args.quick else args.seconds
    previous = json.loads(RESULTS.read_text()).get("results", {}) if RESULTS.exists() else {}
    report = Report(previous)
    groups = {"codec": lambda: bench_codec(report, seconds, args.pyasn1),
              "mapping": lambda: bench_mapping_state(report, seconds),
              "exposition": lambda: bench_exposition(report, seconds, args.quick),
              "transport": lambda: bench_wait(report, seconds)}
    print(f"{'case':34} {'CPU per call':>18} {'CPU-s per 1,000':>18} {'vs last':>16}")
    for name, run in groups.items():
        if not args.only or name.startswith(args.only):
            run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = {**previous, **report.results}
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                   "results": merged}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
