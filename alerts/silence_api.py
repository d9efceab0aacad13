"""Silences over HTTP on the running service: list, create (with expiry), expire.

    GET    /api/silences               every silence, newest first, with its state
    POST   /api/silences               {"matchers": ["site=bp-thanhloa"], "duration": "2h",
                                        "created_by": "trucban", "comment": "..."} → 201
    DELETE /api/silences/{id}          expire it now → 200

A silence mutes notifications of the incidents whose labels match every matcher (see
alerts/silence.py); incidents are still evaluated and recorded. Silences live in the
engine state, which is saved at once, so they survive a restart.

Who may change silences is the listener's rule for every write route, applied before
these handlers run (exporters/http_auth.py): an authenticated user when the web config
has basic_auth_users; without users, a loopback peer of a loopback-only listener; a
silence mutes pages. Changes come as a JSON body: a browser page elsewhere cannot send
`Content-Type: application/json` or DELETE across origins without a CORS preflight,
which is never answered.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from borderwatch.alerts.duration import DurationError, format_duration, parse_duration
from borderwatch.alerts.silence import Matcher, Silence

if TYPE_CHECKING:
    from borderwatch.alerts.service_hook import AlertService

log = logging.getLogger(__name__)

DEFAULT_DURATION = 2 * 3600.0  # seconds, when neither ends_at nor duration is given
MAX_DURATION = 30 * 86400.0  # a silence longer than a month is a maintenance window
KEEP_EXPIRED = 7 * 86400.0  # seconds expired silences stay listed (dropped at the next add)
# the labels an incident has for silences (alerts.content.match_labels)
LABELS = ("alertname", "rule", "severity", "incident", "group", "site", "device", "link")
FIELDS = ("matchers", "starts_at", "ends_at", "duration", "created_by", "comment")


def iso(t: float) -> str:
    """RFC 3339 UTC time."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def state_of(silence: Silence, now: float) -> str:
    """pending (not started), active or expired."""
    if now < silence.starts_at:
        return "pending"
    return "active" if silence.active(now) else "expired"


def silence_json(silence: Silence, now: float) -> dict[str, Any]:
    """The API form of a silence."""
    return {"id": silence.id, "state": state_of(silence, now),
            "matchers": [{"name": m.name, "op": m.op, "value": m.value}
                         for m in silence.matchers],
            "matchers_text": [f"{m.name}{m.op}{m.value}" for m in silence.matchers],
            "starts_at": iso(silence.starts_at), "ends_at": iso(silence.ends_at),
            "created_by": silence.created_by, "comment": silence.comment}


class SilenceInputError(ValueError):
    """A request body that does not make a silence; the message says why."""


def _time(value: Any, field: str) -> float:
    """Epoch seconds from a number or an RFC 3339 / ISO 8601 time with an offset."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                raise SilenceInputError(f"{field}: {value!r} has no time zone; add Z or an "
                                        "offset such as +07:00")
            return parsed.timestamp()
    raise SilenceInputError(f"{field}: {value!r} is not a time; give RFC 3339 such as "
                            "2026-11-26T22:00:00+07:00, or epoch seconds")


def _matcher(item: Any, i: int) -> Matcher:
    try:
        if isinstance(item, str):
            matcher = Matcher.parse(item)
        elif isinstance(item, dict) and set(item) <= {"name", "op", "value"} and \
                isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
            matcher = Matcher(item["name"], item["value"], item.get("op", "="))
        else:
            raise ValueError("give 'name=value' or {\"name\": …, \"op\": …, \"value\": …}")
    except ValueError as exc:
        raise SilenceInputError(f"matchers[{i}]: {exc}") from None
    if matcher.name not in LABELS:
        raise SilenceInputError(f"matchers[{i}]: unknown label {matcher.name!r}; incidents "
                                f"have: {', '.join(LABELS)}")
    return matcher


def silence_from_request(data: Any, now: float) -> Silence:
    """Validate a POST body into a Silence (SilenceInputError with a clear message)."""
    if not isinstance(data, dict):
        raise SilenceInputError("the body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SilenceInputError(f"unknown field(s) {', '.join(unknown)}; allowed: "
                                f"{', '.join(FIELDS)}")
    raw = data.get("matchers")
    if not isinstance(raw, list) or not raw:
        raise SilenceInputError("matchers: give a non-empty list, e.g. [\"site=bp-thanhloa\"]")
    matchers = tuple(_matcher(item, i) for i, item in enumerate(raw))
    if all(m.op in ("!=", "!~") or (m.op == "=~" and m.value in (".*", "")) for m in matchers):
        raise SilenceInputError("matchers: at least one must select something (name=value or "
                                "a narrow name=~regex); this silence would mute everything")
    for field in ("created_by", "comment"):
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            raise SilenceInputError(f"{field}: required (who silences, and why)")
    starts = _time(data["starts_at"], "starts_at") if "starts_at" in data else now
    if "ends_at" in data and "duration" in data:
        raise SilenceInputError("give ends_at or duration, not both")
    if "ends_at" in data:
        ends = _time(data["ends_at"], "ends_at")
    else:
        try:
            length = parse_duration(data.get("duration", DEFAULT_DURATION))
        except DurationError as exc:
            raise SilenceInputError(f"duration: {exc}") from None
        ends = starts + length
    if ends <= max(starts, now):
        raise SilenceInputError("ends_at: the silence would be over already; it must end "
                                "after it starts and in the future")
    if ends - starts > MAX_DURATION:
        raise SilenceInputError(f"the silence lasts {format_duration(ends - starts)}; at "
                                f"most {format_duration(MAX_DURATION)} (use a maintenance "
                                "window in the rules file for longer work)")
    return Silence(matchers, starts, ends, data["created_by"].strip(),
                   data["comment"].strip())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class SilenceApi:
    """The handlers over one AlertService's engine."""

    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts

    async def list(self, request: web.Request) -> web.Response:
        """Every silence (expired ones too), newest first."""
        now = self.alerts.clocks.wall()  # silences are wall-clock appointments
        wanted = request.query.get("state")
        if wanted not in (None, "active", "pending", "expired"):
            return _error(400, "state: allowed values are active, pending, expired")
        items = sorted(self.alerts.engine.silences.values(),
                       key=lambda s: (s.starts_at, s.id), reverse=True)
        out = [silence_json(s, now) for s in items]
        if wanted is not None:
            out = [s for s in out if s["state"] == wanted]
        return web.json_response({"silences": out},
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def create(self, request: web.Request) -> web.Response:
        """Add a silence; 201 with it, 400 with the reason."""
        if request.content_type != "application/json":
            return _error(415, "send the silence as JSON (Content-Type: application/json)")
        try:
            data = json.loads(await request.read())
        except ValueError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        now = self.alerts.clocks.wall()  # silences are wall-clock appointments
        try:
            silence = silence_from_request(data, now)
        except SilenceInputError as exc:
            return _error(400, str(exc))
        silences = self.alerts.engine.silences
        for old in [s for s in silences.values() if s.ends_at < now - KEEP_EXPIRED]:
            del silences[old.id]  # the state file must not grow forever
        self.alerts.engine.add_silence(silence)
        self.alerts.save()  # on disk before we answer: it survives a restart
        log.warning("silence %s added by %s until %s: %s (%s)", silence.id, silence.created_by,
                    iso(silence.ends_at), ", ".join(f"{m.name}{m.op}{m.value}"
                                                    for m in silence.matchers),
                    silence.comment)
        return web.json_response(silence_json(silence, now), status=201,
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def expire(self, request: web.Request) -> web.Response:
        """End a silence now; 404 if unknown; expiring an expired one changes nothing."""
        silence_id = request.match_info["id"]
        engine = self.alerts.engine
        now = self.alerts.clocks.wall()  # silences are wall-clock appointments
        if silence_id not in engine.silences:
            return _error(404, f"no silence {silence_id!r}")
        state = state_of(engine.silences[silence_id], now)
        if state == "pending":
            # it never muted anything: drop it (a silence cannot end before it starts)
            out = {**silence_json(engine.silences.pop(silence_id), now), "state": "deleted"}
            self.alerts.save()
            log.warning("silence %s deleted before it started", silence_id)
            return web.json_response(out, dumps=lambda d: json.dumps(d, ensure_ascii=False))
        if state == "active":
            engine.expire_silence(silence_id, now)
            self.alerts.save()
            log.warning("silence %s expired", silence_id)
        return web.json_response(silence_json(engine.silences[silence_id], now),
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))


def attach_silence_api(app: web.Application, alerts: AlertService) -> None:
    """Add GET/POST /api/silences and DELETE /api/silences/{id} to the service's app.

    Call before the app starts (aiohttp freezes the router then). The app must be the
    listener's (exporters.http.MetricsApp): its middleware decides who may write.
    """
    api = SilenceApi(alerts)
    app.router.add_get("/api/silences", api.list)
    app.router.add_post("/api/silences", api.create)
    app.router.add_delete("/api/silences/{id}", api.expire)
