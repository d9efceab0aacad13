"""`POST /-/reload`: reload the inventory now, as SIGHUP does (Prometheus' `/-/reload`).

Answers 200 with what changed (device ids only), or 500 with every problem of a refused
file (`file:line: field: message`, as `borderwatch check` prints them); the running
configuration stays then. Who may call it is the listener's rule for every write route,
applied before this handler runs (exporters/http_auth.py): an authenticated user when the
web config has basic_auth_users, else a loopback peer of a loopback-only listener.
"""

from __future__ import annotations

from aiohttp import web

from borderwatch.collector.reload import Reloader

RELOAD_KEY = web.AppKey("borderwatch_reloader", Reloader)


def attach_reload_api(app: web.Application, reloader: Reloader) -> None:
    """Add the route (before the app starts: aiohttp freezes the router then)."""
    app[RELOAD_KEY] = reloader
    app.router.add_post("/-/reload", _reload)


async def _reload(request: web.Request) -> web.Response:
    outcome = await request.app[RELOAD_KEY].reload("POST /-/reload")
    if not outcome.ok:
        return web.json_response({"status": "error", "problems": list(outcome.problems)},
                                 status=500)
    diff = outcome.diff
    assert diff is not None
    return web.json_response({
        "status": "ok", "added": list(diff.added), "removed": list(diff.removed),
        "changed": list(diff.changed), "unchanged": len(diff.unchanged),
        "topology_changed": diff.topology_changed,
        "restart_needed": list(diff.restart_needed)})
