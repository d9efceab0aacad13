"""`borderwatch lab`: start the simulated border network, optionally with the collector."""

from __future__ import annotations

import argparse
import io
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import yaml

from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.lab.agents import Lab, LabReport
from borderwatch.lab.control import ControlLoop, fault_command, load_scenario, schedule_scenario
from borderwatch.lab.devices import LabError, agent_specs, lab_community_files, lab_env_communities
from borderwatch.lab.faults import FaultInjector, Topology
from borderwatch.lab.traps import LabTraps

log = logging.getLogger(__name__)


# `borderwatch lab --with-collector`: (args, stop) -> exit code, given by the application
# (borderwatch.service.run_beside_lab), which stands above the lab and wires it.
RunCollector = Callable[[argparse.Namespace, threading.Event], int]


def lab_command(args: argparse.Namespace, run_collector: RunCollector | None = None) -> int:
    """Run the lab until SIGINT/SIGTERM; returns the process exit code.

    `run_collector`: runs the service beside the lab (--with-collector) until `stop` is set.
    """
    if getattr(args, "lab_action", None) == "fault":
        return fault_command(args)
    # Progress and "lab running" are read as they come, also through a pipe (make demo | tee,
    # a test waiting for a line): a block-buffered stdout would hold them back.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    state_dir = Path(args.state_dir)
    per_device = bool(getattr(args, "agent_per_device", False))
    scenario = []
    if getattr(args, "scenario", None):
        try:
            scenario = load_scenario(Path(args.scenario))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"borderwatch lab: {exc}", file=sys.stderr)
            return 2
    try:
        for var in lab_env_communities(args.inventory, state_dir):
            print(f"lab community set in ${var} for this process "
                  f"(remembered in {state_dir / 'secrets' / var})")
        for file in lab_community_files(args.inventory):
            print(f"lab community generated in {file} (mode 0600; the inventory reads it)")
        inventory = load_inventory(args.inventory)
        specs, skipped = agent_specs(inventory)
    except (InventoryError, LabError) as exc:
        print(f"borderwatch lab: {args.inventory}:\n{exc}", file=sys.stderr)
        return 1
    if not specs:
        print(f"borderwatch lab: no device in {args.inventory} has a sim_profile",
              file=sys.stderr)
        return 1
    if skipped:
        log.info("not simulated (no sim_profile): %s", ", ".join(skipped))

    lab = Lab(specs, state_dir, per_device=per_device)
    control: ControlLoop | None = None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            lab.prepare()
        except LabError as exc:
            print(f"borderwatch lab: {args.inventory}:\n{exc}", file=sys.stderr)
            return 1
        print(f"starting {len(specs)} simulated agents (data and index cache in {state_dir})")
        report = lab.start(cancel=stop, progress=lambda p: print(p.line()))
        if stop.is_set():
            return 0  # Ctrl-C while starting; `finally` stops what did start
        _print_report(report)
        if not report.ready:
            return 1
        # Faults at runtime: `borderwatch lab fault ...` and the scenario's steps.
        injector = FaultInjector(lab, Topology.from_inventory(inventory))
        injector.on_applied = LabTraps.of(inventory)  # traps: as real devices send them
        control = ControlLoop(injector, state_dir)
        schedule_scenario(injector, scenario)
        control.start()
        if scenario:
            print(f"scenario {args.scenario}: {len(scenario)} steps")
        if args.with_collector:
            return _run_collector(run_collector, args, stop)
        print("lab running; Ctrl-C stops it")
        _watch(lab, stop)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if control is not None:
            control.stop()
        lab.stop()
        print("lab stopped")


def _print_report(report: LabReport) -> None:
    print(f"lab: {report.summary()}")
    for agent in report.ready:
        log.debug("%s on %s: %s, %d records, ready after %.1f s", agent.spec.device_id,
                  agent.spec.endpoint, agent.spec.sim_profile, agent.records,
                  agent.ready_after or 0.0)
    for agent in report.failed:
        print(f"FAILED {agent.spec.device_id} on {agent.spec.endpoint} "
              f"({agent.spec.sim_profile}): {agent.error}", file=sys.stderr)


def _watch(lab: Lab, stop: threading.Event) -> None:
    """Wait for a stop signal; say once when an agent dies (it is not restarted)."""
    reported: set[str] = set()
    while not stop.wait(1.0):
        for agent in lab.dead():
            if agent.spec.device_id not in reported:
                reported.add(agent.spec.device_id)
                log.warning("agent %s on %s exited with code %s",
                            agent.spec.device_id, agent.spec.endpoint,
                            agent.proc.returncode if agent.proc else "?")


def _run_collector(run_collector: RunCollector | None, args: argparse.Namespace,
                   stop: threading.Event) -> int:
    if run_collector is None:
        print("borderwatch lab --with-collector: the collector service is not available "
              "here; run `borderwatch run` separately", file=sys.stderr)
        return 1
    return int(run_collector(args, stop) or 0)
