"""The resolve of an incident whose subject left the inventory (hot reload): its own tag and
text in both languages, never the recovery's ("ĐÃ KHÔI PHỤC", "responds again")."""

from __future__ import annotations

import pytest

from borderwatch.alerts import render
from borderwatch.alerts.notification import AlertRef, Cause, Notification, SiteRef
from borderwatch.alerts.notify.message import subject

HUB = SiteRef("hub", "Nút truyền dẫn Đồng Đăng", "hub")


def removed(alerts: tuple[AlertRef, ...]) -> Notification:
    return Notification(
        incident_key="reach:device:spare-sw@1", group="reach:device:spare-sw",
        status="resolved", reason="removed_from_inventory", severity="major",
        headline="device_down", root_cause=(Cause("device:spare-sw", "device", "spare-sw"),),
        cut_off=(), down_sites=(), redundancy_lost=(), alerts=alerts, power=(),
        since=1_796_000_000.0, at=1_796_000_600.0, ended_at=1_796_000_600.0)


DEVICE = AlertRef("DeviceUnreachable", "device_unreachable", "major", "device=spare-sw",
                  "inactive", None, site=HUB, device="spare-sw")
LINK = AlertRef("LinkDown", "link_down", "major", "link=L9", "inactive", None, link="L9")


@pytest.mark.parametrize(("alerts", "lang", "text"), [
    ((DEVICE,), "en", "[REMOVED FROM INVENTORY] Device spare-sw removed from the inventory; "
                      "the alert ends without a confirmed recovery."),
    ((DEVICE,), "vi", "[ĐÃ GỠ KHỎI DANH MỤC] Đã gỡ thiết bị spare-sw khỏi danh mục giám sát; "
                      "cảnh báo kết thúc mà không xác nhận được đã khôi phục."),
    ((DEVICE, LINK), "en", "[REMOVED FROM INVENTORY] Device spare-sw, link L9 removed from the "
                           "inventory; the alert ends without a confirmed recovery."),
], ids=["device-en", "device-vi", "device-and-link-en"])
def test_removed_text(alerts: tuple[AlertRef, ...], lang: str, text: str) -> None:
    assert render.render(removed(alerts), lang) == text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_removed_subject_is_not_a_recovery(lang: str) -> None:
    line = subject(removed((DEVICE,)), lang)
    assert line.startswith(f"[{render.REMOVED_TAG[lang]}] ")
    assert render.RESOLVED_TAG[lang] not in line
