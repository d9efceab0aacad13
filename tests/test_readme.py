"""The README's examples stay valid (people copy them first) and its commands work where it
says they do: in a new shell after `make demo`, and while the lab runs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from collector.inventory import load_inventory
from lab.quality import free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_inventory_example_is_valid(tmp_path: Path) -> None:
    blocks = _yaml_blocks()
    assert blocks, "README.md has no yaml example"
    path = tmp_path / "inventory.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    secret = tmp_path / "v3-priv"
    secret.write_text("privpass123\n", encoding="utf-8")
    secret.chmod(0o600)
    text = path.read_text(encoding="utf-8").replace("/run/secrets/v3-priv", str(secret))
    path.write_text(text, encoding="utf-8")
    env = {"BORDERWATCH_COMMUNITY": "public", "BORDERWATCH_V3_AUTH": "authpass123"}
    inventory = load_inventory(path, env=env)
    assert [d.id for d in inventory.devices] == ["dd-agg2", "bptl-sw1"]
    assert [link.id for link in inventory.links] == ["L27"]


def test_readme_alerts_example_is_valid(tmp_path: Path) -> None:
    """The `alerts:` example (every receiver kind) loads on top of the inventory example."""
    blocks = _yaml_blocks()
    (alerts,) = [b for b in blocks if b.startswith("alerts:")]
    secret = tmp_path / "v3-priv"
    secret.write_text("privpass123\n", encoding="utf-8")
    secret.chmod(0o600)
    path = tmp_path / "inventory.yaml"
    path.write_text(blocks[0].replace("/run/secrets/v3-priv", str(secret)) + "\n" + alerts,
                    encoding="utf-8")
    env = {"BORDERWATCH_COMMUNITY": "public", "BORDERWATCH_V3_AUTH": "authpass123"}
    inventory = load_inventory(path, env=env)
    assert inventory.alerts is not None
    receivers = [r.name for r in (*inventory.alerts.webhooks, *inventory.alerts.email,
                                  *inventory.alerts.telegram)]
    assert receivers == ["noc", "truc-ban", "nhom-truc"]
    assert inventory.alerts.alertmanager != ()


# ----------------------------------------------------------------------------- commands

MAKEFILE = README.parent / "Makefile"
REPO = README.parent
LAB_VAR = "BORDERWATCH_LAB_COMMUNITY"
# The core, the Đồng Đăng hub and the Thanh Lòa post of the shipped inventory (joined by L01
# and L27), on addresses of their own (away from the repository lab's 127.0.0.10-.120 and
# the other lab tests'), with the shipped credentials and alerts.
SLICE = {"ls-core-pe1": "127.0.0.181", "dd-agg1": "127.0.0.182", "dd-agg2": "127.0.0.183",
         "bptl-sw1": "127.0.0.184"}
SLICE_LINKS = ("L01", "L27")
INTERVAL = 5  # the slice polls faster than the shipped 30 s: same story, shorter test
POST = "bp-thanhloa"


def _clean_env() -> dict[str, str]:
    """A new user's shell: no virtualenv on the PATH, no lab community variable."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8"}


def _shell(line: str, cwd: Path, extra_env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env={**_clean_env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=120)


def test_make_demo_says_how_to_get_the_command_in_a_new_shell() -> None:
    """Issue 14: after `make demo`, `borderwatch --help` gave "command not found"."""
    recipe = MAKEFILE.read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    said = re.search(r'@echo ".*in a second terminal: (.*)"', recipe)
    assert said is not None, recipe
    command = said.group(1).replace("$(CURDIR)", str(REPO))
    assert ". .venv/bin/activate" in command and ". .venv/bin/activate" in \
        README.read_text(encoding="utf-8")
    run = _shell(f"{command} && borderwatch --help", cwd=Path("/"))
    assert run.returncode == 0 and run.stdout.startswith("usage: borderwatch"), run


def _second_terminal_block() -> list[str]:
    """The README's commands for a second terminal while `make demo` runs."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"in a second terminal:\n\n```sh\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines()]


def _slice_inventory(path: Path, port: int) -> None:
    """inventory.yaml's credentials and alerts (verbatim), three of its sites, two links."""
    shipped = yaml.safe_load((REPO / "inventory.yaml").read_text(encoding="utf-8"))
    sites = []
    for site in shipped["sites"]:
        devices = [{**d, "address": SLICE[d["id"]]} for d in site["devices"] if d["id"] in SLICE]
        if devices:
            sites.append({**site, "devices": devices})
    doc = {"schema_version": 1, "credentials": shipped["credentials"],
           "defaults": {**shipped["defaults"], "port": port, "interval": INTERVAL},
           "sites": sites, "alerts": shipped["alerts"],
           "links": [link for link in shipped["links"] if link["id"] in SLICE_LINKS]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _status(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/status", timeout=10) as resp:
        return json.loads(resp.read())


def _wait_status(url: str, predicate: Callable[[dict], bool], within: float, what: str
                 ) -> dict:
    deadline = time.monotonic() + within
    while True:
        try:
            doc = _status(url)
            if predicate(doc):
                return doc
        except OSError:
            pass  # not serving yet
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(0.5)


def _site(doc: dict, site_id: str) -> dict:
    return next(s for s in doc["sites"] if s["id"] == site_id)


def _pages(doc: dict, status: str) -> list[dict]:
    return [n for n in doc.get("notifications", []) if n["status"] == status]


def test_the_fibre_cut_story_runs_as_the_readme_tells_it(tmp_path: Path) -> None:
    """The README's walk-through, command by command, on the shipped credentials and alerts
    with no variable set (issue 14): check and poll work, the cut isolates the post behind
    L27, one page names L27, the silence is taken, the repair brings the resolve, and the
    report of the hour lists the outage; Ctrl-C leaves no process behind. After the lab
    stops, poll says to start it."""
    port = free_port(list(SLICE.values()))
    with socket.socket() as probe:  # a free TCP port for the collector's listener
        probe.bind(("127.0.0.1", 0))
        listen = probe.getsockname()[1]
    url = f"http://127.0.0.1:{listen}"
    _slice_inventory(tmp_path / "inventory.yaml", port)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    lab = subprocess.Popen([str(REPO / ".venv" / "bin" / "borderwatch"), "lab", "--inventory",
                            "inventory.yaml", "--with-collector", "--listen",
                            f"127.0.0.1:{listen}"], cwd=tmp_path, env=_clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    lines: list[str] = []
    watchdog = threading.Timer(600, lab.kill)  # a lab that hangs silently fails the test
    watchdog.start()
    runs: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        assert lab.stdout is not None
        for line in lab.stdout:  # with --with-collector the collector says when it serves
            lines.append(line)
            if line.startswith("serving http") or "FAILED" in line:
                break
        assert any(line.startswith(f"serving {url}/metrics") for line in lines), \
            "".join(lines)
        drain = threading.Thread(target=lambda: lines.extend(lab.stdout or ()), daemon=True)
        drain.start()  # keep reading: a full pipe would block the lab and its collector
        secret = tmp_path / "var" / "lab" / "secrets" / LAB_VAR
        assert f"lab community generated in {secret} (mode 0600" in "".join(lines)
        commands = _second_terminal_block()
        assert commands[0] == ". .venv/bin/activate"
        check, poll, cut, silence, restore, report = commands[1:]
        every_up = lambda d: all(s["status"] == "up" for s in d["sites"])  # noqa: E731
        _wait_status(url, every_up, 90, "every site up")

        def run(command: str) -> subprocess.CompletedProcess[str]:
            runs[command] = _shell(f"{commands[0]} && {command}", cwd=tmp_path,
                                   extra_env={"BORDERWATCH_URL": url})
            assert runs[command].returncode == 0, (command, runs[command])
            return runs[command]

        assert run(check).stdout == "inventory.yaml: 3 sites, 4 devices, 2 links, OK\n"
        assert "\nresult   ok\n" in run(poll).stdout
        assert run(cut).stdout.startswith("link L27 cut: ")
        # 1. the post isolated behind L27; 2. one page naming L27, in both languages
        doc = _wait_status(url, lambda d: bool(_pages(d, "firing"))
                           and _site(d, POST)["status"] == "isolated", 60 + 3 * INTERVAL,
                           "the post isolated and the page")
        assert _site(doc, POST)["isolated_by"] == ["link L27"]
        assert [lk["id"] for lk in doc["links"] if lk["root_cause"]] == ["L27"]
        (page,) = _pages(doc, "firing")  # one page, naming the post and its root cause
        assert "Thanh Lòa" in page["summary_vi"] and "L27" in page["summary_vi"], page
        assert "L27" in page["summary_en"]
        # 3. the silence is taken and shown on the incident
        run(silence)
        _wait_status(url, lambda d: any(a["suppressed"] for a in d.get("alerts", [])), 30,
                     "the incident marked silenced")
        # 4. the repair, then the resolve (after clear_for)
        assert run(restore).stdout.startswith("link L27 restored: ")
        doc = _wait_status(url, lambda d: bool(_pages(d, "resolved")), 120 + 3 * INTERVAL,
                           "the resolve")
        assert len(_pages(doc, "firing")) == 1 and len(_pages(doc, "resolved")) == 1
        assert any("alert firing" in line and "L27" in line for line in lines)  # the log
        # 5. the hour for planners
        run(report)
        html = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert "L27" in html and "Đồn Biên phòng Thanh Lòa" in html
    finally:
        watchdog.cancel()
        lab.send_signal(signal.SIGINT)
        lab.wait(timeout=120)
    assert lab.returncode == 0, "".join(lines[-30:])
    # Ctrl-C leaves nothing behind: no process of this lab still runs
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
    community = secret.read_text(encoding="utf-8").strip()
    assert not any(community in r.stdout + r.stderr for r in runs.values())
    stopped = _shell(f"{commands[0]} && {poll}", cwd=tmp_path)
    assert stopped.returncode == 1
    assert stopped.stderr.splitlines()[-1] == ("borderwatch poll: bptl-sw1 is simulated by the "
                                               "lab; if the lab is not running, start it: "
                                               "borderwatch lab --inventory inventory.yaml")


def test_readme_icmp_example_is_valid(tmp_path: Path) -> None:
    """The ICMP example's settings and devices, added to the inventory example, load and
    mean what the README says: polled and pinged, ICMP-only, not pinged."""
    blocks = _yaml_blocks()
    (icmp,) = [yaml.safe_load(b) for b in blocks if "icmp:" in b and "snmp: false" in b]
    base = yaml.safe_load(blocks[0].replace("/run/secrets/v3-priv", str(tmp_path / "k")))
    (tmp_path / "k").write_text("privpass123\n", encoding="utf-8")
    (tmp_path / "k").chmod(0o600)
    base["defaults"]["icmp"] = icmp["defaults"]["icmp"]
    post = next(s for s in base["sites"] if s["id"] == icmp["sites"][0]["id"])
    post["devices"] = icmp["sites"][0]["devices"]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    env = {"BORDERWATCH_COMMUNITY": "public", "BORDERWATCH_V3_AUTH": "authpass123"}
    inventory = load_inventory(path, env=env)
    assert {d.id: (inventory.effective(d).snmp, inventory.effective(d).icmp)
            for d in inventory.devices} == {"dd-agg2": (True, True), "bptl-sw1": (True, True),
                                            "bptl-cam1": (False, True),
                                            "bptl-ups1": (True, False)}
