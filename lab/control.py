"""How a running lab takes fault commands: a request directory, scenarios, `lab fault`.

`borderwatch lab fault cut-link L27 --state-dir var/lab` writes a JSON request into
<state-dir>/control/ and waits for the lab's JSON answer beside it. The running lab checks
the directory a few times a second (the directory is the lab's: mode 0700, like the rest of
the state dir). Scenarios are YAML lists of timed steps run by the lab from its start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from borderwatch.lab.faults import FaultInjector

CONTROL = "control"
LAB_PID = "lab.pid"
ANSWER_TIMEOUT = 60.0
POLL_INTERVAL = 0.2

# CLI verb → (action, what the target is, options it takes)
VERBS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "kill": ("kill", "device", ()),
    "revive": ("revive", "device", ()),
    "reboot": ("reboot", "device", ("down",)),
    "cut-link": ("cut_link", "link", ()),
    "restore-link": ("restore_link", "link", ()),
    "flap-link": ("flap_link", "link", ("period", "cycles")),
    "fade-link": ("fade_link", "link", ("db",)),
    "unfade-link": ("unfade_link", "link", ()),
    "fail-mains": ("fail_mains", "site", ("drain",)),
    "restore-mains": ("restore_mains", "site", ()),
    "clear": ("clear", "", ()),
    "status": ("status", "", ()),
}
OPTION_HELP = {
    "down": "reboot: seconds the agent stays silent (default 10)",
    "period": "flap-link: seconds down, then seconds up, per cycle (default 10)",
    "cycles": "flap-link: how many cut/restore cycles (default 3)",
    "db": "fade-link: dB the RSL and SNR drop at both ends (default 20)",
    "drain": "fail-mains: battery runs down this many times faster than real time (default 1)",
}


def control_dir(state_dir: Path) -> Path:
    return Path(state_dir) / CONTROL


# ---------------------------------------------------------------------- lab side

class ControlLoop:
    """The lab's fault thread: answers requests and runs due steps until stopped.

    Agents restarted by a fault are spawned from this thread, which therefore lives as
    long as the lab (an agent gets SIGTERM when the thread that spawned it exits).
    """

    def __init__(self, injector: FaultInjector, state_dir: Path) -> None:
        self.injector = injector
        self.dir = control_dir(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for old in self.dir.glob("*.json"):  # requests to an earlier lab are not ours
            old.unlink()
        (self.dir / LAB_PID).write_text(str(os.getpid()))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-faults", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / LAB_PID).unlink()

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            self.injector.run_due()
            for req in sorted(self.dir.glob("req-*.json")):
                self._answer(req)

    def _redact(self, text: str) -> str:
        # An agent's log tail may show its data file path, whose name is the community.
        for agent in self.injector.lab.agents:
            text = text.replace(agent.spec.community.reveal(), "<secret>")
        return text

    def _answer(self, req: Path) -> None:
        try:
            request = json.loads(req.read_text())
            req.unlink()
        except (OSError, ValueError):
            return  # half-written (the sender renames into place) or already taken
        answer: dict[str, Any]
        try:
            if request.get("action") == "status":
                answer = {"ok": True, "status": self.injector.status()}
            else:
                options = {k: float(v) for k, v in (request.get("options") or {}).items()}
                result = self.injector.apply(str(request.get("action")),
                                             str(request.get("target", "")), **options)
                answer = {"ok": True, "message": str(result), **result.as_json()}
        except Exception as exc:  # every failure goes back to the sender
            answer = {"ok": False, "message": self._redact(str(exc))}
        tmp = req.with_name(req.name.replace("req-", ".ans-"))
        tmp.write_text(json.dumps(answer))
        os.replace(tmp, req.with_name(req.name.replace("req-", "ans-")))


# ---------------------------------------------------------------------- scenarios

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
SCENARIO_OPTIONS = {"db", "down", "period", "cycles", "drain"}


def parse_duration(value: object) -> float:
    """10, '10s', '2m', '1.5h' → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use 10s, 2m, 1h)")
    return float(m.group(1)) * _UNIT[m.group(2)]


def load_scenario(path: Path) -> list[tuple[float, str, str, dict[str, float]]]:
    """Steps of a scenario file: (at seconds, action, target, options); ValueError names the step.

    The file is a list of steps, or a mapping with `steps:`. Each step has `at` and exactly
    one action key whose value is the target, e.g. `{at: 10s, cut_link: L27}`.
    """
    from borderwatch.lab.faults import ACTIONS

    doc = yaml.safe_load(Path(path).read_text())
    steps = doc.get("steps") if isinstance(doc, dict) else doc
    if not isinstance(steps, list):
        raise ValueError(f"{path}: expected a list of steps (or `steps:` with one)")
    out = []
    for n, step in enumerate(steps, 1):
        where = f"{path}: step {n}"
        if not isinstance(step, dict) or "at" not in step:
            raise ValueError(f"{where}: each step is a mapping with `at:`")
        actions = [k for k in step if k in ACTIONS and not k.startswith("_")]
        unknown = set(step) - {"at", *actions, *SCENARIO_OPTIONS}
        if len(actions) != 1 or unknown:
            raise ValueError(f"{where}: needs exactly one of {', '.join(ACTIONS)}"
                             + (f"; unknown keys: {', '.join(sorted(map(str, unknown)))}"
                                if unknown else ""))
        try:
            at = parse_duration(step["at"])
            options = {k: (parse_duration(v) if k in ("down", "period") else float(v))
                       for k, v in step.items() if k in SCENARIO_OPTIONS}
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        target = step[actions[0]]
        out.append((at, actions[0], "" if target in (None, True) else str(target), options))
    return sorted(out, key=lambda s: s[0])


def schedule_scenario(injector: FaultInjector,
                      steps: list[tuple[float, str, str, dict[str, float]]]) -> None:
    """Queue a scenario's steps, timed from now."""
    for at, action, target, options in steps:
        injector.schedule(at, action, target, **options)


# ---------------------------------------------------------------------- CLI side

def add_fault_subcommand(lab_parser: argparse.ArgumentParser) -> None:
    """`borderwatch lab fault VERB [TARGET] [options]` (talks to a running lab).

    `fault` is optional (`borderwatch lab` alone starts a lab), so it stays out of the lab's
    generated usage and option list, where argparse would show it as required; the lab's
    own usage and epilog name it instead.
    """
    lab_parser.usage = "%(prog)s [options]\n       %(prog)s fault VERB [TARGET] [options]"
    lab_parser.epilog = ("`borderwatch lab fault VERB [TARGET]` injects a fault into the lab "
                         "running with the same --state-dir: `borderwatch lab fault --help`, "
                         "lab/README-faults.md.")
    sub = lab_parser.add_subparsers(dest="lab_action", metavar="fault", help=argparse.SUPPRESS,
                                    prog=lab_parser.prog)
    p = sub.add_parser(
        "fault", help="inject a fault into a running lab (lab/README-faults.md)",
        description="Send a fault to the lab running with the same --state-dir and print what "
        "it did: a summary line, then one line per simulated agent it touched.",
        epilog="verbs and their target: " + "; ".join(
            f"{verb} {kind.upper() or ''}".rstrip() for verb, (_, kind, _) in VERBS.items())
        + ". Details: lab/README-faults.md")
    p.add_argument("verb", choices=list(VERBS), metavar="VERB", help="what to do (below)")
    p.add_argument("target", nargs="?", default="", metavar="TARGET",
                   help="the device, link or site id the verb takes (none for clear, status)")
    for option, text in OPTION_HELP.items():
        p.add_argument(f"--{option}", type=float, help=text)
    p.add_argument("--json", action="store_true",
                   help="print the lab's answer as JSON (summary, effects: device, effect, "
                   "seconds, text) for scripts")
    # SUPPRESS: an absent option keeps the `lab` parser's default (var/lab).
    p.add_argument("--state-dir", default=argparse.SUPPRESS,
                   help="state dir of the running lab (default: var/lab)")


def send(state_dir: Path, request: dict[str, Any], timeout: float = ANSWER_TIMEOUT
         ) -> dict[str, Any]:
    """Hand a request to the running lab and wait for its answer."""
    cdir = control_dir(state_dir)
    try:
        pid = int((cdir / LAB_PID).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return {"ok": False, "message": f"no lab is running with state dir {state_dir}: start "
                f"one (`borderwatch lab --inventory FILE --state-dir {state_dir}`), or give "
                "the --state-dir of the lab that runs"}
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
    tmp = cdir / f".req-{name}"
    tmp.write_text(json.dumps(request))
    os.replace(tmp, cdir / f"req-{name}")
    answer = cdir / f"ans-{name}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer.exists():
            result = json.loads(answer.read_text())
            answer.unlink()
            return dict(result)
        time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        (cdir / f"req-{name}").unlink()
    return {"ok": False, "message": f"the lab did not answer within {timeout:.0f} s"}


def fault_command(args: argparse.Namespace) -> int:
    """`borderwatch lab fault ...`: exit 0 when the lab applied it."""
    action, kind, allowed = VERBS[args.verb]
    if kind and not args.target:
        print(f"borderwatch lab fault {args.verb}: give the {kind} id", file=sys.stderr)
        return 2
    options = {o: getattr(args, o) for o in allowed if getattr(args, o, None) is not None}
    extra = [o for o in OPTION_HELP if o not in allowed and getattr(args, o, None) is not None]
    if extra:
        print(f"borderwatch lab fault {args.verb}: --{extra[0]} does not apply", file=sys.stderr)
        return 2
    result = send(Path(args.state_dir), {"action": action, "target": args.target,
                                         "options": options})
    if args.json:
        shown = {k: v for k, v in result.items() if k != "message" or not result.get("ok")}
        print(json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False))
        return 0 if result.get("ok") else 1
    if not result.get("ok"):
        print(f"borderwatch lab fault: {result.get('message')}", file=sys.stderr)
        return 1
    if "status" in result:
        print(json.dumps(result["status"], indent=2, sort_keys=True))
    else:
        print(result.get("message", ""))
    return 0
