"""Helpers of the runtime tests: inventories on disk, an in-process service, /metrics reads.

Every inventory here points at real agents (snmpd, snmpsim) or at real nothing (a free
UDP port, a blackholing proxy); secrets go through environment variables as in
production, never inline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.service import Service, start_service

REPO_ROOT = Path(__file__).resolve().parents[1]
BORDERWATCH = str(REPO_ROOT / ".venv" / "bin" / "borderwatch")


@dataclass
class Dev:
    """One device line of a test inventory."""

    id: str
    port: int
    credential: str
    address: str = "127.0.0.1"
    site: str = "test-hub"
    extra: dict[str, Any] = field(default_factory=dict)  # profile, interval, overrides...

    def as_yaml(self) -> dict[str, Any]:
        return {"id": self.id, "address": self.address, "port": self.port,
                "credential": self.credential, **self.extra}


def write_inventory(path: Path, devices: Iterable[Dev], credentials: Mapping[str, Any],
                    defaults: Mapping[str, Any] | None = None,
                    links: Iterable[Mapping[str, Any]] = ()) -> Path:
    """Write a valid inventory (sites derived from the devices) and return its path."""
    sites: dict[str, list[dict[str, Any]]] = {}
    for dev in devices:
        sites.setdefault(dev.site, []).append(dev.as_yaml())
    data = {
        "schema_version": 1,
        "credentials": dict(credentials),
        "defaults": dict(defaults or {}),
        "sites": [{"id": sid, "name": f"Trạm {sid}", "kind": "hub", "devices": devs}
                  for sid, devs in sites.items()],
        "links": list(links),
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def v2c(env_var: str) -> dict[str, Any]:
    """A v2c credential whose community comes from `env_var`."""
    return {"version": "2c", "community_env": env_var}


def v3(user: str, auth: str, priv: str | None, prefix: str) -> dict[str, Any]:
    """A v3 credential whose keys come from PREFIX_AUTH / PREFIX_PRIV."""
    cred: dict[str, Any] = {"version": 3, "user": user, "auth_protocol": auth,
                            "auth_key_env": f"{prefix}_AUTH"}
    if priv:
        cred |= {"priv_protocol": priv, "priv_key_env": f"{prefix}_PRIV"}
    return cred


@contextlib.asynccontextmanager
async def running_service(inventory: Path, env: Mapping[str, str], *,
                          listen: str = "127.0.0.1:0", **kwargs: Any,
                          ) -> AsyncIterator[Service]:
    """The whole collector in this event loop, on loopback (a free port unless `listen`)."""
    inv = load_inventory(inventory, env=env)
    service = await start_service(inv, listen, local_address="127.0.0.1", **kwargs)
    try:
        yield service
    finally:
        await service.close()


class ResultLog:
    """Collects every PollResult of a service (start times per device, for cadence)."""

    def __init__(self) -> None:
        self.results: list[PollResult] = []

    def __call__(self, result: PollResult) -> None:
        self.results.append(result)

    def for_device(self, device_id: str) -> list[PollResult]:
        return [r for r in self.results if r.device_id == device_id]


async def wait_until(predicate: Callable[[], bool], within: float, what: str,
                     interval: float = 0.1) -> None:
    """Await until predicate() is true; AssertionError naming `what` after `within` s."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def fetch(url: str, headers: Mapping[str, str] | None = None,
                ) -> tuple[int, dict[str, str], bytes]:
    """GET a URL without transparent decompression: (status, headers, raw body).

    aiohttp asks for gzip by default; unless the caller says otherwise, ask for identity.
    """
    sent = {"Accept-Encoding": "identity", **(headers or {})}
    async with aiohttp.ClientSession(auto_decompress=False) as client, \
            client.get(url, headers=sent) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def scrape(service: Service) -> dict[str, Any]:
    """Parse /metrics: {sample name: [(labels dict, value), ...]} plus the raw text."""
    status, _, body = await fetch(f"{service.http.url}/metrics")
    assert status == 200
    text = body.decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return {"text": text, "samples": samples}


def values_by_device(scraped: dict[str, Any], name: str) -> dict[str, float]:
    """{device: value} of a per-device metric in a scrape."""
    return {labels["device"]: value for labels, value in scraped["samples"].get(name, [])}


def canary_forms(secret: str) -> list[str]:
    """A canary and its encodings that a leak could take (T8): hex, base64, URL-encoded."""
    raw = secret.encode()
    return [secret, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(),
            urllib.parse.quote(secret, safe=""), ":".join(f"{b:02x}" for b in raw)]


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """Every (secret form) found in text, empty when clean."""
    return [form for s in secrets for form in canary_forms(s) if form in text]


def proc_stats(pid: int) -> dict[str, int]:
    """RSS (bytes) and open fd count of a process, from /proc (T9)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]
    return {"rss": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def snmpget_counter(out: str) -> int | None:
    """The integer of a `-On` snmpget line ('... = Counter64: 123'), None for no value."""
    m = re.search(r"= (?:Counter64|Counter32|Gauge32|INTEGER|Timeticks): \(?(-?\d+)", out)
    return int(m.group(1)) if m else None
