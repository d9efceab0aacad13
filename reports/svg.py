"""The report's pictures as inline SVG, drawn here from the document (no script, no fonts,
no tiles: the HTML opens offline and prints as vectors).

Why not a charting library: the map (sites at lat/lon, links between them) is not a chart
type of the offline-capable Python ones (pygal's default output also loads its tooltip
script from a CDN), and the three charts are bars and rectangles: ~200 lines of
geometry here are less than a dependency and its offline configuration.
Every string from the inventory or history goes through `escape` once, here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

STATE_COLOURS = {"up": "#2e7d32", "degraded": "#9ccc65", "down": "#c62828",
                 "isolated": "#ef6c00", "unknown": "#9e9e9e"}
MEDIUM_DASH = {"fiber": "", "microwave": "6 3", "radio": "2 3", "vsat": "1 4"}
MEDIUM_COLOUR = {"fiber": "#1565c0", "microwave": "#6a1b9a", "radio": "#6a1b9a",
                 "vsat": "#00838f"}
MAX_ROWS = 40


def _f(x: float) -> str:
    return f"{x:.1f}"


def short(name: str, limit: int = 34) -> str:
    """A chart label: the name without its parenthesised remark, cut with an ellipsis."""
    name = name.split(" (")[0]
    return name if len(name) <= limit else name[:limit - 1].rstrip() + "…"


def availability_colour(avail: float | None, target: float | None) -> str:
    """Green when the site meets its target (99.5 % without one), orange within one point
    below, red beyond, grey when nothing is known."""
    if avail is None:
        return STATE_COLOURS["unknown"]
    goal = target if target is not None else 99.5
    if avail >= goal:
        return "#2e7d32"
    return "#ef6c00" if avail >= goal - 1.0 else "#c62828"


def site_map(sites: list[dict[str, Any]], links: list[dict[str, Any]],
             width: float = 760.0) -> Markup:
    """Sites placed by lat/lon (equirectangular, scaled by cos(latitude)), links as lines."""
    placed = [s for s in sites if s["lat"] is not None and s["lon"] is not None]
    if not placed:
        return Markup('<svg class="map" width="10" height="10" role="img"></svg>')
    lat0 = sum(s["lat"] for s in placed) / len(placed)
    kx = math.cos(math.radians(lat0))
    xs = [s["lon"] * kx for s in placed]
    ys = [-s["lat"] for s in placed]
    pad = 30.0
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    scale = (width - 2 * pad) / span
    height = (max(ys) - min(ys)) * scale + 2 * pad
    pos = {s["id"]: (pad + (x - min(xs)) * scale, pad + (y - min(ys)) * scale)
           for s, x, y in zip(placed, xs, ys, strict=True)}
    out = [f'<svg class="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} '
           f'{_f(height)}" width="100%" role="img" aria-label="map">']
    for lk in links:
        if lk["a"] in pos and lk["b"] in pos:
            (x1, y1), (x2, y2) = pos[lk["a"]], pos[lk["b"]]
            medium = lk.get("medium") or "fiber"
            dash = MEDIUM_DASH.get(medium, "")
            out.append(f'<line class="link" data-link-id="{escape(lk["id"])}" x1="{_f(x1)}" '
                       f'y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke='
                       f'"{MEDIUM_COLOUR.get(medium, "#555")}" stroke-width="1.5"'
                       + (f' stroke-dasharray="{dash}"' if dash else "")
                       + f'><title>{escape(lk["id"])} ({escape(medium)})</title></line>')
    for s in placed:
        x, y = pos[s["id"]]
        big = s["kind"] in ("core", "hub")
        colour = availability_colour(s["availability_pct"], s.get("sla_target_pct"))
        avail = "–" if s["availability_pct"] is None else f'{s["availability_pct"]:.2f} %'
        out.append(f'<circle class="site" data-site-id="{escape(s["id"])}" cx="{_f(x)}" '
                   f'cy="{_f(y)}" r="{7 if big else 5}" fill="{colour}" stroke="#fff" '
                   f'stroke-width="1.5"><title>{escape(s["name"])}: {avail}</title></circle>')
        if big:  # hubs and the core are named; the short name, on the side with room
            left = x > width * 0.6
            out.append(f'<text x="{_f(x - 9 if left else x + 9)}" y="{_f(y + 4)}" '
                       f'text-anchor="{"end" if left else "start"}" class="label">'
                       f'{escape(short(s["name"]))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def lost_hours_bars(rows: list[dict[str, Any]], states: tuple[str, ...],
                    width: float = 760.0) -> Markup:
    """Hours not up per site, stacked by state, worst first, availability % at the end."""
    rows = sorted((r for r in rows if sum(r["seconds"].get(s) or 0 for s in states) > 0),
                  key=lambda r: -sum(r["seconds"].get(s) or 0 for s in states))[:MAX_ROWS]
    if not rows:
        return Markup("")
    label_w, value_w, bar_h, gap = 230.0, 70.0, 14.0, 4.0
    plot_w = width - label_w - value_w
    most = max(sum(r["seconds"].get(s) or 0 for s in states) for r in rows) / 3600
    height = len(rows) * (bar_h + gap) + 24
    out = [f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
           f'{_f(width)} {_f(height)}" width="100%" role="img">']
    for i, r in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        out.append(f'<text x="{_f(label_w - 6)}" y="{_f(y + bar_h - 3)}" text-anchor="end" '
                   f'class="label">{escape(short(r["name"]))}<title>{escape(r["name"])}</title>'
                   '</text>')
        x = label_w
        for s in states:
            hours = (r["seconds"].get(s) or 0) / 3600
            w = plot_w * hours / most if most else 0
            if w > 0:
                out.append(f'<rect class="bar {s}" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" '
                           f'height="{_f(bar_h)}" fill="{STATE_COLOURS[s]}"><title>'
                           f'{escape(s)}: {hours:.2f} h</title></rect>')
                x += w
        avail = r["availability_pct"]
        out.append(f'<text x="{_f(width - 4)}" y="{_f(y + bar_h - 3)}" text-anchor="end" '
                   f'class="label">{"–" if avail is None else f"{avail:.2f} %"}</text>')
    out.append(f'<text x="{_f(label_w)}" y="{_f(height - 4)}" class="axis">0 h</text>'
               f'<text x="{_f(label_w + plot_w)}" y="{_f(height - 4)}" text-anchor="end" '
               f'class="axis">{most:.1f} h</text></svg>')
    return Markup("".join(out))


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def timeline(rows: list[dict[str, Any]], names: dict[str, str], start: str, end: str,
             width: float = 760.0) -> Markup:
    """One row per site with time not up: its down/isolated/unknown stretches on the
    period's axis (at least one pixel wide, so a short cut still shows)."""
    rows = rows[:MAX_ROWS]
    if not rows:
        return Markup("")
    t0, t1 = _ts(start), _ts(end)
    label_w, row_h = 230.0, 14.0
    plot_w = width - label_w - 10
    height = len(rows) * (row_h + 4) + 28
    out = [f'<svg class="chart timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
           f'{_f(width)} {_f(height)}" width="100%" role="img">']
    for i, r in enumerate(rows):
        y = 4 + i * (row_h + 4)
        out.append(f'<text x="{_f(label_w - 6)}" y="{_f(y + row_h - 3)}" text-anchor="end" '
                   f'class="label">{escape(short(names.get(r["site"], r["site"])))}</text>'
                   f'<rect x="{_f(label_w)}" y="{_f(y)}" width="{_f(plot_w)}" '
                   f'height="{_f(row_h)}" fill="#e8f5e9"/>')
        for seg in r["segments"]:
            a, b = _ts(seg["start"]), _ts(seg["end"])
            x = label_w + plot_w * (a - t0) / (t1 - t0)
            w = max(plot_w * (b - a) / (t1 - t0), 1.0)
            out.append(f'<rect class="seg {seg["state"]}" x="{_f(x)}" y="{_f(y)}" '
                       f'width="{_f(w)}" height="{_f(row_h)}" '
                       f'fill="{STATE_COLOURS.get(seg["state"], "#000")}"><title>'
                       f'{escape(seg["state"])} {escape(seg["start"])} – {escape(seg["end"])}'
                       '</title></rect>')
    y = height - 6
    out.append(f'<text x="{_f(label_w)}" y="{_f(y)}" class="axis">{escape(start[:16])}</text>'
               f'<text x="{_f(label_w + plot_w)}" y="{_f(y)}" text-anchor="end" class="axis">'
               f'{escape(end[:16])}</text></svg>')
    return Markup("".join(out))


def utilisation_bars(rows: list[dict[str, Any]], threshold_pct: float,
                     width: float = 760.0) -> Markup:
    """p95 utilisation per link (the hottest first), peak as a tick, threshold as a line."""
    rows = [r for r in rows if r["p95_pct"] is not None][:MAX_ROWS]
    if not rows:
        return Markup("")
    label_w, bar_h, gap = 230.0, 12.0, 4.0
    plot_w = width - label_w - 60
    top = max(100.0, *(r["peak_pct"] or 0 for r in rows))
    height = len(rows) * (bar_h + gap) + 24
    out = [f'<svg class="chart util" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
           f'{_f(width)} {_f(height)}" width="100%" role="img">']
    for i, r in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        w = plot_w * r["p95_pct"] / top
        hot = r["p95_pct"] > threshold_pct
        out.append(f'<text x="{_f(label_w - 6)}" y="{_f(y + bar_h - 2)}" text-anchor="end" '
                   f'class="label">{escape(r["link"])}</text>'
                   f'<rect class="bar" x="{_f(label_w)}" y="{_f(y)}" width="{_f(w)}" '
                   f'height="{_f(bar_h)}" fill="{"#c62828" if hot else "#1565c0"}"><title>'
                   f'{escape(r["name"])}: p95 {r["p95_pct"]:.1f} %</title></rect>'
                   f'<text x="{_f(label_w + w + 4)}" y="{_f(y + bar_h - 2)}" class="label">'
                   f'{r["p95_pct"]:.1f} %</text>')
        if r["peak_pct"] is not None:
            px = label_w + plot_w * r["peak_pct"] / top
            out.append(f'<line x1="{_f(px)}" x2="{_f(px)}" y1="{_f(y)}" '
                       f'y2="{_f(y + bar_h)}" stroke="#000" stroke-width="1.5"/>')
    tx = label_w + plot_w * threshold_pct / top
    out.append(f'<line class="threshold" x1="{_f(tx)}" x2="{_f(tx)}" y1="0" '
               f'y2="{_f(height - 16)}" stroke="#c62828" stroke-dasharray="4 3"/>'
               f'<text x="{_f(tx)}" y="{_f(height - 4)}" text-anchor="middle" class="axis">'
               f'{threshold_pct:g} %</text></svg>')
    return Markup("".join(out))
