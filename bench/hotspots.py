"""Where a running borderwatch spends its CPU: py-spy samples (or cProfile) → top entries.

Two views of the same samples:
  * functions by own time (the innermost frame of each sample);
  * components (codec, transport, mapping, state, exposition, ...): each sample goes to
    the innermost frame that is not the standard library, so time asyncio spends on
    behalf of the transport counts as transport, and what is left is the event loop.
"""

from __future__ import annotations

import pstats
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (path fragment, component), first match wins; paths are py-spy's full file names.
COMPONENTS = [
    ("collector/snmp/ber.py", "codec (collector/snmp/ber.py)"),
    ("collector/snmp/transport.py", "transport (collector/snmp/transport.py)"),
    ("collector/snmp/v2c.py", "session + walk (v2c.py, walk.py)"),
    ("collector/snmp/walk.py", "session + walk (v2c.py, walk.py)"),
    ("collector/snmp/v3", "SNMPv3 (v3*.py, usm.py, crypto)"),
    ("collector/snmp/usm.py", "SNMPv3 (v3*.py, usm.py, crypto)"),
    ("/pysnmp/", "SNMPv3 (v3*.py, usm.py, crypto)"),
    ("/pyasn1/", "SNMPv3 (v3*.py, usm.py, crypto)"),
    ("/cryptography/", "SNMPv3 (v3*.py, usm.py, crypto)"),
    ("collector/mapper.py", "mapping (collector/mapper.py)"),
    ("collector/poller.py", "poller (collector/poller.py)"),
    ("collector/state.py", "state (collector/state.py, counters.py)"),
    ("collector/counters.py", "state (collector/state.py, counters.py)"),
    ("collector/scheduler.py", "scheduler (collector/scheduler.py)"),
    ("borderwatch/service.py", "service glue (borderwatch/service.py)"),
    ("exporters/", "exposition (exporters/, prometheus_client)"),
    ("/prometheus_client/", "exposition (exporters/, prometheus_client)"),
    ("/aiohttp/", "HTTP server (aiohttp)"),
    ("/multidict/", "HTTP server (aiohttp)"),
    ("/yarl/", "HTTP server (aiohttp)"),
]
# site-packages is checked first; "<string>" is code generated at run time (dataclass
# __init__), which belongs to its caller.
STDLIB_FRAGMENTS = ("/lib/python3", "<frozen", "<string>")
LOOP = "event loop + stdlib (asyncio, selectors, gzip)"
LOOP_DISPATCH = "BaseEventLoop._run_once ("


def _is_stdlib(path: str) -> bool:
    return "site-packages" not in path and any(f in path for f in STDLIB_FRAGMENTS)


def component_of(path: str) -> str:
    """The component a file belongs to ('other' if none)."""
    for fragment, name in COMPONENTS:
        if fragment in path:
            return name
    return LOOP if _is_stdlib(path) else "other"


def _split_frame(frame: str) -> tuple[str, str]:
    """'func (path:line)' → (func, path)."""
    func, _, rest = frame.partition(" (")
    path = rest.rsplit(":", 1)[0] if rest else ""
    return func, path


class Profile:
    """Aggregated samples: own time per function, and time per component."""

    def __init__(self) -> None:
        self.functions: Counter[str] = Counter()
        self.components: Counter[str] = Counter()
        self.total = 0
        self.tool = ""

    def add_stack(self, frames: list[str], count: int) -> None:
        """One folded stack (outermost first) seen `count` times."""
        if not frames:
            return
        func, path = _split_frame(frames[-1])
        short = path.split("site-packages/")[-1].split("/main/")[-1]
        self.functions[f"{func} ({short})"] += count
        # The owner: the innermost non-stdlib frame below the event loop's dispatch
        # (above it are only asyncio.run's callers, which own nothing).
        start = 0
        for i, frame in enumerate(frames):
            if frame.startswith(LOOP_DISPATCH):
                start = i + 1
        owner = None
        for frame in reversed(frames[start:]):
            _, fpath = _split_frame(frame)
            if not _is_stdlib(fpath):
                owner = component_of(fpath)
                break
        self.components[owner or LOOP] += count
        self.total += count

    def table(self, top: int = 15) -> str:
        """The two views as text."""
        if not self.total:
            return "  (no samples)"
        lines = [f"  by component ({self.tool}, {self.total} samples, % of busy time):"]
        for name, n in self.components.most_common():
            lines.append(f"    {100 * n / self.total:5.1f} %  {name}")
        lines.append(f"  top {top} functions by own time:")
        for name, n in self.functions.most_common(top):
            lines.append(f"    {100 * n / self.total:5.1f} %  {name}")
        return "\n".join(lines)

    def as_dict(self, top: int = 15) -> dict:
        """For the JSON results."""
        t = max(1, self.total)
        return {"tool": self.tool, "samples": self.total,
                "components": {k: round(v / t, 4) for k, v in self.components.most_common()},
                "top_functions": {k: round(v / t, 4) for k, v in
                                  self.functions.most_common(top)}}


def py_spy() -> str | None:
    """Path of py-spy next to this interpreter or on PATH, None if not installed."""
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def ensure_py_spy() -> str | None:
    """py-spy, installed into this interpreter's environment with pip if it can be."""
    found = py_spy()
    if found:
        return found
    print("installing py-spy into the venv (for the profile) ...", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print("  pip could not install py-spy; the profile will use cProfile", flush=True)
    return py_spy()


def start_recording(pid: int, seconds: float, out: Path,
                    rate: int = 250) -> subprocess.Popen[str]:
    """Start sampling a running process with py-spy for `seconds`; `load_folded(out)` after
    it exits. Non-blocking: the process is never paused, only read."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration",
                             str(int(seconds)), "--rate", str(rate), "--nonblocking",
                             "--full-filenames", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def load_folded(path: Path) -> Profile:
    """A py-spy --format raw file (folded stacks)."""
    prof = Profile()
    prof.tool = "py-spy"
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            prof.add_stack(stack.split(";"), int(count))
    return prof


def load_cprofile(path: Path) -> Profile:
    """A cProfile output file: own time per function (components from each file)."""
    prof = Profile()
    prof.tool = "cProfile"
    stats = pstats.Stats(str(path))
    for (file, _line, func), (_cc, _nc, tottime, _ct, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        micros = int(tottime * 1e6)
        if micros:
            short = file.split("site-packages/")[-1].split("/main/")[-1]
            prof.functions[f"{func} ({short})"] += micros
            prof.components[component_of(file)] += micros
            prof.total += micros
    return prof
