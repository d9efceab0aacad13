"""The report's single points of failure on the repository's inventory equal an independent
computation: networkx bridges and articulation points as candidates, then reachability from
the core sites with each candidate removed (written here, not with alerts.topology)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
from report_history import empty_history, run_report

from borderwatch.collector.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory.yaml"


def _reachable(graph: nx.MultiGraph, cores: list[str]) -> set[str]:
    seen: set[str] = set()
    for core in cores:
        if core in graph and core not in seen:
            seen |= nx.node_connected_component(graph, core)
    return seen


def independent_single_points() -> dict[str, list[str]]:
    inv = load_inventory(INVENTORY, resolve_secrets=False)
    graph = nx.MultiGraph()
    graph.add_nodes_from(s.id for s in inv.sites)
    for link in inv.links:
        graph.add_edge(link.a.site, link.b.site, key=link.id)
    cores = [s.id for s in inv.sites if s.kind == "core"]
    everyone = set(graph.nodes)

    simple = nx.Graph(graph)  # parallel links collapse: they are never a bridge
    candidates: list[tuple[str, nx.MultiGraph]] = []
    for u, v in nx.bridges(simple):
        keys = list(graph[u][v])
        if len(keys) == 1:  # a bridge of the simple graph carried by one link only
            cut = graph.copy()
            cut.remove_edge(u, v, key=keys[0])
            candidates.append((f"link:{keys[0]}", cut))
    for node in nx.articulation_points(simple):
        if node in cores:
            continue  # a core is where reachability is measured from, never a weakness
        cut = graph.copy()
        cut.remove_node(node)
        candidates.append((f"site:{node}", cut))
    out = {}
    for element, cut in candidates:
        lost = everyone - _reachable(cut, cores) - {element.partition(":")[2]}
        if lost:
            out[element] = sorted(lost)
    return out


def test_independent_computation_is_complete() -> None:
    """Brute force over every link and site agrees with the bridges/articulation shortcut,
    so the expectation below cannot miss an element."""
    inv = load_inventory(INVENTORY, resolve_secrets=False)
    graph = nx.MultiGraph()
    graph.add_nodes_from(s.id for s in inv.sites)
    for link in inv.links:
        graph.add_edge(link.a.site, link.b.site, key=link.id)
    cores = [s.id for s in inv.sites if s.kind == "core"]
    brute = {}
    for link in inv.links:
        cut = graph.copy()
        cut.remove_edge(link.a.site, link.b.site, key=link.id)
        lost = set(graph.nodes) - _reachable(cut, cores)
        if lost:
            brute[f"link:{link.id}"] = sorted(lost)
    for site in inv.sites:
        if site.kind == "core":
            continue
        cut = graph.copy()
        cut.remove_node(site.id)
        lost = set(graph.nodes) - _reachable(cut, cores) - {site.id}
        if lost:
            brute[f"site:{site.id}"] = sorted(lost)
    assert brute == independent_single_points()


def test_report_single_points_equal_the_independent_computation(tmp_path: Path) -> None:
    expected = independent_single_points()
    assert len(expected) >= 10  # the example network has plenty: the test has teeth
    history = empty_history(tmp_path / "history.sqlite")
    out = tmp_path / "report.json"
    result = run_report(["--from", "2026-11-01", "--to", "2026-12-01", "--format", "json",
                         "--inventory", str(INVENTORY), "--history", str(history),
                         "-o", str(out)])
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    got = {p["element"]: sorted(p["sites"]) for p in doc["planning"]["single_points"]}
    assert got == expected
    # the capacity risk the inventory's notes describe: L07 cut leaves Đình Lập on 2 Mbit/s
    risks = {r["link"]: r for r in doc["planning"]["capacity_risks"]}
    assert risks["L07"]["capacity_mbps"] == 2.0
    assert set(risks["L07"]["sites"]) == {"hub-dinhlap", "cm-kienmoc", "bp-bacxa"}
