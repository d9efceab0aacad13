"""The system under test: `borderwatch run` on a generated inventory, and a /metrics client."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from agents import COMMUNITY, V3_AUTH, V3_PRIV, V3_USER
from procs import Group, Proc

ROOT = Path(__file__).resolve().parents[1]
SECRET_ENV = {"BWBENCH_COMMUNITY": COMMUNITY, "BWBENCH_V3_AUTH": V3_AUTH,
              "BWBENCH_V3_PRIV": V3_PRIV}


@dataclass(frozen=True)
class Target:
    """One inventory device: where its agent listens."""

    device_id: str
    address: str
    port: int


def write_inventory(path: Path, targets: list[Target], *, interval: float,
                    version: str = "2c", profile: list[str] | str = ("system", "if-mib"),
                    max_repetitions: int = 25, per_site: int = 100,
                    max_in_flight: int = 64) -> None:
    """An inventory of `targets` in sites of `per_site` devices (secrets from the env)."""
    if version == "3":
        credential = {"version": 3, "user": V3_USER, "auth_protocol": "SHA",
                      "auth_key_env": "BWBENCH_V3_AUTH", "priv_protocol": "AES",
                      "priv_key_env": "BWBENCH_V3_PRIV"}
    else:
        credential = {"version": "2c", "community_env": "BWBENCH_COMMUNITY"}
    sites = []
    for start in range(0, len(targets), per_site):
        n = start // per_site
        sites.append({
            "id": f"bench-site-{n:04d}", "name": f"Benchmark site {n}", "kind": "commune",
            "devices": [{"id": t.device_id, "address": t.address, "port": t.port,
                         "credential": "bench",
                         "profile": list(profile) if not isinstance(profile, str) else profile}
                        for t in targets[start:start + per_site]],
        })
    inventory = {
        "schema_version": 1,
        "province": "benchmark",
        "credentials": {"bench": credential},
        "defaults": {"interval": interval, "timeout": 2, "retries": 1,
                     "max_repetitions": max_repetitions, "max_in_flight": max_in_flight},
        "sites": sites,
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False, allow_unicode=True))


def start(group: Group, workdir: Path, inventory: Path, listen: str, *,
          name: str = "borderwatch", argv_prefix: list[str] | None = None,
          run_args: list[str] | None = None) -> Proc:
    """Start `borderwatch run` (optionally under a wrapper such as cProfile); `run_args`
    are added to `run`'s own (e.g. --state-dir, --no-history)."""
    env = dict(os.environ, **SECRET_ENV)
    env["PYTHONPATH"] = str(ROOT)
    prefix = argv_prefix or [sys.executable, "-m", "borderwatch.cli"]
    return group.start(name, [*prefix, "--log-level", "WARNING", "run",
                              "--inventory", str(inventory), "--listen", listen,
                              *(run_args or [])],
                       log=workdir / f"{name}.log", env=env, cwd=ROOT)


async def healthz(http: aiohttp.ClientSession, listen: str) -> dict | None:
    """The /healthz body, None while not listening."""
    try:
        async with http.get(f"http://{listen}/healthz") as resp:
            return await resp.json() if resp.status == 200 else None
    except (aiohttp.ClientError, OSError):
        return None


async def wait_listening(proc: Proc, listen: str, limit: float = 300.0) -> float:
    """Seconds until /healthz answers (the service is built and scheduling)."""
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if await healthz(http, listen) is not None:
                return time.monotonic() - t0
            if time.monotonic() - t0 > limit:
                raise RuntimeError(f"{proc.name} not listening after {limit} s")
            await asyncio.sleep(0.05)


async def wait_polled(proc: Proc, listen: str, devices: int, limit: float,
                      strict: bool = True) -> float:
    """Seconds until every device has been polled once (not strict: at most `limit`)."""
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            health = await healthz(http, listen)
            if health and health.get("devices_up", 0) + health.get("devices_down", 0) >= devices:
                if health.get("devices_down"):
                    print(f"  warning: {health['devices_down']} device(s) down", flush=True)
                return time.monotonic() - t0
            if time.monotonic() - t0 > limit:
                if not strict:  # an overloaded service is what a scale run measures
                    print(f"  warning: not every device polled after {limit:.0f} s: {health}",
                          flush=True)
                    return time.monotonic() - t0
                raise RuntimeError(f"not every device polled after {limit} s: {health}")
            await asyncio.sleep(0.25)


async def scrape(http: aiohttp.ClientSession, listen: str) -> tuple[str, float, int]:
    """One full /metrics scrape as Prometheus does it (gzip accepted):
    (text, seconds until the whole body arrived, body bytes on the wire)."""
    t0 = time.perf_counter()
    async with http.get(f"http://{listen}/metrics",
                        headers={"Accept-Encoding": "gzip"}) as resp:
        raw = await resp.content.read()  # still compressed: the size on the wire
        resp.raise_for_status()
    elapsed = time.perf_counter() - t0
    # Sessions made with auto_decompress=False keep the body as sent.
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return text, elapsed, len(raw)
