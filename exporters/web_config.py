"""`--web.config.file`: TLS and basic auth for the listener, in exporter-toolkit's format.

The file Prometheus, Alertmanager and node_exporter read (prometheus/exporter-toolkit,
docs/web-configuration.md), so one file and one habit serve them all:

    tls_server_config:
      cert_file: server.crt          # relative paths: relative to this file
      key_file: server.key
      min_version: TLS12             # TLS10..TLS13; max_version too
      client_auth_type: RequireAndVerifyClientCert   # with client_ca_file
      client_ca_file: clients-ca.crt
    http_server_config:
      headers: {X-Frame-Options: deny}
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt hashes only, never a password

The same rules hold for every route. Options of the format that Python's `ssl` cannot
honour (Go cipher-suite and curve names, a client certificate requested but not
verified, inline PEM, rate limits, SAN allow-lists) are refused with a message, never
ignored. Every problem is reported as `file:line: field: message`; a problem never
quotes a value that may be secret (hashes, keys).
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderwatch.collector.inventory.errors import InventoryError, Issue, Loc
from borderwatch.collector.inventory.yaml_lines import read_yaml

MAX_BYTES = 1024 * 1024
TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# exporter-toolkit's client_auth_type values that Python's ssl can enforce.
CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
               "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
# exporter-toolkit's extraHTTPHeaders: the headers a web config may set, with their values
# where the set is closed.
HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (), "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"), "X-XSS-Protection": (),
    "Content-Security-Policy": ()}
_TLS_KEYS = ("cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version",
             "max_version", "prefer_server_cipher_suites")
_NOT_HERE = {
    "cert": "inline PEM is not supported; put the certificate in a file and use cert_file",
    "key": "inline PEM is not supported; put the key in a file and use key_file",
    "client_ca": "inline PEM is not supported; use client_ca_file",
    "cipher_suites": "Go cipher-suite names are not supported (Python's ssl chooses "
                     "modern suites); remove it",
    "curve_preferences": "Go curve names are not supported; remove it",
    "client_allowed_sans": "not supported; use a client CA that signs only allowed clients",
}
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class WebConfigError(InventoryError):
    """The web config cannot be used; `.problems` lists every problem (file:line: field)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """tls_server_config, paths resolved."""

    cert_file: Path
    key_file: Path
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    client_ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the listener needs from the web config file (empty: plain HTTP, no auth)."""

    tls: TlsSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None  # built and checked at load time

    @property
    def auth(self) -> bool:
        """True when every request needs a user."""
        return bool(self.users)


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read, validate and build the web config (TLS context included).

    Raises WebConfigError with every problem found; OSError propagates for a file that
    cannot be read at all, as with the inventory.
    """
    try:
        located = read_yaml(path, max_bytes=MAX_BYTES)
    except InventoryError as exc:
        raise WebConfigError(exc.problems) from None
    issues = list(located.issues)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise WebConfigError(located.problems([Issue((), "the web config must be a mapping "
                                                     "(tls_server_config, basic_auth_users, "
                                                     "http_server_config)")]))
    base = Path(path).resolve().parent
    _unknown(data, (), ("tls_server_config", "http_server_config", "basic_auth_users"),
             {"rate_limit": "not supported; put a reverse proxy in front for rate limits"},
             issues)
    tls = _tls(data.get("tls_server_config"), base, issues)
    users = _users(data.get("basic_auth_users"), issues)
    headers = _http(data.get("http_server_config"), issues)
    context = None
    if tls is not None and not issues:
        context = _context(tls, issues)
    if issues:
        raise WebConfigError(located.problems(issues))
    return WebConfig(tls, users, headers, context)


def _unknown(block: dict, loc: Loc, allowed: tuple[str, ...], refused: Mapping[str, str],
             issues: list[Issue]) -> None:
    for key in block:
        if key in refused:
            issues.append(Issue((*loc, key), refused[key]))
        elif key not in allowed:
            issues.append(Issue((*loc, key), f"unknown key; allowed: {', '.join(allowed)}"))


def _str(block: dict, loc: Loc, key: str, issues: list[Issue]) -> str | None:
    value = block.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        issues.append(Issue((*loc, key), "give a non-empty string"))
        return None
    return value


def _tls(block: Any, base: Path, issues: list[Issue]) -> TlsSettings | None:
    loc: Loc = ("tls_server_config",)
    if block is None:
        return None
    if not isinstance(block, dict):
        issues.append(Issue(loc, "must be a mapping (cert_file, key_file, ...)"))
        return None
    _unknown(block, loc, _TLS_KEYS, _NOT_HERE, issues)
    cert, key = _str(block, loc, "cert_file", issues), _str(block, loc, "key_file", issues)
    for name, value in (("cert_file", cert), ("key_file", key)):
        if value is None and name not in block:
            issues.append(Issue(loc, f"{name} is required for TLS"))
    versions = {}
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        text = block.get(name, default)
        if text not in TLS_VERSIONS:
            issues.append(Issue((*loc, name), f"{text!r} is not a TLS version; allowed: "
                                f"{', '.join(TLS_VERSIONS)}"))
            text = default
        versions[name] = TLS_VERSIONS[text]
    if versions["min_version"] > versions["max_version"]:
        issues.append(Issue((*loc, "min_version"), "is above max_version"))
    auth_text = block.get("client_auth_type", "NoClientCert")
    if auth_text in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
        issues.append(Issue((*loc, "client_auth_type"), f"{auth_text} (a certificate "
                            "asked for but not verified) is not supported; use "
                            "RequireAndVerifyClientCert with client_ca_file"))
        auth_text = "NoClientCert"
    elif auth_text not in CLIENT_AUTH:
        issues.append(Issue((*loc, "client_auth_type"), f"{auth_text!r} is not allowed; "
                            f"allowed: {', '.join(CLIENT_AUTH)}"))
        auth_text = "NoClientCert"
    ca = _str(block, loc, "client_ca_file", issues)
    client_auth = CLIENT_AUTH[auth_text]
    if ca is not None and client_auth is ssl.CERT_NONE:
        issues.append(Issue((*loc, "client_ca_file"), "a client CA without client_auth_type "
                            "(RequireAndVerifyClientCert or VerifyClientCertIfGiven)"))
    if ca is None and client_auth is not ssl.CERT_NONE:
        issues.append(Issue((*loc, "client_auth_type"), f"{auth_text} needs client_ca_file"))
    prefer = block.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        issues.append(Issue((*loc, "prefer_server_cipher_suites"), "give true or false"))
    if cert is None or key is None:
        return None
    return TlsSettings(base / cert, base / key, versions["min_version"],
                       versions["max_version"], client_auth,
                       base / ca if ca is not None else None)


def _users(block: Any, issues: list[Issue]) -> dict[str, bytes]:
    loc: Loc = ("basic_auth_users",)
    if block is None:
        return {}
    if not isinstance(block, dict):
        issues.append(Issue(loc, "must be a mapping of user name to bcrypt hash"))
        return {}
    users = {}
    for name, hashed in block.items():
        where = (*loc, name)
        if not isinstance(name, str) or not name or ":" in name:
            issues.append(Issue(where, "a user name is a non-empty string without ':'"))
            continue
        if not isinstance(hashed, str) or not _is_bcrypt(hashed):
            # (the value is not quoted: it may be a password typed in by mistake)
            issues.append(Issue(where, "not a bcrypt hash ($2y$, $2b$ or $2a$, cost 4..31, "
                                "60 characters); make one with `htpasswd -nBC 10 \"\" | "
                                "tr -d ':\\n'` (see docs/web-config.md)"))
            continue
        users[name] = hashed.encode()
    return users


def _is_bcrypt(text: str) -> bool:
    if len(text) != 60 or not text.startswith(_BCRYPT_PREFIXES) or text[6] != "$":
        return False
    cost = text[4:6]
    return cost.isdigit() and 4 <= int(cost) <= 31


def _http(block: Any, issues: list[Issue]) -> dict[str, str]:
    loc: Loc = ("http_server_config",)
    if block is None:
        return {}
    if not isinstance(block, dict):
        issues.append(Issue(loc, "must be a mapping (headers, http2)"))
        return {}
    _unknown(block, loc, ("headers", "http2"), {}, issues)
    if not isinstance(block.get("http2", False), bool):
        issues.append(Issue((*loc, "http2"), "give true or false (borderwatch serves "
                            "HTTP/1.1 either way)"))
    headers = block.get("headers") or {}
    if not isinstance(headers, dict):
        issues.append(Issue((*loc, "headers"), "must be a mapping of header to value"))
        return {}
    out = {}
    for name, value in headers.items():
        where = (*loc, "headers", name)
        if name not in HEADERS:
            issues.append(Issue(where, f"this header cannot be set; allowed: "
                                f"{', '.join(HEADERS)}"))
        elif not isinstance(value, str):
            issues.append(Issue(where, "give a string"))
        elif HEADERS[name] and value not in HEADERS[name]:
            issues.append(Issue(where, f"{value!r} is not allowed; allowed: "
                                f"{', '.join(HEADERS[name])}"))
        elif value:  # blank: unset, as in exporter-toolkit
            out[name] = value
    return out


def _context(tls: TlsSettings, issues: list[Issue]) -> ssl.SSLContext | None:
    """The server's SSLContext; unreadable or mismatched files become issues."""
    loc: Loc = ("tls_server_config",)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = tls.min_version
    context.maximum_version = tls.max_version
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    missing = [(name, path) for name, path in (("cert_file", tls.cert_file),
                                                 ("key_file", tls.key_file))
               if not path.is_file()]
    for name, path in missing:
        issues.append(Issue((*loc, name), f"no such file: {path}"))
    try:
        if not missing:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError) as exc:
        # (the library's reason only: never the key's bytes)
        issues.append(Issue((*loc, "cert_file"), f"cannot load the certificate "
                            f"{tls.cert_file} with the key {tls.key_file}: "
                            f"{getattr(exc, 'reason', None) or exc.strerror or 'bad PEM'}"))
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except FileNotFoundError:
            issues.append(Issue((*loc, "client_ca_file"), f"no such file: {tls.client_ca_file}"))
        except (ssl.SSLError, OSError, ValueError) as exc:
            issues.append(Issue((*loc, "client_ca_file"), f"cannot load {tls.client_ca_file}: "
                                f"{getattr(exc, 'reason', None) or 'bad PEM'}"))
        context.verify_mode = tls.client_auth
    return None if issues else context


def check_web_config(path: str | os.PathLike[str]) -> int:
    """`borderwatch check --web.config.file FILE`: print every problem, or a summary line;
    0 valid, 1 problems, 2 the file cannot be read (the inventory check's codes)."""
    try:
        config = load_web_config(path)
    except WebConfigError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{path}: {len(exc.problems)} problem{'' if len(exc.problems) == 1 else 's'}")
        return 1
    except OSError as exc:
        print(f"{path}: cannot read the web config: {exc.strerror or exc}", file=sys.stderr)
        return 2
    users = len(config.users)
    print(f"{path}: {'TLS' if config.tls else 'no TLS'}, "
          f"{users} basic-auth user{'' if users == 1 else 's'}, OK")
    return 0
