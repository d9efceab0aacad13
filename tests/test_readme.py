"""The README's examples stay valid (people copy them first) and its commands work where it
says they do: in a new shell after `make demo`, and while the lab runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from borderwatch.collector.inventory import load_inventory

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
POST, HUB = "bp-thanhloa", "hub-dongdang"
DEMO_URL = "http://127.0.0.1:9730"  # `make demo`'s listener: the README and silence's default
LAB_PORT = 16161  # the shipped inventory's lab port (tests/worker_groups.py: lab-port-16161)
# How long `make demo` may print nothing before the test calls it hung: setup (pip, quiet)
# prints nothing until the lab starts; then the lab prints its progress every 5 s.
SILENT_SETUP, SILENT_LAB = 600.0, 120.0


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


def _second_terminal_block(readme: Path = README) -> list[str]:
    """The README's commands for a second terminal while `make demo` runs."""
    text = readme.read_text(encoding="utf-8")
    block = re.search(r"in a second terminal:\n\n```sh\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines()]


def _fresh_clone(into: Path) -> str:
    """`git clone` of this checkout's HEAD, plus its uncommitted changes if any.

    In CI the checkout is a clean clone, so this is exactly what a new user gets. A
    developer's run tests the tree they have: tracked changes (staged or not) are applied
    as a diff and untracked, not ignored files copied, and the return value says so
    (ignored files, .venv and var/ above all, never come along: that is the point).
    """
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(into)],
                   check=True, timeout=120)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=REPO, check=True,
                          capture_output=True, timeout=60).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=into, input=diff,
                       check=True, timeout=60)
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"],
                               cwd=REPO, check=True, capture_output=True, text=True,
                               timeout=60).stdout.split("\0")
    for name in filter(None, untracked):
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, into / name)
    overlaid = len(diff.decode("utf-8", "replace").split("\ndiff --git ")) if diff else 0
    return (f"HEAD plus {overlaid} changed and {len(list(filter(None, untracked)))} untracked "
            "files of the working tree" if diff or any(untracked) else "HEAD")


def _lab_addresses(inventory: Path) -> list[str]:
    doc = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    return sorted({d["address"] for s in doc["sites"] for d in s["devices"]
                   if d.get("sim_profile")})


def _ports_taken(addresses: list[str]) -> list[str]:
    """The demo's fixed ports that something else holds (another demo, another lab test)."""
    taken = []
    with socket.socket() as tcp:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", 9730))
        except OSError:
            taken.append("tcp 127.0.0.1:9730")
    for address in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((address, LAB_PORT))
            except OSError:
                taken.append(f"udp {address}:{LAB_PORT}")
    return taken


def _descendants(root: int) -> dict[int, str]:
    """PID -> start time (/proc/PID/stat field 22) of every process below `root`."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        started[pid] = fields[19]
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def _still_running(processes: dict[int, str]) -> list[int]:
    alive = []
    for pid, start in processes.items():
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[19] == start and " Z " not in stat[:64]:
                alive.append(pid)
    return alive


def _running_from(path: Path) -> list[str]:
    """Command lines of the processes that name `path` (their program, data or cwd)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if str(path) in text:
                found.append(f"{cmdline.parent.name}: {text}")
    return found


class _Output:
    """`make demo`'s output, line by line as it comes, with when each line came."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # keep reading: a full pipe would block the demo
            with self._new:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._new.notify_all()
        with self._new:
            self.lines.append((time.monotonic(), ""))  # EOF
            self._closed = True
            self._new.notify_all()

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, prefix: str, silent_for: float) -> float:
        """When the first line starting with `prefix` came; fails if the demo ends first or
        prints nothing for `silent_for` seconds (a stall, whatever the machine's load)."""
        seen = 0
        with self._new:
            while True:
                for at, line in self.lines[seen:]:
                    if line.startswith(prefix):
                        return at
                seen = len(self.lines)
                if getattr(self, "_closed", False):
                    raise AssertionError(f"make demo ended before {prefix!r}:\n{self.text()}")
                last = self.lines[-1][0] if self.lines else time.monotonic()
                if time.monotonic() - last > silent_for:
                    raise AssertionError(f"make demo printed nothing for {silent_for:.0f} s "
                                         f"while waiting for {prefix!r}:\n{self.text()}")
                self._new.wait(timeout=5)


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


@pytest.mark.slow
def test_a_new_user_s_first_hour_from_a_fresh_clone(tmp_path: Path) -> None:
    """Issue 14, done when: a fresh clone, `make demo` in the background, the README
    walk-through's commands in order exactly as written (parsed from the clone's README),
    the page appearing, the resolve, and Ctrl-C leaving nothing behind.

    The whole shipped inventory (81 agents on 127.0.0.10-99:16161, the collector on
    127.0.0.1:9730) as `make demo` runs it: the clone's own .venv (pip's cache makes it
    quick), a cold snmpsim index, the shipped 30 s interval. The cut isolates the post
    behind L27 on the status API the map is drawn from, exactly one page names L27, the
    silence is taken, the repair brings the resolve, the report of the hour lists the
    outage; Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) ends every
    process of the clone and frees the ports. After that, poll says to start the lab.
    """
    clone = tmp_path / "borderwatch"
    origin = _fresh_clone(clone)
    addresses = _lab_addresses(clone / "inventory.yaml")
    taken = _ports_taken(addresses)
    assert not taken, f"the demo's fixed ports are in use (another demo or lab?): {taken}"
    shipped = yaml.safe_load((clone / "inventory.yaml").read_text(encoding="utf-8"))
    interval = shipped["defaults"]["interval"]
    started = time.monotonic()
    demo = subprocess.Popen(["make", "demo"], cwd=clone, env=_clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group, as in a shell
    out = _Output(demo)
    runs: dict[str, subprocess.CompletedProcess[str]] = {}
    tree: dict[int, str] = {}
    try:
        said = out.wait_for("borderwatch is in .venv/bin;", SILENT_SETUP)
        assert (f"borderwatch is in .venv/bin; in a second terminal: cd {clone} && "
                ". .venv/bin/activate") in out.text().splitlines()
        lab_start = out.wait_for("starting ", SILENT_LAB)
        ready = out.wait_for("lab: ", SILENT_LAB)
        serving = out.wait_for("serving http", SILENT_LAB)
        assert f"serving {DEMO_URL}/metrics" in out.text()
        print(f"fresh clone ({origin}): setup {said - started:.0f} s, lab start "
              f"{ready - lab_start:.0f} s, serving after {serving - started:.0f} s")
        secret = clone / "var" / "lab" / "secrets" / LAB_VAR
        assert f"lab community generated in {secret} (mode 0600" in out.text()
        tree = _descendants(demo.pid)
        commands = _second_terminal_block(clone / "README.md")
        assert commands[0] == ". .venv/bin/activate"
        check, poll, cut, silence, restore, report = commands[1:]
        _wait_status(DEMO_URL, lambda d: all(_site(d, s)["status"] == "up" for s in (POST, HUB)),
                     4 * interval, "the post and its hub up")

        def run(command: str) -> subprocess.CompletedProcess[str]:
            runs[command] = _shell(f"{commands[0]} && {command}", cwd=clone)
            assert runs[command].returncode == 0, (command, runs[command])
            return runs[command]

        assert run(check).stdout == (f"inventory.yaml: {len(shipped['sites'])} sites, "
                                     f"{len(addresses)} devices, {len(shipped['links'])} "
                                     "links, OK\n")
        assert "\nresult   ok\n" in run(poll).stdout
        assert run(cut).stdout.startswith("link L27 cut: ")
        # 1. the post isolated behind L27 (the map's data); 2. one page naming L27
        doc = _wait_status(DEMO_URL, lambda d: bool(_pages(d, "firing"))
                           and _site(d, POST)["status"] == "isolated", 60 + 4 * interval,
                           "the post isolated and the page")
        post = _site(doc, POST)
        assert post["isolated_by"] == ["link L27"] and post["lat"] and post["lon"]
        assert [lk["id"] for lk in doc["links"] if lk["root_cause"]] == ["L27"]
        (page,) = _pages(doc, "firing")  # one page, naming the post and its root cause
        assert "Thanh Lòa" in page["summary_vi"] and "L27" in page["summary_vi"], page
        assert "L27" in page["summary_en"]
        # 3. the silence is taken and shown on the incident
        run(silence)
        _wait_status(DEMO_URL, lambda d: any(a["suppressed"] for a in d.get("alerts", [])),
                     30, "the incident marked silenced")
        # 4. the repair, then the resolve (after clear_for)
        assert run(restore).stdout.startswith("link L27 restored: ")
        doc = _wait_status(DEMO_URL, lambda d: bool(_pages(d, "resolved")), 120 + 4 * interval,
                           "the resolve")
        assert len(_pages(doc, "firing")) == 1 and len(_pages(doc, "resolved")) == 1
        assert any("alert firing" in line and "L27" in line
                   for line in out.text().splitlines())  # the log
        # 5. the hour for planners
        run(report)
        html = (clone / "report.html").read_text(encoding="utf-8")
        assert "L27" in html and "Đồn Biên phòng Thanh Lòa" in html
        tree |= _descendants(demo.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        try:
            demo.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):  # never leave a hung demo
                os.killpg(demo.pid, signal.SIGKILL)
    print(f"whole path {time.monotonic() - started:.0f} s")
    # Ctrl-C leaves nothing behind: no process of the demo's tree or of the clone, no port
    assert "lab stopped" in out.text(), out.text()[-3000:]
    assert len(tree) >= 3, tree  # make, the lab with its collector, its snmpsim processes
    assert _still_running(tree) == [], _still_running(tree)
    assert _running_from(clone) == []
    assert _ports_taken(addresses) == []
    community = secret.read_text(encoding="utf-8").strip()
    assert not any(community in r.stdout + r.stderr for r in runs.values())
    stopped = _shell(f"{commands[0]} && {poll}", cwd=clone)
    assert stopped.returncode == 1
    assert stopped.stderr.splitlines()[-1] == ("borderwatch poll: bptl-sw1 is simulated by the "
                                               "lab; if the lab is not running, start it: "
                                               "borderwatch lab --inventory inventory.yaml")
    shutil.rmtree(clone)  # 240 MB of .venv; a failed run keeps it for a look


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
