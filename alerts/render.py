"""Bilingual text for notifications: Vietnamese (names as in the inventory) and English.

Follows the terminology of langson-notes §5 — one message per incident, severity tag,
what is cut off, the root cause (nguyên nhân gốc), power state, since when:

  [NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Tú Mịch (xã Mẫu Sơn). Nguyên nhân gốc: mất
  tuyến viba Mẫu Sơn – Tú Mịch (L30); Trạm chuyển tiếp viba đỉnh Mẫu Sơn đang chạy ắc
  quy do mất điện lưới. Bắt đầu: 14:05 26/11/2026.

English names come from `name_en` (notes in parentheses dropped) or, failing that, the
Vietnamese name without diacritics. Times are shown in Vietnam time (UTC+07:00, no DST).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence

from borderwatch.alerts.notification import AlertRef, Cause, Notification, PowerNote, SiteRef

VN_TZ = datetime.timezone(datetime.timedelta(hours=7))
SEVERITY_TAG = {
    "vi": {"critical": "NGHIÊM TRỌNG", "major": "CHÍNH", "warning": "CẢNH BÁO"},
    "en": {"critical": "CRITICAL", "major": "MAJOR", "warning": "WARNING"},
}
RESOLVED_TAG = {"vi": "ĐÃ KHÔI PHỤC", "en": "RESOLVED"}
# A resolve because the subject left the inventory (hot reload): not a recovery.
REMOVED_TAG = {"vi": "ĐÃ GỠ KHỎI DANH MỤC", "en": "REMOVED FROM INVENTORY"}
MEDIUM = {
    "vi": {"fiber": "tuyến cáp quang", "microwave": "tuyến viba",
           "vsat": "kênh vệ tinh (VSAT)", "radio": "tuyến vô tuyến"},
    "en": {"fiber": "fibre link", "microwave": "microwave link", "vsat": "VSAT link",
           "radio": "radio link"},
}
# Leading words of site names that say what a site is; link names use the place alone.
_NAME_PREFIXES = sorted((
    "Đồn Biên phòng Cửa khẩu Quốc tế ", "Đồn Biên phòng Cửa khẩu ", "Đồn Biên phòng ",
    "Trạm kiểm soát Biên phòng ", "Nút truyền dẫn ", "Trạm chuyển tiếp viba đỉnh ",
    "Trạm chuyển tiếp viba ", "Cửa khẩu Quốc tế đường sắt ", "Cửa khẩu Quốc tế ",
    "Cửa khẩu ", "UBND xã ", "UBND phường ", "Trung tâm điều hành viễn thông tỉnh ",
), key=len, reverse=True)
_COMMUNE_EN = (("thị trấn ", "township"), ("phường ", "ward"), ("xã ", "commune"))


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics ('Đồng Đăng' → 'Dong Dang')."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def short_name(site: SiteRef, lang: str) -> str:
    """The place alone, for link names: 'Nút truyền dẫn Đồng Đăng' → 'Đồng Đăng'."""
    name = site.name
    for prefix in _NAME_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name if lang == "vi" else ascii_fold(name)


def commune(site: SiteRef, lang: str) -> str | None:
    """'xã Mẫu Sơn' (vi) or 'Mau Son commune' (en)."""
    if not site.commune:
        return None
    if lang == "vi":
        return site.commune
    for prefix, word in _COMMUNE_EN:
        if site.commune.startswith(prefix):
            return f"{ascii_fold(site.commune[len(prefix):])} {word}"
    return ascii_fold(site.commune)


def site_name(site: SiteRef, lang: str) -> str:
    """The site's full name in a language."""
    if lang == "vi":
        return site.name
    if site.name_en:
        name = re.sub(r"\s*\([^)]*\)", "", site.name_en)  # notes in parentheses
        return name.split(", ")[0].strip()
    return ascii_fold(site.name)


def site_label(site: SiteRef, lang: str) -> str:
    """Name plus commune: 'Đồn Biên phòng Tú Mịch (xã Mẫu Sơn)'."""
    name, where = site_name(site, lang), commune(site, lang)
    return f"{name} ({where})" if where and where not in name else name


def link_name(cause: Cause, lang: str) -> str:
    """'tuyến viba Mẫu Sơn – Tú Mịch (L30)' / 'microwave link Mau Son–Tu Mich (L30)'."""
    medium = MEDIUM[lang].get(cause.medium or "", "tuyến" if lang == "vi" else "link")
    a, b = (short_name(s, lang) for s in cause.ends)
    dash = " – " if lang == "vi" else "–"
    return f"{medium} {a}{dash}{b} ({cause.ident})"


def when(t: float, lang: str) -> str:
    """'14:05 26/11/2026' in Vietnam time (the English text names the offset)."""
    text = datetime.datetime.fromtimestamp(t, VN_TZ).strftime("%H:%M %d/%m/%Y")
    return text if lang == "vi" else f"{text} (UTC+07:00)"


def span(seconds: float, lang: str) -> str:
    """A duration for people: '45 phút', '2 giờ 5 phút' / '45 min', '2 h 5 min'."""
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    h, m = ("giờ", "phút") if lang == "vi" else ("h", "min")
    if hours and minutes:
        return f"{hours} {h} {minutes} {m}"
    if hours:
        return f"{hours} {h}"
    return f"{minutes} {m}"


def cause_text(cause: Cause, lang: str) -> str:
    """One root cause as a phrase."""
    vi = lang == "vi"
    if cause.kind == "link" and len(cause.ends) == 2:
        name = link_name(cause, lang)
        return f"mất {name}" if vi else f"{name} down"
    if cause.kind == "site" and cause.ends:
        where = site_name(cause.ends[0], lang)
        if cause.evidence:
            links = ", ".join(cause.evidence)
            return (f"mất liên lạc toàn bộ thiết bị tại {where} (tuyến {links} mất tín hiệu)"
                    if vi else f"all devices at {where} unreachable (links {links} down)")
        return (f"mất liên lạc toàn bộ thiết bị tại {where}, các tuyến kết nối vẫn hoạt động "
                "(nghi mất điện hoặc hỏng thiết bị)" if vi else
                f"all devices at {where} unreachable while its links look up (power or "
                "equipment failure?)")
    if cause.kind == "device" and cause.ends:
        where = site_name(cause.ends[0], lang)
        return (f"thiết bị {cause.ident} tại {where} không phản hồi" if vi else
                f"device {cause.ident} at {where} not responding")
    return cause.element


def power_text(note: PowerNote, lang: str) -> str:
    """'X đang chạy ắc quy do mất điện lưới (còn khoảng 45 phút)'."""
    name = site_name(note.site, lang)
    left = ""
    if note.runtime_seconds is not None and note.runtime_seconds < 60:
        left = " (ắc quy đã cạn)" if lang == "vi" else " (battery exhausted)"
    elif note.runtime_seconds is not None:
        left = (f" (còn khoảng {span(note.runtime_seconds, lang)})" if lang == "vi" else
                f" (about {span(note.runtime_seconds, lang)} left)")
    return (f"{name} đang chạy ắc quy do mất điện lưới{left}" if lang == "vi" else
            f"{name} on battery after mains loss{left}")


def _root(n: Notification, lang: str) -> str:
    parts = [cause_text(c, lang) for c in n.root_cause]
    parts += [power_text(p, lang) for p in n.power]
    if not parts:
        return ""
    label = "Nguyên nhân gốc" if lang == "vi" else "Root cause"
    text = "; ".join(parts)
    return f" {label}: {text[0].lower() if lang == 'vi' else text[0]}{text[1:]}."


def _sites(sites: Sequence[SiteRef], lang: str) -> str:
    return ", ".join(site_label(s, lang) for s in sites)


def _subject(a: AlertRef, n: Notification, lang: str) -> str:
    """Where a condition is: its link when the incident is about one link, else the device
    (and interface) at its site."""
    links = [c for c in n.root_cause if c.kind == "link"]
    if len(links) == 1 and len(n.root_cause) == 1 and a.link == links[0].ident:
        return link_name(links[0], lang)
    vi = lang == "vi"
    if a.device:
        iface = f" {a.interface}" if a.interface else ""
        at = (f" tại {site_name(a.site, lang)}" if vi else f" at {site_name(a.site, lang)}") \
            if a.site else ""
        return (f"thiết bị {a.device}{iface}" if vi else f"device {a.device}{iface}") + at
    if a.link:
        return f"tuyến {a.link}" if vi else f"link {a.link}"
    return site_name(a.site, lang) if a.site else a.subject


def _condition(n: Notification, lang: str) -> str:
    """The sentence for incidents that are a condition, not a reachability problem.

    A resolve names what ended, not the values it ended with."""
    vi = lang == "vi"
    a = next((x for x in n.alerts if x.phase == "firing"), n.alerts[0] if n.alerts else None)
    if a is None:
        return ""
    where = _subject(a, n, lang)
    site_txt = site_name(a.site, lang) if a.site else where
    what, detail = _what(a, where, site_txt, lang)
    if n.status == "resolved":
        took = span((n.ended_at or n.at) - n.since, lang)
        return f"{what}: đã kết thúc sau {took}." if vi else f"{what}: over after {took}."
    return f"{what}{detail}."


def _what(a: AlertRef, where: str, site_txt: str, lang: str) -> tuple[str, str]:
    """(what is wrong, ': the values') for one condition alert."""
    vi = lang == "vi"
    info, value, kind = a.info, a.value, a.kind
    if kind == "link_down":
        return (f"Mất {where}" if vi else f"{where[0].upper()}{where[1:]} down"), ""
    if kind == "snmp_agent_down":
        return (f"Tác nhân SNMP của {where} không phản hồi" if vi else
                f"SNMP agent of {where} not answering"), \
            (": thiết bị vẫn trả lời ping, trạm không mất liên lạc" if vi else
             ": the host answers ping, the site is not down")
    if kind in ("site_rtt_high", "site_loss_high"):
        rtt = kind == "site_rtt_high"
        amount = (f"{(value or 0.0) * 1000:.0f} ms" if rtt else f"{(value or 0.0) * 100:.0f}%")
        return (f"Đường truyền tới {site_txt} suy giảm" if vi else
                f"Path to {site_txt} degraded"), \
            ((f": trễ ping {amount}" if rtt else f": mất gói ping {amount}") if vi else
             (f": ping round trip {amount}" if rtt else f": ping loss {amount}"))
    if kind in ("link_rtt_high", "link_loss_high"):
        rtt = kind == "link_rtt_high"
        amount = (f"{(value or 0.0) * 1000:.0f} ms" if rtt else f"{(value or 0.0) * 100:.0f}%")
        far = site_name(SiteRef(info["far_site"], info.get("far_site_name") or
                                info["far_site"], "", info.get("far_site_name_en")), lang) \
            if info.get("far_site") else ""
        if vi:
            detail = (f": tăng trễ ping thêm {amount}" if rtt else
                      f": mất thêm {amount} gói ping") + (f" tới {far}" if far else "")
        else:
            detail = (f": adds {amount} of ping round trip" if rtt else
                      f": adds {amount} ping loss") + (f" towards {far}" if far else "")
        return (f"{where[0].upper()}{where[1:]} suy giảm" if vi else
                f"{where[0].upper()}{where[1:]} degraded"), detail
    if kind == "device_incomplete":
        kinds = ", ".join(info.get("kinds") or ())
        return (f"Dữ liệu của {where} không đầy đủ" if vi else f"Data of {where} incomplete"), \
            (f" ({kinds})" if kinds else "")
    if kind == "interface_down":
        return (f"Cổng của {where} ngừng hoạt động" if vi else f"Interface of {where} down"), ""
    if kind == "radio_fade":
        sig = info.get("signal_dbm")
        detail = (f": mức thu {sig:.1f} dBm, thấp hơn thiết kế {value:.1f} dB" if vi else
                  f": receive level {sig:.1f} dBm, {value:.1f} dB below plan") \
            if sig is not None and value is not None else ""
        return (f"Suy giảm tín hiệu {where}" if vi else f"Signal degradation on {where}"), \
            detail
    number = "" if value is None else f": {value:.1f}"
    if kind == "radio_signal_low":
        return (f"Mức thu thấp trên {where}" if vi else f"Low receive level on {where}"), \
            f"{number} dBm" if number else ""
    if kind == "radio_snr_low":
        if "esno" in str(info.get("metric", "")):
            return (f"Es/No VSAT thấp tại {where}" if vi else f"Low VSAT Es/No at {where}"), \
                (f"{number} dB (suy hao do mưa?)" if vi else f"{number} dB (rain fade?)") \
                if number else ""
        return (f"Tỷ số tín hiệu/tạp âm thấp trên {where}" if vi else f"Low SNR on {where}"), \
            f"{number} dB" if number else ""
    if kind == "on_battery":
        runtime = info.get("runtime_seconds")
        left = ""
        if runtime is not None:
            left = (f", còn khoảng {span(runtime, lang)}" if vi else
                    f", about {span(runtime, lang)} left")
        return (f"Mất điện lưới tại {site_txt}" if vi else f"Mains power lost at {site_txt}"), \
            (f": đang chạy ắc quy{left}" if vi else f": on battery{left}")
    if kind == "battery_runtime_low":
        left = span(value or 0.0, lang)
        return (f"Sắp cạn ắc quy tại {site_txt}" if vi else
                f"Battery nearly exhausted at {site_txt}"), \
            (f": còn khoảng {left}" if vi else f": about {left} left")
    if kind == "link_utilization":
        pct = f"{(value or 0.0) * 100:.0f}%"
        return (f"Quá tải {where}" if vi else f"Overload on {where}"), \
            (f": mức sử dụng băng thông {pct}" if vi else f": {pct} of capacity")
    if kind == "interface_errors":
        return (f"Lỗi gói trên {where}" if vi else f"Packet errors on {where}"), \
            (f"{number} lỗi/s" if vi else f"{number} errors/s") if number else ""
    return f"{a.rule} ({where})", "" if value is None else f" = {value:g}"


def _also_single_path(n: Notification, lang: str) -> str:
    """The sites the same failure left on a single path, as a closing sentence."""
    if not n.redundancy_lost or n.status == "resolved":
        return ""
    sites = _sites(n.redundancy_lost, lang)
    count = len(n.redundancy_lost)
    return (f" Mất dự phòng: {count} trạm chỉ còn một đường truyền ({sites})." if lang == "vi"
            else f" Redundancy lost: {count} site(s) now on a single path ({sites}).")


def render(n: Notification, lang: str = "vi") -> str:
    """The one-paragraph text of a notification in 'vi' or 'en'."""
    if lang not in SEVERITY_TAG:
        raise ValueError(f"language {lang!r} is not supported; allowed: vi, en")
    vi = lang == "vi"
    if n.reason == "removed_from_inventory":
        return _removed(n, lang)
    resolved = n.status == "resolved"
    tag = RESOLVED_TAG[lang] if resolved else SEVERITY_TAG[lang].get(n.severity, n.severity)
    cut = list(n.cut_off)
    if n.headline in ("isolation", "site_down") and cut:
        if resolved:
            body = (f"Đã khôi phục liên lạc {_sites(cut, lang)}" if vi else
                    f"Communications restored with {_sites(cut, lang)}")
            if n.ended_at is not None:
                body += (f" sau {span(n.ended_at - n.since, lang)}" if vi else
                         f" after {span(n.ended_at - n.since, lang)}")
            body += "."
        elif len(cut) == 1:
            body = (f"Mất liên lạc {site_label(cut[0], lang)}." if vi else
                    f"{site_label(cut[0], lang)} unreachable.")
        else:
            body = (f"Mất liên lạc {len(cut)} trạm: {_sites(cut, lang)}." if vi else
                    f"{len(cut)} sites unreachable: {_sites(cut, lang)}.")
        body += _root(n, lang) + _also_single_path(n, lang)
    elif n.headline == "device_down":
        root = n.root_cause[0]
        if resolved:
            body = (f"Thiết bị {root.ident} đã phản hồi trở lại." if vi else
                    f"Device {root.ident} responds again.")
        else:
            text = cause_text(root, lang)
            body = f"{text[0].upper()}{text[1:]}."
        body += _also_single_path(n, lang)
    elif n.headline == "redundancy_lost":
        sites = list(n.redundancy_lost)
        if resolved:
            body = (f"Đã khôi phục dự phòng cho {_sites(sites, lang)}." if vi else
                    f"Redundancy restored for {_sites(sites, lang)}.")
        else:
            body = (f"Mất dự phòng: {len(sites)} trạm chỉ còn một đường truyền "
                    f"({_sites(sites, lang)})." if vi else
                    f"Redundancy lost: {len(sites)} site(s) now on a single path "
                    f"({_sites(sites, lang)}).")
        body += _root(n, lang)
        caps = [a.info for a in n.alerts if a.kind == "redundancy_lost"
                and a.info.get("capacity_bps")]
        if caps and not resolved:
            # the site that lost most of its planned capacity
            worst = max(caps, key=lambda i: (i.get("planned_capacity_bps") or 0) /
                        i["capacity_bps"])
            now_c, plan = worst["capacity_bps"] / 1e6, (worst.get("planned_capacity_bps")
                                                         or 0) / 1e6
            if plan and now_c < plan:
                body += (f" Dung lượng còn lại {now_c:g} Mbit/s (thiết kế {plan:g} Mbit/s)."
                         if vi else
                         f" Remaining capacity {now_c:g} Mbit/s (planned {plan:g} Mbit/s).")
    else:
        body = _condition(n, lang)
    if n.flapping and not resolved:
        body += " (Chập chờn: trạng thái thay đổi liên tục.)" if vi else \
            " (Flapping: the state keeps changing.)"
    elif n.flapping:
        body += " (Đã chập chờn trước khi ổn định.)" if vi else \
            " (It flapped before it settled.)"
    start = (f" Bắt đầu: {when(n.since, lang)}." if vi else f" Since: {when(n.since, lang)}.")
    if resolved:
        start = ""
    return f"[{tag}] {body}{start}"


def _removed(n: Notification, lang: str) -> str:
    """The resolve of an incident whose subjects left the inventory: what was removed, and
    that nobody saw it recover (its last known state stands unconfirmed)."""
    vi = lang == "vi"
    names: list[str] = []
    for a in n.alerts:
        if a.device:
            name = f"thiết bị {a.device}" if vi else f"device {a.device}"
        elif a.link:
            name = f"tuyến {a.link}" if vi else f"link {a.link}"
        elif a.site:
            name = f"trạm {site_name(a.site, lang)}" if vi else f"site {site_name(a.site, lang)}"
        else:
            name = a.subject
        if name not in names:
            names.append(name)
    what = ", ".join(names) or n.incident_key
    if vi:
        body = (f"Đã gỡ {what} khỏi danh mục giám sát; cảnh báo kết thúc mà không xác nhận "
                "được đã khôi phục.")
    else:
        body = (f"{what[0].upper()}{what[1:]} removed from the inventory; the alert ends "
                "without a confirmed recovery.")
    return f"[{REMOVED_TAG[lang]}] {body}"
