"""The /api/status document: site status derivation (table), isolation from the topology,
site names, and no secrets in /api/status or /status (real snmpd with canary communities)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from runtime_helpers import fetch, find_leaks, running_service, wait_until
from servers import start_snmpd
from status_world import DEVICES, SITES, canaries, env_for, snmpd_conf, write_inventory

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.collector.state import NetworkState
from borderwatch.exporters.status import SITE_STATUSES, StatusBuilder, site_status
from borderwatch.service import device_spec, link_specs


@pytest.mark.parametrize(("device_up", "expected"), [
    ([], "unknown"),
    ([None], "unknown"),
    ([None, None], "unknown"),
    ([True], "up"),
    ([True, True], "up"),
    ([True, None], "up"),  # a device not polled yet does not make a site worse
    ([True, False], "degraded"),
    ([False, True, None], "degraded"),
    ([False], "down"),
    ([False, False], "down"),
    ([False, None], "down"),
])
def test_site_status_table(device_up: list[bool | None], expected: str) -> None:
    assert site_status(device_up) == expected


def _builder(tmp_path: Path) -> tuple[StatusBuilder, NetworkState]:
    endpoints = {d: ("127.0.0.1", 1161 + i) for i, d in enumerate(DEVICES)}
    communities = canaries()
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", endpoints),
                         env=env_for(communities))
    state = NetworkState([device_spec(inv.effective(d.id)) for d in inv.devices],
                         link_specs(inv))
    return StatusBuilder(inv, state), state


def _apply(state: NetworkState, answers: dict[str, bool]) -> None:
    for device_id, ok in answers.items():
        state.apply(PollResult(device_id, time.time(), 0.01, ok,
                               error=None if ok else "timeout: no response",
                               sys_uptime_ticks=100_000 if ok else None))


ALL_UP = dict.fromkeys(DEVICES, True)


@pytest.mark.parametrize(("answers", "expected"), [
    ({}, {"core-ls": "unknown", "hub-dd": "unknown", "bp-tl": "unknown", "xa-yt": "unknown"}),
    (ALL_UP, {"core-ls": "up", "hub-dd": "up", "bp-tl": "up", "xa-yt": "up"}),
    (ALL_UP | {"yt-ups1": False}, {"xa-yt": "degraded", "hub-dd": "up"}),
    (ALL_UP | {"yt-sw1": False, "yt-ups1": False}, {"xa-yt": "down"}),
    # the post is dark and its hub answers: the post itself is down
    (ALL_UP | {"bptl-sw1": False}, {"hub-dd": "up", "bp-tl": "down"}),
    # hub and post dark: the hub is down, the post is cut off behind it
    (ALL_UP | {"dd-agg1": False, "bptl-sw1": False}, {"hub-dd": "down", "bp-tl": "isolated"}),
    # the post still answers behind a dead hub: it is not isolated (the answer wins)
    (ALL_UP | {"dd-agg1": False}, {"hub-dd": "down", "bp-tl": "up"}),
], ids=["nothing-polled", "all-up", "one-of-two", "both-of-two", "post-down",
        "post-isolated", "answer-beats-topology"])
def test_site_status_from_state(tmp_path: Path, answers: dict[str, bool],
                                expected: dict[str, str]) -> None:
    builder, state = _builder(tmp_path)
    _apply(state, answers)
    doc = builder.build()
    got = {s["id"]: s["status"] for s in doc["sites"]}
    assert {k: got[k] for k in expected} == expected
    assert doc["isolation"] is True
    assert doc["summary"] == {name: list(got.values()).count(name) for name in SITE_STATUSES}
    by_id = {s["id"]: s for s in doc["sites"]}
    if expected.get("bp-tl") == "isolated":
        assert by_id["bp-tl"]["isolated_by"] == ["site hub-dd"]
    else:
        assert all(s["isolated_by"] == [] for s in doc["sites"])


def test_document_shape_names_devices_links(tmp_path: Path) -> None:
    builder, state = _builder(tmp_path)
    _apply(state, ALL_UP | {"yt-ups1": False})
    doc = builder.build()
    assert [(s["id"], s["name"], s["name_en"], s["kind"], s["commune"]) for s in doc["sites"]] \
        == [(s["id"], s["name"], s["name_en"], s["kind"], s["commune"]) for s in SITES]
    yt = next(s for s in doc["sites"] if s["id"] == "xa-yt")
    assert [d["id"] for d in yt["devices"]] == ["yt-sw1", "yt-ups1"]
    sw, ups = yt["devices"]
    assert sw["up"] is True and sw["last_error"] is None and sw["last_success"].endswith("Z")
    assert ups["up"] is False and ups["last_error"] == "timeout: no response"
    assert ups["last_success"] is None
    # an allow-list: nothing that locates or authenticates a device
    assert set(sw) == {"id", "up", "icmp_up", "stale", "last_poll", "last_success",
                       "last_error", "partial", "problem_kinds", "problems"}
    assert [lk["id"] for lk in doc["links"]] == ["L1", "L2", "L3"]
    assert set(doc["links"][0]) == {"id", "a_site", "b_site", "medium", "state", "reason",
                                    "root_cause"}
    assert doc["generated_at"].endswith("Z")
    # what the map draws: coordinates from the inventory (None where it has none)
    assert [(s["lat"], s["lon"]) for s in doc["sites"]] == [
        (s.get("lat"), s.get("lon")) for s in SITES]
    assert doc["outages"] == [] and all(s["redundancy_lost"] is None for s in doc["sites"])


def test_document_names_the_outage_and_its_root_cause(tmp_path: Path) -> None:
    """Hub and post dark: one outage, the hub its root cause, the post cut off behind it
    (the page's problem list and map read this)."""
    builder, state = _builder(tmp_path)
    _apply(state, ALL_UP | {"dd-agg1": False, "bptl-sw1": False})
    doc = builder.build()
    assert doc["outages"] == [{"root": ["site hub-dd"], "down": ["hub-dd"],
                               "isolated": ["bp-tl"]}]
    assert [lk["root_cause"] for lk in doc["links"]] == [False, False, False]  # a site is


def test_no_core_site_means_no_isolation_said_so(tmp_path: Path) -> None:
    endpoints = {d: ("127.0.0.1", 1161 + i) for i, d in enumerate(DEVICES)}
    path = write_inventory(tmp_path / "inv.yaml", endpoints)
    path.write_text(path.read_text(encoding="utf-8").replace("kind: core", "kind: hub"),
                    encoding="utf-8")
    inv = load_inventory(path, env=env_for(canaries()))
    state = NetworkState([device_spec(inv.effective(d.id)) for d in inv.devices],
                         link_specs(inv))
    builder = StatusBuilder(inv, state)
    _apply(state, ALL_UP | {"dd-agg1": False, "bptl-sw1": False})
    doc = builder.build()
    assert doc["isolation"] is False and "core" in doc["isolation_note"]
    assert {s["id"]: s["status"] for s in doc["sites"]}["bp-tl"] == "down"


async def test_status_routes_carry_no_secret_and_refuse_parameters(tmp_path: Path) -> None:
    """Real snmpd answering canary communities; /api/status and /status never show them."""
    communities = canaries()
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf=snmpd_conf(communities))
    try:
        endpoints = {d: snmpd.endpoint for d in DEVICES}
        # one device with a community snmpd refuses: its error text must be clean too
        communities["yt-ups1"] += "-refused"
        inv = write_inventory(tmp_path / "inv.yaml", endpoints,
                              defaults={"interval": 2, "timeout": 0.5, "retries": 0})
        async with running_service(inv, env_for(communities)) as service:
            base = service.http.url
            await wait_until(lambda: all(s.up is not None
                                         for s in service.state.device_snapshots()),
                             within=20, what="every device polled once")
            status, headers, body = await fetch(f"{base}/api/status")
            assert status == 200 and headers["Content-Type"].startswith("application/json")
            assert "charset=utf-8" in headers["Content-Type"]
            doc = json.loads(body.decode("utf-8"))
            sites = {s["id"]: s for s in doc["sites"]}
            assert sites["xa-yt"]["status"] == "degraded"  # the refused community
            assert sites["core-ls"]["status"] == "up"
            # ensure_ascii=False: the Vietnamese names travel as UTF-8, not \\u escapes
            assert "Đồn Biên phòng Thanh Lòa".encode() in body
            page_status, page_headers, page = await fetch(f"{base}/status")
            assert page_status == 200 and "charset=utf-8" in page_headers["Content-Type"]
            assert "script-src 'sha256-" in page_headers["Content-Security-Policy"]
            for text in (body.decode(), page.decode()):
                assert find_leaks(text, communities.values()) == []
            for path in ("/api/status?site=hub-dd", "/status?target=127.0.0.1",
                         "/api/status?x"):
                status, _, _ = await fetch(base + path)
                assert status == 400, path
    finally:
        snmpd.stop()
