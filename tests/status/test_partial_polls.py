"""Issue 11, point 2: a device that answers but whose data is incomplete is visible as such.

A REAL agent (snmpsim) serves crafted data files, as broken firmware would: one whose
ifOperStatus records are out of order (GETNEXT goes back: the walk loops), one that
serves ifHCInOctets as OCTET STRING (type confusion), and a clean one. The whole
service polls them; /metrics, /api/status, the /status page (in headless Chromium)
and the log must tell the partial devices from the clean one, while all three stay
`device_up 1`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import Chromium
from runtime_helpers import (
    Dev,
    fetch,
    running_service,
    scrape,
    v2c,
    values_by_device,
    wait_until,
    write_inventory,
)
from servers import Snmpsim, free_udp_port, start_snmpsim

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
SYSTEM = ["1.3.6.1.2.1.1.3.0|67|4242", "1.3.6.1.2.1.1.5.0|4|dev"]


def _records(oper: list[int], hc_tag: str = "70") -> list[str]:
    """A 4-interface IF-MIB; ifOperStatus rows in the order given (the file order is
    what snmpsim's GETNEXT follows), ifHCInOctets with the given type tag."""
    return [*SYSTEM,
            *(f"{IF}.2.{i}|4|eth{i}" for i in range(1, 5)),
            *(f"{IF}.8.{i}|2|1" for i in oper),
            *(f"{IFX}.1.{i}|4|eth{i}" for i in range(1, 5)),
            *(f"{IFX}.6.{i}|{hc_tag}|{1000 * i}" for i in range(1, 5))]


FILES = {
    "t/loop": _records([1, 3, 2, 4]),  # after .3 comes .2: the OID goes back
    "t/types": _records([1, 2, 3, 4], hc_tag="4"),  # counters as strings
    "t/clean": _records([1, 2, 3, 4]),
}


@pytest.fixture(scope="module")
def crafted_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    root: Path = tmp_path_factory.mktemp("snmpsim-partial")
    for name, records in FILES.items():
        path = root / "data" / f"{name}.snmprec"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(records) + "\n")
    server = start_snmpsim(root / "data", root / "cache", [("127.0.0.1", free_udp_port())],
                           probe_community="t/clean", probe_oid="1.3.6.1.2.1.1.5.0",
                           log_path=root / "snmpsim.log")
    try:
        yield server
    finally:
        server.stop()


async def test_partial_devices_are_visible_in_metrics_status_and_log(
        tmp_path: Path, crafted_agent: Snmpsim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    devices = [Dev(name.split("/")[1], crafted_agent.port, name.split("/")[1],
                   extra={"profile": ["if-mib"], "interval": 2})
               for name in FILES]
    inv = write_inventory(tmp_path / "inventory.yaml", devices,
                          {name.split("/")[1]: v2c(f"BW_{name.split('/')[1].upper()}")
                           for name in FILES},
                          {"timeout": 1, "retries": 1})
    env = {f"BW_{n.split('/')[1].upper()}": n for n in FILES}
    async with running_service(inv, env) as service:
        await wait_until(lambda: all((s.polls or 0) >= 3
                                     for s in service.state.device_snapshots()),
                         within=60, what="three polls of every device")
        scraped = await scrape(service)
        assert values_by_device(scraped, "borderwatch_device_up") == {
            "loop": 1, "types": 1, "clean": 1}
        assert values_by_device(scraped, "borderwatch_device_partial") == {
            "loop": 1, "types": 1, "clean": 0}
        problems = {(labels["device"], labels["kind"]): value for labels, value in
                    scraped["samples"]["borderwatch_device_poll_problems"]}
        assert problems == {("loop", "loop"): 1, ("types", "refused"): 4}
        # the looping walk kept what it read: interfaces 1 and 3 have a status
        up = [labels["ifIndex"] for labels, _ in scraped["samples"]["borderwatch_interface_up"]
              if labels["device"] == "loop"]
        assert sorted(up) == ["1", "3"]

        status, _, body = await fetch(f"{service.http.url}/api/status")
        assert status == 200
        doc = json.loads(body)
        by_id = {d["id"]: d for s in doc["sites"] for d in s["devices"]}
        assert (by_id["loop"]["partial"], by_id["types"]["partial"],
                by_id["clean"]["partial"]) == (True, True, False)
        assert by_id["loop"]["last_error"] is None
        assert by_id["loop"]["problem_kinds"] == {"loop": 1}
        assert "OID not increasing" in by_id["loop"]["problems"][0]
        assert by_id["clean"]["problems"] == []

        async with Chromium.launch(tmp_path / "chromium") as browser, browser.page() as page:
            await page.navigate(f"{service.http.url}/status")
            marked = await page.wait_for(
                "(() => { const m = Object.fromEntries([...document.querySelectorAll("
                "'[data-device-id]')].map(e => [e.dataset.deviceId, e.dataset.partial]));"
                " return Object.keys(m).length === 3 ? m : null; })()", 30,
                "the three devices on the page")
            assert marked == {"loop": "true", "types": "true", "clean": "false"}
            loop_text = await page.evaluate(
                "document.querySelector('[data-device-id=\"loop\"]').textContent")
            assert "dữ liệu không đầy đủ / data incomplete" in loop_text
            assert "OID not increasing" in loop_text
            clean_text = await page.evaluate(
                "document.querySelector('[data-device-id=\"clean\"]').textContent")
            assert "không đầy đủ" not in clean_text

    logged = [r.getMessage() for r in caplog.records if "data incomplete" in r.getMessage()]
    # once per device, not once per poll (three or more polls each)
    assert sorted(m.split(" (site")[0] for m in logged) == ["device loop", "device types"]
    assert all(r.levelno == logging.WARNING for r in caplog.records
               if "data incomplete" in r.getMessage())
