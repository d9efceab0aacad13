"""`borderwatch silence add|list|expire`: manage the silences of a running service over its
HTTP API (alerts/silence_api.py), as amtool does for Alertmanager.

    borderwatch silence add site=bp-thanhloa link=L27 --duration 4h \\
        --comment "re-splicing L27" [--author NAME] [--start TIME | --until TIME]
    borderwatch silence list [--state active|pending|expired] [--json]
    borderwatch silence expire ID

Exit codes: 0 done, 1 the service refused or could not be reached, 2 usage.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9730"
ALERTS_OFF = "alerts_not_configured"  # the `reason` of alerts/silence_off.py
VN_TZ = timezone(timedelta(hours=7))
TIMEOUT = 10.0  # seconds per request


def add_silence_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Add `silence` with its verbs to the `borderwatch` sub-command parsers."""
    p = subparsers.add_parser(
        "silence", help="add, list or expire silences of the running service",
        description="Silences mute notifications of matching incidents for a while (the "
        "incidents are still evaluated and recorded). Talks to the running service's HTTP "
        "API; changes are accepted from the service's own host, or from a basic-auth user "
        "(docs/web-config.md).")
    p.add_argument("--url", default=os.environ.get("BORDERWATCH_URL", DEFAULT_URL),
                   help="the service's base URL (default: $BORDERWATCH_URL or %(default)s)")
    p.add_argument("--user", default=os.environ.get("BORDERWATCH_USER"),
                   help="basic-auth user when the service's --web.config.file has "
                   "basic_auth_users (default: $BORDERWATCH_USER); the password comes from "
                   "$BORDERWATCH_PASSWORD, else it is asked for")
    p.add_argument("--cacert", default=os.environ.get("BORDERWATCH_CACERT"),
                   help="CA certificate to trust for an https:// --url (default: "
                   "$BORDERWATCH_CACERT, else the system's)")
    verbs = p.add_subparsers(dest="action", required=True, metavar="add|list|expire")
    add = verbs.add_parser("add", help="add a silence; prints its id",
                           description="Add a silence: incidents whose labels match every "
                           "MATCHER send no notification until it ends. Prints its id.")
    add.add_argument("matchers", nargs="+", metavar="MATCHER",
                     help="label=value, label!=value, label=~regex or label!~regex; labels: "
                     "site, device, link, alertname, severity, incident, group, rule")
    add.add_argument("--comment", "-c", required=True, help="why (shown to colleagues)")
    add.add_argument("--author", "-a", default=_user(), help="who (default: %(default)s)")
    end = add.add_mutually_exclusive_group()
    end.add_argument("--duration", "-d", help="how long, e.g. 90m, 4h, 1d (default 2h)")
    end.add_argument("--until", help="end time, e.g. 2026-11-27T06:00:00+07:00")
    add.add_argument("--start", help="start time (default: now)")
    lst = verbs.add_parser("list", help="list silences (newest first)",
                           description="List the service's silences, newest first.")
    lst.add_argument("--state", choices=("active", "pending", "expired"),
                     help="only the silences in this state")
    lst.add_argument("--json", action="store_true", help="print the API's JSON")
    exp = verbs.add_parser("expire", help="end a silence now",
                           description="End silences now (a pending one is deleted).")
    exp.add_argument("ids", nargs="+", metavar="ID",
                     help="silence id, as `silence add` or `silence list` print it")
    return p


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a minimal container
        return "unknown"


class ApiError(Exception):
    """The service answered with an error, or could not be reached."""


class Client:
    """How to reach the service: its TLS trust and basic-auth header, if any (no proxy
    from http_proxy & co.: the service is usually on this host's loopback)."""

    def __init__(self, cacert: str | None = None, user: str | None = None,
                 password: str | None = None) -> None:
        handlers: list[Any] = [urllib.request.ProxyHandler({})]
        if cacert is not None:
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=cacert)))
        self.opener = urllib.request.build_opener(*handlers)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"


def _call(method: str, url: str, body: Any = None, client: Client | None = None) -> Any:
    client = client if client is not None else Client()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=client.headers)
    try:
        with client.opener.open(req, timeout=TIMEOUT) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
            message = answer.get("error") or exc.reason
        except (ValueError, AttributeError):
            answer, message = None, exc.reason
        if isinstance(answer, dict) and answer.get("reason") == ALERTS_OFF:
            raise ApiError(message) from None  # says itself what is wrong and what to do
        if exc.code == 404 and answer is None:
            # no JSON: the route itself is missing (a service from before alerts/silence_off)
            raise ApiError(f"the service at {url.split('/api/')[0]} has no silence API (404): "
                           "alerts are not configured in its inventory (no alerts: section)"
                           ) from None
        raise ApiError(f"the service answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(f"cannot reach the service at {url.split('/api/')[0]}: {reason}"
                       ) from None


def _local(iso_time: str) -> str:
    t = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return t.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")


def _table(silences: list[dict[str, Any]]) -> str:
    if not silences:
        return "no silences\n"
    rows = [("ID", "STATE", "STARTS (UTC+07)", "ENDS (UTC+07)", "BY", "MATCHERS", "COMMENT")]
    rows += [(s["id"], s["state"], _local(s["starts_at"]), _local(s["ends_at"]),
              s["created_by"], " ".join(s["matchers_text"]), s["comment"]) for s in silences]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " +
                   r[-1] + "\n" for r in rows)


def silence_command(args: argparse.Namespace) -> int:
    """Run `borderwatch silence …`; returns the exit code."""
    if not args.url.startswith(("http://", "https://")):
        print(f"borderwatch: silence: --url {args.url!r} must start with http:// or https://",
              file=sys.stderr)
        return 2
    base = args.url.rstrip("/") + "/api/silences"
    user = getattr(args, "user", None)
    password = os.environ.get("BORDERWATCH_PASSWORD")
    if user is not None and password is None:
        password = getpass.getpass(f"password of {user}: ")
    client = Client(getattr(args, "cacert", None), user, password)
    try:
        if args.action == "add":
            body: dict[str, Any] = {"matchers": args.matchers, "comment": args.comment,
                                    "created_by": args.author}
            if args.duration:
                body["duration"] = args.duration
            if args.until:
                body["ends_at"] = args.until
            if args.start:
                body["starts_at"] = args.start
            made = _call("POST", base, body, client)
            print(made["id"])
            print(f"silenced until {_local(made['ends_at'])} (UTC+07:00): "
                  f"{' '.join(made['matchers_text'])}", file=sys.stderr)
            return 0
        if args.action == "list":
            url = base + (f"?state={args.state}" if args.state else "")
            silences = _call("GET", url, client=client)["silences"]
            if args.json:
                print(json.dumps(silences, ensure_ascii=False, indent=2))
            else:
                sys.stdout.write(_table(silences))
            return 0
        if args.action == "expire":
            failed = 0
            for silence_id in args.ids:
                try:
                    done = _call("DELETE", f"{base}/{urllib.request.quote(silence_id)}",
                                 client=client)
                except ApiError as exc:
                    print(f"borderwatch: silence {silence_id}: {exc}", file=sys.stderr)
                    failed += 1
                else:
                    print(f"{done['id']} {done['state']}")
            return 1 if failed else 0
    except ApiError as exc:
        print(f"borderwatch: silence {args.action}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(args.action)  # argparse allows only the verbs above
