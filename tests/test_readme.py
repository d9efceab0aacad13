"""The README's examples stay valid (people copy them first) and its commands work where it
says they do: in a new shell after `make demo`, and while the lab runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
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
# Two sites of the shipped inventory joined by L27, on addresses of their own (away from the
# repository lab's 127.0.0.10-.120 and the other lab tests'), with the shipped credentials.
SLICE = {"bptl-sw1": "127.0.0.181", "dd-agg2": "127.0.0.182"}


def _clean_env() -> dict[str, str]:
    """A new user's shell: no virtualenv on the PATH, no lab community variable."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8"}


def _shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=_clean_env(), capture_output=True,
                          text=True, timeout=120)


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
    """inventory.yaml's credentials (verbatim), the two sites of L27 with one device each."""
    shipped = yaml.safe_load((REPO / "inventory.yaml").read_text(encoding="utf-8"))
    sites = []
    for site in shipped["sites"]:
        devices = [{**d, "address": SLICE[d["id"]]} for d in site["devices"] if d["id"] in SLICE]
        if devices:
            sites.append({**site, "devices": devices})
    doc = {"schema_version": 1, "credentials": shipped["credentials"],
           "defaults": {**shipped["defaults"], "port": port}, "sites": sites,
           "links": [link for link in shipped["links"] if link["id"] == "L27"]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_second_terminal_commands_work_while_the_lab_runs(tmp_path: Path) -> None:
    """The README's check, poll and fault commands on the shipped credential, no variable set
    (issue 14: "environment variable BORDERWATCH_LAB_COMMUNITY is not set"); after the lab
    stops, poll says to start it."""
    port = free_port(list(SLICE.values()))
    _slice_inventory(tmp_path / "inventory.yaml", port)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    lab = subprocess.Popen([str(REPO / ".venv" / "bin" / "borderwatch"), "lab", "--inventory",
                            "inventory.yaml"], cwd=tmp_path, env=_clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    watchdog = threading.Timer(300, lab.kill)  # a lab that hangs silently fails the test
    watchdog.start()
    try:
        assert lab.stdout is not None
        for line in lab.stdout:
            lines.append(line)
            if "lab running" in line or "FAILED" in line:
                break
        assert any("lab running" in line for line in lines), "".join(lines)
        secret = tmp_path / "var" / "lab" / "secrets" / LAB_VAR
        assert f"lab community generated in {secret} (mode 0600" in "".join(lines)
        commands = _second_terminal_block()
        assert commands[0] == ". .venv/bin/activate"
        runs = {c: _shell(f"{commands[0]} && {c}", cwd=tmp_path) for c in commands[1:]}
    finally:
        watchdog.cancel()
        lab.send_signal(signal.SIGINT)
        lab.communicate(timeout=60)
    for command, run in runs.items():
        assert run.returncode == 0, (command, run.stdout, run.stderr)
    check, poll, cut, restore = runs.values()
    assert check.stdout == "inventory.yaml: 2 sites, 2 devices, 1 link, OK\n"
    assert "\nresult   ok\n" in poll.stdout
    assert cut.stdout.startswith("link L27 cut: ")
    assert sorted(line.split()[0] for line in cut.stdout.splitlines()[1:]) == sorted(SLICE)
    assert restore.stdout.startswith("link L27 restored: ")
    community = secret.read_text(encoding="utf-8").strip()
    assert not any(community in r.stdout + r.stderr for r in runs.values())
    stopped = _shell(f"{commands[0]} && {commands[2]}", cwd=tmp_path)
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
