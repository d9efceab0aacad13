"""Human messages (e-mail subject and body, chat text) from an outbox body.

The outbox holds `Notification.to_dict()`; this module turns it back into a
`Notification` so that the texts come from `alerts/render.py` (the one place for the
Vietnamese and English wording), and adds what a person reading mail needs: a subject
that names the site by its Vietnamese name and the root cause, the cut-off sites one per
line, since when, and the dashboard link.
"""

from __future__ import annotations

import re
from typing import Any

from borderwatch.alerts import render
from borderwatch.alerts.notification import AlertRef, Cause, Notification, PowerNote, SiteRef
from borderwatch.alerts.notify.webhook import dashboard_link

SUBJECT_MAX = 200  # characters; mail clients cut long subjects anyway
_LABELS = {
    "vi": {"cut_off": "Trạm mất liên lạc", "down": "tự hỏng", "root": "Nguyên nhân gốc",
           "single": "Mất dự phòng (chỉ còn một đường truyền)", "since": "Bắt đầu",
           "ended": "Kết thúc", "dashboard": "Bảng theo dõi", "incident": "Mã sự cố",
           "unreachable": "Mất liên lạc", "more": "và {n} trạm khác",
           "device": "Thiết bị không phản hồi", "redundancy": "Mất dự phòng",
           "restored": "Đã khôi phục liên lạc"},
    "en": {"cut_off": "Sites cut off", "down": "failed itself", "root": "Root cause",
           "single": "Redundancy lost (single path left)", "since": "Since",
           "ended": "Ended", "dashboard": "Dashboard", "incident": "Incident",
           "unreachable": "Unreachable:", "more": "and {n} more sites",
           "device": "Device not responding:", "redundancy": "Redundancy lost:",
           "restored": "Restored:"},
}


def _site(d: dict[str, Any] | None) -> SiteRef | None:
    return None if d is None else SiteRef(**d)


def notification_from_dict(body: dict[str, Any]) -> Notification:
    """The inverse of `Notification.to_dict()` (tuples and nested refs rebuilt), with the
    body's wall times (`steady`, the engine's own times, only identifies the event)."""
    body = {k: v for k, v in body.items() if k != "steady"}
    causes = tuple(Cause(**{**c, "ends": tuple(SiteRef(**s) for s in c.get("ends", ())),
                            "evidence": tuple(c.get("evidence", ()))})
                   for c in body.get("root_cause", ()))
    alerts = tuple(AlertRef(**{**a, "site": _site(a.get("site"))})
                   for a in body.get("alerts", ()))
    power = tuple(PowerNote(**{**p, "site": SiteRef(**p["site"])})
                  for p in body.get("power", ()))
    return Notification(**{
        **body, "root_cause": causes, "alerts": alerts, "power": power,
        "cut_off": tuple(SiteRef(**s) for s in body.get("cut_off", ())),
        "redundancy_lost": tuple(SiteRef(**s) for s in body.get("redundancy_lost", ())),
        "down_sites": tuple(body.get("down_sites", ())),
    })


def _tag(n: Notification, lang: str) -> str:
    if n.reason == "removed_from_inventory":
        return render.REMOVED_TAG[lang]
    if n.status == "resolved":
        return render.RESOLVED_TAG[lang]
    return render.SEVERITY_TAG[lang].get(n.severity, n.severity)


def _places(sites: tuple[SiteRef, ...], lang: str) -> str:
    """The first site by its Vietnamese name (+ English in English), and how many more."""
    first = sites[0]
    name = first.name
    if lang == "en" and render.site_name(first, "en") != first.name:
        name = f"{render.site_name(first, 'en')} ({first.name})"
    if len(sites) > 1:
        name += " " + _LABELS[lang]["more"].format(n=len(sites) - 1)
    return name


def _causes(n: Notification, lang: str) -> list[str]:
    return [render.cause_text(c, lang) for c in n.root_cause] + \
        [render.power_text(p, lang) for p in n.power]


def _first_sentence(text: str) -> str:
    """The rendered text without its tag, up to the end of its first sentence."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    return (m.group(1) if m else text).rstrip(".")


def subject(n: Notification, lang: str) -> str:
    """'[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa — mất tuyến cáp quang …'."""
    labels = _LABELS[lang]
    resolved = n.status == "resolved"
    causes = _causes(n, lang)
    if n.reason == "removed_from_inventory":  # not a recovery: say what left the inventory
        what = _first_sentence(render.render(n, lang))
        causes = []
    elif n.cut_off:
        what = f"{labels['restored' if resolved else 'unreachable']} " \
               f"{_places(n.cut_off, lang)}"
    elif n.headline == "device_down" and n.root_cause:
        c = n.root_cause[0]
        where = f" ({c.ends[0].name})" if c.ends else ""
        what = f"{labels['device']} {c.ident}{where}"
        causes = []
    elif n.headline == "redundancy_lost" and n.redundancy_lost:
        what = f"{labels['redundancy']} {_places(n.redundancy_lost, lang)}"
    else:
        what = _first_sentence(render.render(n, lang))
        site = next((a.site for a in n.alerts if a.site), None)
        if site is not None and site.name not in what:
            what += f" ({site.name})"  # the Vietnamese name, whatever the language
    text = f"[{_tag(n, lang)}] {what}"
    if causes:
        text += f" — {causes[0]}" + (f" (+{len(causes) - 1})" if len(causes) > 1 else "")
    text = " ".join(text.split())  # one line: a header must not fold on our newlines
    return text if len(text) <= SUBJECT_MAX else text[:SUBJECT_MAX - 1] + "…"


def body_text(n: Notification, lang: str, dashboard: str | None) -> str:
    """The e-mail body: the rendered paragraph, then the facts one per line."""
    labels = _LABELS[lang]
    lines = [render.render(n, lang), ""]
    if n.cut_off:
        lines.append(f"{labels['cut_off']}:")
        for s in n.cut_off:
            mark = f" — {labels['down']}" if s.site_id in n.down_sites else ""
            lines.append(f"  - {render.site_label(s, lang)} [{s.site_id}]{mark}")
    causes = _causes(n, lang)
    if causes:
        lines.append(f"{labels['root']}:")
        lines += [f"  - {c}" for c in causes]
    if n.redundancy_lost and n.status != "resolved":
        lines.append(f"{labels['single']}:")
        lines += [f"  - {render.site_label(s, lang)} [{s.site_id}]" for s in n.redundancy_lost]
    lines.append(f"{labels['since']}: {render.when(n.since, lang)}")
    if n.ended_at is not None:
        lines.append(f"{labels['ended']}: {render.when(n.ended_at, lang)}")
    if dashboard:
        lines.append(f"{labels['dashboard']}: {dashboard}")
    lines.append(f"{labels['incident']}: {n.incident_key}")
    return "\n".join(lines) + "\n"


def texts(body: dict[str, Any], lang: str, dashboard_template: str | None
          ) -> tuple[str, str, str | None]:
    """(subject, body, dashboard link) of an outbox body in a language."""
    n = notification_from_dict(body)
    link = dashboard_link(dashboard_template, body)
    return subject(n, lang), body_text(n, lang, link), link
