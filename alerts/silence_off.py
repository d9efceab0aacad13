"""The silence routes of a service without alerts: a clear JSON answer instead of a bare 404.

Silences belong to the alert engine, which runs only when the inventory has an `alerts:`
section. Without one, `borderwatch silence …` (or a script) would otherwise get aiohttp's
"404: Not Found" and no idea why; this says why, and `reason` lets a client tell it apart
from an unknown silence id.
"""

from __future__ import annotations

from aiohttp import web

REASON = "alerts_not_configured"
MESSAGE = ("alerts are not configured in this service's inventory (no alerts: section), so it "
           "has no silences; add an alerts: section (README, \"Alerts\") and restart the service")


async def _not_configured(request: web.Request) -> web.Response:
    return web.json_response({"error": MESSAGE, "reason": REASON}, status=404)


def attach_silences_off(app: web.Application) -> None:
    """Answer every silence route with the JSON error; call before the app starts."""
    app.router.add_route("*", "/api/silences", _not_configured)
    app.router.add_route("*", "/api/silences/{id}", _not_configured)
