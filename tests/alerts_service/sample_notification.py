"""A notification as the engine makes it, for notifier tests: a fibre cut behind a hub
leaving two sites cut off (one of them on battery), then its resolve."""

from __future__ import annotations

from borderwatch.alerts.notification import Cause, Notification, PowerNote, SiteRef

HUB = SiteRef("hub-dongdang", "Nút truyền dẫn Đồng Đăng", "hub", "Dong Dang node",
              "thị trấn Đồng Đăng")
POST = SiteRef("bp-thanhloa", "Đồn Biên phòng Thanh Lòa", "border_post", None, "xã Thanh Lòa")
GATE = SiteRef("ck-coc-nam", "Cửa khẩu Cốc Nam", "border_gate", "Coc Nam border gate",
               "xã Tân Mỹ")
SINCE = 1795693105.0  # 2026-11-26 18:38:25 +07:00


def fibre_cut(status: str = "firing", at: float = SINCE + 5) -> Notification:
    """Firing (reason new) or resolved notification of the L27 cut."""
    resolved = status == "resolved"
    return Notification(
        incident_key="reach:link:L27", group="reach:link:L27", status=status,
        reason="resolved" if resolved else "new", severity="critical", headline="isolation",
        root_cause=(Cause("link:L27", "link", "L27", "fiber", (HUB, POST)),),
        cut_off=(POST, GATE), down_sites=(), redundancy_lost=(), alerts=(),
        power=() if resolved else (PowerNote(GATE, SINCE - 60, 2700.0, SINCE),),
        since=SINCE, at=at, ended_at=at if resolved else None,
        labels={"alertname": "SiteIsolated", "severity": "critical",
                "incident": "reach:link:L27", "root_cause": "link:L27",
                "sites": "bp-thanhloa,ck-coc-nam"},
        annotations={"summary_vi": "(see render)", "summary_en": "(see render)"})
