"""Bilingual texts: langson-notes §5's example, every headline, names and folding."""

from __future__ import annotations

from typing import Any

import pytest
from world import T0

from borderwatch.alerts import render
from borderwatch.alerts.content import cause, site_ref
from borderwatch.alerts.notification import AlertRef, Notification, PowerNote
from borderwatch.alerts.topology import Topology

AT = T0 + 5 * 60  # 14:05 in Vietnam


def make(topo: Topology, headline: str, *, status: str = "firing", severity: str = "critical",
         roots: tuple[str, ...] = (), evidence: tuple[str, ...] = (),
         cut_off: tuple[str, ...] = (), down: tuple[str, ...] = (),
         redundancy: tuple[str, ...] = (), alerts: tuple[AlertRef, ...] = (),
         power: tuple[tuple[str, float | None], ...] = (), ended: float | None = None,
         flapping: bool = False) -> Notification:
    return Notification(
        incident_key="k@1", group="g", status=status, reason="new", severity=severity,
        headline=headline, root_cause=tuple(cause(topo, r, list(evidence)) for r in roots),
        cut_off=tuple(site_ref(topo, s) for s in cut_off), down_sites=down,
        redundancy_lost=tuple(site_ref(topo, s) for s in redundancy), alerts=alerts,
        power=tuple(PowerNote(site_ref(topo, s), AT - 600, runtime, AT)
                    for s, runtime in power),
        since=AT, at=AT, ended_at=ended, flapping=flapping)


def alert(topo: Topology, kind: str, value: float | None = None, *, site: str | None = None,
          device: str | None = None, link: str | None = None, interface: str | None = None,
          **info: Any) -> AlertRef:
    return AlertRef("R", kind, "major", "subject", "firing", AT, value, False, info,
                    site_ref(topo, site) if site else None, device, interface, link)


def test_langson_notes_example(topo: Topology) -> None:
    """§5: '[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Tú Mịch (xã Mẫu Sơn). Nguyên nhân
    gốc: mất tuyến viba Mẫu Sơn – Tú Mịch (L30); trạm chuyển tiếp Mẫu Sơn đang chạy ắc quy
    do mất điện lưới.'"""
    n = make(topo, "isolation", roots=("link:L30",), cut_off=("bp-tumich",),
             power=(("hub-mauson", 45 * 60),))
    assert render.render(n, "vi") == (
        "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Tú Mịch (xã Mẫu Sơn). Nguyên nhân gốc: "
        "mất tuyến viba Mẫu Sơn – Tú Mịch (L30); Trạm chuyển tiếp viba đỉnh Mẫu Sơn đang chạy "
        "ắc quy do mất điện lưới (còn khoảng 45 phút). Bắt đầu: 14:05 26/11/2026.")
    assert render.render(n, "en") == (
        "[CRITICAL] Tu Mich Border Guard post (Mau Son commune) unreachable. Root cause: "
        "microwave link Mau Son–Tu Mich (L30) down; Mau Son mountain-top microwave repeater "
        "on battery after mains loss (about 45 min left). Since: 14:05 26/11/2026 "
        "(UTC+07:00).")


CASES = [
    pytest.param(dict(headline="isolation", roots=("site:hub-thatkhe",),
                      evidence=("link:L03", "link:L04"), down=("hub-thatkhe",),
                      cut_off=("hub-thatkhe", "bp-quockhanh", "bg-nanua")),
                 "[NGHIÊM TRỌNG] Mất liên lạc 3 trạm: Nút truyền dẫn Thất Khê (xã Thất Khê), Đồn "
                 "Biên phòng Quốc Khánh (xã Quốc Khánh), Cửa khẩu Nà Nưa (xã Quốc Khánh). "
                 "Nguyên nhân gốc: mất liên lạc toàn bộ thiết bị tại Nút truyền dẫn Thất Khê "
                 "(tuyến L03, L04 mất tín hiệu). Bắt đầu: 14:05 26/11/2026.",
                 "[CRITICAL] 3 sites unreachable: That Khe transmission node (That Khe commune), "
                 "Quoc Khanh Border Guard post (Quoc Khanh commune), Na Nua secondary border "
                 "crossing (Quoc Khanh commune). Root cause: all devices at That Khe transmission "
                 "node unreachable (links L03, L04 down). Since: 14:05 26/11/2026 (UTC+07:00).",
                 id="hub-node-down"),
    pytest.param(dict(headline="site_down", roots=("site:bp-thanhloa",), down=("bp-thanhloa",),
                      cut_off=("bp-thanhloa",)),
                 "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa (xã Ba Sơn). Nguyên nhân "
                 "gốc: mất liên lạc toàn bộ thiết bị tại Đồn Biên phòng Thanh Lòa, các tuyến kết "
                 "nối vẫn hoạt động (nghi mất điện hoặc hỏng thiết bị). Bắt đầu: 14:05 "
                 "26/11/2026.",
                 "[CRITICAL] Thanh Loa Border Guard post (Ba Son commune) unreachable. Root "
                 "cause: all devices at Thanh Loa Border Guard post unreachable while its links "
                 "look up (power or equipment failure?). Since: 14:05 26/11/2026 (UTC+07:00).",
                 id="site-down-uplink-up"),
    pytest.param(dict(headline="isolation", status="resolved", roots=("link:L27",),
                      cut_off=("bp-thanhloa",), ended=AT + 1830),
                 "[ĐÃ KHÔI PHỤC] Đã khôi phục liên lạc Đồn Biên phòng Thanh Lòa (xã Ba Sơn) sau "
                 "30 phút. Nguyên nhân gốc: mất tuyến cáp quang Đồng Đăng – Thanh Lòa (L27).",
                 "[RESOLVED] Communications restored with Thanh Loa Border Guard post (Ba Son "
                 "commune) after 30 min. Root cause: fibre link Dong Dang–Thanh Loa (L27) down.",
                 id="resolved-isolation"),
    pytest.param(dict(headline="device_down", severity="major", roots=("device:dd-agg2",)),
                 "[CHÍNH] Thiết bị dd-agg2 tại Nút truyền dẫn Đồng Đăng không phản hồi. Bắt "
                 "đầu: 14:05 26/11/2026.",
                 "[MAJOR] Device dd-agg2 at Dong Dang transmission node not responding. Since: "
                 "14:05 26/11/2026 (UTC+07:00).", id="device-down"),
    pytest.param(dict(headline="redundancy_lost", severity="warning", roots=("link:L07",),
                      redundancy=("hub-dinhlap", "cm-kienmoc")),
                 "[CẢNH BÁO] Mất dự phòng: 2 trạm chỉ còn một đường truyền (Nút truyền dẫn Đình "
                 "Lập (xã Đình Lập), UBND xã Kiên Mộc). Nguyên nhân gốc: mất tuyến cáp quang Lộc "
                 "Bình – Đình Lập (L07). Bắt đầu: 14:05 26/11/2026.",
                 "[WARNING] Redundancy lost: 2 site(s) now on a single path (Dinh Lap "
                 "transmission node (Dinh Lap commune), Kien Moc commune People's Committee). "
                 "Root cause: fibre link Loc Binh–Dinh Lap (L07) down. Since: 14:05 26/11/2026 "
                 "(UTC+07:00).", id="redundancy-lost"),
    pytest.param(dict(headline="isolation", roots=("link:L22",), cut_off=("bg-banchat",)),
                 "[NGHIÊM TRỌNG] Mất liên lạc Cửa khẩu Bản Chắt (xã Kiên Mộc). Nguyên nhân gốc: "
                 "mất kênh vệ tinh (VSAT) Bản Chắt – Lạng Sơn (L22). Bắt đầu: 14:05 26/11/2026.",
                 "[CRITICAL] Ban Chat secondary border crossing (Kien Moc commune) unreachable. "
                 "Root cause: VSAT link Ban Chat–Lang Son (L22) down. Since: 14:05 26/11/2026 "
                 "(UTC+07:00).", id="vsat"),
]


@pytest.mark.parametrize(("fields", "vi", "en"), CASES)
def test_reachability_texts(topo: Topology, fields: dict, vi: str, en: str) -> None:
    n = make(topo, **fields)
    assert render.render(n, "vi") == vi
    assert render.render(n, "en") == en


CONDITIONS = [
    pytest.param("on_battery", None, dict(site="hub-mauson", device="ms-dcpwr1",
                                           runtime_seconds=3000.0), (),
                 "[CHÍNH] Mất điện lưới tại Trạm chuyển tiếp viba đỉnh Mẫu Sơn: đang chạy ắc quy,"
                 " còn khoảng 50 phút.",
                 "[MAJOR] Mains power lost at Mau Son mountain-top microwave repeater: on "
                 "battery, about 50 min left.", id="on-battery"),
    pytest.param("battery_runtime_low", 1200.0, dict(site="bp-bacxa", device="bpbx-dcpwr1"),
                 (), "[CHÍNH] Sắp cạn ắc quy tại Đồn Biên phòng Bắc Xa: còn khoảng 20 phút.",
                 "[MAJOR] Battery nearly exhausted at Bac Xa Border Guard post: about 20 min "
                 "left.", id="battery-low"),
    pytest.param("radio_fade", 15.0, dict(site="hub-mauson", device="ms-mw5", link="L30",
                                          interface="radio-1", signal_dbm=-60.0),
                 ("link:L30",),
                 "[CHÍNH] Suy giảm tín hiệu tuyến viba Mẫu Sơn – Tú Mịch (L30): mức thu -60.0 "
                 "dBm, thấp hơn thiết kế 15.0 dB.",
                 "[MAJOR] Signal degradation on microwave link Mau Son–Tu Mich (L30): receive "
                 "level -60.0 dBm, 15.0 dB below plan.", id="fade"),
    pytest.param("radio_signal_low", -83.5, dict(site="bp-baolam", device="bpbl-ptp1"), (),
                 "[CHÍNH] Mức thu thấp trên thiết bị bpbl-ptp1 tại Đồn Biên phòng Bảo Lâm: -83.5 "
                 "dBm.", "[MAJOR] Low receive level on device bpbl-ptp1 at Bao Lam Border Guard "
                 "post: -83.5 dBm.", id="airmax-signal"),
    pytest.param("radio_snr_low", 3.2, dict(site="bp-binhxa", device="bpbxa-vsat1",
                                            metric="borderwatch_vsat_receive_esno_db"), (),
                 "[CHÍNH] Es/No VSAT thấp tại thiết bị bpbxa-vsat1 tại Đồn Biên phòng Bính Xá: "
                 "3.2 dB (suy hao do mưa?).",
                 "[MAJOR] Low VSAT Es/No at device bpbxa-vsat1 at Binh Xa Border Guard post: "
                 "3.2 dB (rain fade?).", id="vsat-esno"),
    pytest.param("link_utilization", 0.92, dict(link="L07"), ("link:L07",),
                 "[CHÍNH] Quá tải tuyến cáp quang Lộc Bình – Đình Lập (L07): mức sử dụng băng "
                 "thông 92%.", "[MAJOR] Overload on fibre link Loc Binh–Dinh Lap (L07): 92% of "
                 "capacity.", id="utilisation"),
    pytest.param("interface_errors", 12.5, dict(site="hub-nasam", device="ns-agg1",
                                                interface="GigabitEthernet0/0/2", link="L15"),
                 ("link:L15",),
                 "[CHÍNH] Lỗi gói trên tuyến cáp quang Na Sầm – Tân Thanh (L15): 12.5 lỗi/s.",
                 "[MAJOR] Packet errors on fibre link Na Sam–Tan Thanh (L15): 12.5 errors/s.",
                 id="errors"),
    pytest.param("link_down", None, dict(link="L10"), ("link:L10",),
                 "[CHÍNH] Mất tuyến cáp quang Đồng Đăng – Hữu Nghị (L10).",
                 "[MAJOR] Fibre link Dong Dang–Huu Nghi (L10) down.", id="redundant-link-down"),
]


@pytest.mark.parametrize(("kind", "value", "where", "roots", "vi", "en"), CONDITIONS)
def test_condition_texts(topo: Topology, kind: str, value: float | None, where: dict,
                         roots: tuple[str, ...], vi: str, en: str) -> None:
    n = make(topo, kind, severity="major", roots=roots, alerts=(alert(topo, kind, value,
                                                                      **where),))
    since = " Bắt đầu: 14:05 26/11/2026."
    assert render.render(n, "vi") == vi + since
    assert render.render(n, "en") == en + " Since: 14:05 26/11/2026 (UTC+07:00)."


def test_resolved_condition_and_flapping(topo: Topology) -> None:
    down = alert(topo, "link_down", link="L26")
    n = make(topo, "link_down", severity="major", roots=("link:L26",), alerts=(down,),
             flapping=True)
    assert render.render(n, "vi") == (
        "[CHÍNH] Mất tuyến viba Bảo Lâm – Hữu Nghị (L26). (Chập chờn: trạng thái thay đổi liên "
        "tục.) Bắt đầu: 14:05 26/11/2026.")
    n = make(topo, "link_down", status="resolved", roots=("link:L26",), alerts=(down,),
             ended=AT + 3600 + 300)
    assert render.render(n, "en") == (
        "[RESOLVED] Microwave link Bao Lam–Huu Nghi (L26) down: over after 1 h 5 min.")
    fade = alert(topo, "radio_fade", 0.0, site="hub-mauson", device="ms-mw5", link="L30",
                 signal_dbm=-45.0)
    n = make(topo, "radio_fade", status="resolved", roots=("link:L30",), alerts=(fade,),
             ended=AT + 480)
    assert render.render(n, "vi") == ("[ĐÃ KHÔI PHỤC] Suy giảm tín hiệu tuyến viba Mẫu Sơn – "
                                      "Tú Mịch (L30): đã kết thúc sau 8 phút.")


def test_exhausted_battery_note(topo: Topology) -> None:
    n = make(topo, "isolation", roots=("link:L30",), cut_off=("bp-tumich",),
             power=(("hub-mauson", 20.0),))
    assert "Trạm chuyển tiếp viba đỉnh Mẫu Sơn đang chạy ắc quy do mất điện lưới (ắc quy đã " \
        "cạn)." in render.render(n, "vi")
    assert "on battery after mains loss (battery exhausted)." in render.render(n, "en")


@pytest.mark.parametrize(("text", "folded"), [
    ("Đồng Đăng", "Dong Dang"), ("Mẫu Sơn", "Mau Son"), ("Lạng Sơn", "Lang Son"),
    ("Hữu Nghị", "Huu Nghi"), ("xã Thụy Hùng", "xa Thuy Hung"), ("ĐỒN", "DON")])
def test_ascii_fold(text: str, folded: str) -> None:
    assert render.ascii_fold(text) == folded


@pytest.mark.parametrize(("site", "vi", "en", "commune_en"), [
    ("ls-core", "Lạng Sơn", "Lang Son", "Dong Kinh ward"),
    ("hub-mauson", "Mẫu Sơn", "Mau Son", "Mau Son commune"),
    ("bg-gadongdang", "Ga Đồng Đăng", "Ga Dong Dang", "Dong Dang commune"),
    ("bp-cocnam-tks", "Cốc Nam", "Coc Nam", "Van Lang commune"),
    ("cm-quocviet", "Quốc Việt", "Quoc Viet", "Quoc Viet commune"),
])
def test_short_names_and_communes(topo: Topology, site: str, vi: str, en: str,
                                  commune_en: str) -> None:
    ref = site_ref(topo, site)
    assert render.short_name(ref, "vi") == vi
    assert render.short_name(ref, "en") == en
    assert render.commune(ref, "en") == commune_en


def test_english_name_drops_notes(topo: Topology) -> None:
    assert render.site_name(site_ref(topo, "bg-huunghi"), "en") == \
        "Huu Nghi international border gate"
    assert render.site_name(site_ref(topo, "bp-binhxa"), "en") == \
        "Binh Xa Border Guard post"


def test_unknown_language(topo: Topology) -> None:
    with pytest.raises(ValueError, match="language 'fr' is not supported; allowed: vi, en"):
        render.render(make(topo, "isolation", cut_off=("bp-tumich",)), "fr")


@pytest.mark.parametrize(("seconds", "vi", "en"), [(0, "0 phút", "0 min"),
                                                    (2700, "45 phút", "45 min"),
                                                    (3600, "1 giờ", "1 h"),
                                                    (7500, "2 giờ 5 phút", "2 h 5 min")])
def test_span(seconds: float, vi: str, en: str) -> None:
    assert render.span(seconds, "vi") == vi and render.span(seconds, "en") == en


def test_single_path_sentence(topo: Topology) -> None:
    n = make(topo, "device_down", severity="major", roots=("device:dd-agg2",),
             redundancy=("bp-baolam",))
    assert render.render(n, "vi") == (
        "[CHÍNH] Thiết bị dd-agg2 tại Nút truyền dẫn Đồng Đăng không phản hồi. Mất dự phòng: 1 "
        "trạm chỉ còn một đường truyền (Đồn Biên phòng Bảo Lâm (xã Đồng Đăng)). Bắt đầu: 14:05 "
        "26/11/2026.")
