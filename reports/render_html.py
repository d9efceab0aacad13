"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network),
rendered with a Jinja2 template that autoescapes everything it is given."""

from __future__ import annotations

from typing import Any

import jinja2

from borderwatch.reports import svg
from borderwatch.reports.texts import text

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("borderwatch.reports", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined,  # a missing field fails the tests
    trim_blocks=True, lstrip_blocks=True)


def duration(seconds: float | None, lang: str = "en") -> str:
    """'3 d 04 h', '2 h 05 min', '45 s' (the same units in both languages)."""
    if seconds is None:
        return "–"
    s = round(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d} d {h:02d} h"
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def pct(value: float | None, digits: int = 3) -> str:
    """A percentage for people ('–' when not known)."""
    return "–" if value is None else f"{value:.{digits}f}"


MAX_OUTAGE_ROWS = 200  # the longest; a year of a big network has tens of thousands (CSV/JSON)


def render_html(doc: dict[str, Any]) -> str:
    """The whole HTML page of a report document."""
    lang = doc["lang"]
    names = {s["id"]: s["name"] for s in doc["sites"]}
    states = tuple(doc["availability"]["states"])
    by = doc["availability"]["by"]
    pictures = {
        "map": svg.site_map(doc["sites"], doc["map"]["links"]),
        "bars": svg.lost_hours_bars(doc["sites"], ("down", "isolated", "unknown")),
        "by_bars": ("" if by == "site" else
                    svg.lost_hours_bars(doc["availability"]["rows"],
                                        tuple(s for s in states if s != "up"))),
        "timeline": svg.timeline(doc["timeline"], names, doc["period"]["from"],
                                 doc["period"]["to"]),
        "util": svg.utilisation_bars(doc["capacity"]["utilisation"],
                                     doc["capacity"]["util_p95_threshold_pct"] or 80.0),
    }
    longest = sorted(doc["outages"], key=lambda o: -o["duration_seconds"])[:MAX_OUTAGE_ROWS]
    causes = {r["element"]: r["name"] for r in doc["root_causes"]}
    outages = [{**o, "root_cause_names": [causes.get(e, e) for e in o["root_cause"]],
                "site_names": [names.get(s, s) for s in o["sites"]]}
               for o in sorted(longest, key=lambda o: (o["start"], o["incident"]))]
    template = _ENV.get_template("report.html.j2")
    return template.render(doc=doc, t=lambda key: text(key, lang), names=names,
                           pictures=pictures, states=states, colours=svg.STATE_COLOURS,
                           media_dash=svg.MEDIUM_DASH, media_colour=svg.MEDIUM_COLOUR,
                           duration=lambda s: duration(s, lang), pct=pct,
                           site_names=lambda ids: ", ".join(names.get(i, i) for i in ids),
                           outages=outages,
                           more_outages=len(doc["outages"]) - len(outages))
