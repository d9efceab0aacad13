"""Resolve credentials' secrets from environment variables and files into `Secret` objects.

Messages name the variable or file and the field, never the value. Files readable by
group or others get a warning naming the file and its mode (a `--strict-perms` refusal
is not implemented yet).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from borderwatch.collector.inventory.errors import Issue
from borderwatch.collector.inventory.models import Credential, Influx
from borderwatch.collector.secret import Secret

SECRET_NAMES = ("community", "auth_key", "priv_key")
MAX_SECRET_FILE = 64 * 1024
MIN_V3_KEY = 8  # RFC 3414 passphrases shorter than 8 octets are refused by net-snmp and pysnmp


def readable_by_others(mode: int) -> bool:
    """True when group or others may read a file with these permission bits."""
    return bool(mode & 0o044)


def perms_warning(subject: str, path: str, mode: int) -> str:
    """The A50 warning text: names the file and its mode, never the content."""
    return (f"{subject} is readable by group/others (mode {mode:04o}); "
            f"run chmod 600 {path}")


def _read_file(path: Path, shown: str) -> tuple[str | None, str | None, str | None]:
    """(value, error, warning) for a secret file; one trailing newline is dropped."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            raw = f.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        return None, f"cannot read secret file {shown}: {exc.strerror}", None
    warning = None
    if readable_by_others(mode):
        warning = perms_warning(f"secret file {shown}", shown, mode)
    if len(raw) > MAX_SECRET_FILE:
        return None, f"secret file {shown} is larger than {MAX_SECRET_FILE // 1024} kB", warning
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"secret file {shown} is not UTF-8 text", warning
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        return None, f"secret file {shown} is empty", warning
    return text, None, warning


def resolve_credential(name: str, cred: Credential, *, base_dir: Path,
                       env: Mapping[str, str], lab_command: str | None = None
                       ) -> tuple[Credential, list[Issue]]:
    """The credential with each secret as a `Secret`, and the issues found reading them.

    With both `X_env` and `X_file` the variable wins when it is set, else the file is read
    (as strictly as alone: missing, unreadable, empty or group/other-readable is reported).
    `lab_command`: given when only lab-simulated devices use this credential; a missing
    file then names it (`borderwatch lab` writes the community file on its first start).
    """
    issues: list[Issue] = []
    update: dict[str, Secret] = {}
    for secret in SECRET_NAMES:
        env_name = getattr(cred, f"{secret}_env")
        file_name = getattr(cred, f"{secret}_file")
        value: Secret | None = getattr(cred, secret)  # inline, already a Secret
        if env_name is not None and (file_name is None or env.get(env_name) is not None):
            loc = ("credentials", name, f"{secret}_env")
            text = env.get(env_name)
            if text is None:
                issues.append(Issue(loc, f"environment variable {env_name} is not set"))
            elif not text:
                issues.append(Issue(loc, f"environment variable {env_name} is empty"))
            else:
                value = Secret(text, source=f"environment variable {env_name}")
        elif file_name is not None:
            loc = ("credentials", name, f"{secret}_file")
            path = Path(file_name).expanduser()
            path = path if path.is_absolute() else base_dir / path
            text, error, warning = _read_file(path, str(path))
            if warning:
                issues.append(Issue(loc, warning, "warning"))
            if error:
                issues.append(Issue(loc, _fallback_error(error, env_name, path, lab_command)))
            elif text is not None:
                value = Secret(text, source=f"file {path}")
        else:
            loc = ("credentials", name, secret)
        if value is None:
            continue
        if secret != "community" and len(value.reveal()) < MIN_V3_KEY:
            issues.append(Issue(loc, f"the {secret.replace('_', ' ')} from {value.source} is "
                                f"shorter than {MIN_V3_KEY} characters (SNMPv3 needs at least "
                                f"{MIN_V3_KEY})"))
        update[secret] = value
    return cred.model_copy(update=update), issues


def _fallback_error(error: str, env_name: str | None, path: Path,
                    lab_command: str | None) -> str:
    """A file error; with a variable tried first, what to do to supply either."""
    if env_name is None:
        return error
    if path.exists():
        return f"environment variable {env_name} is not set, and {error}"
    if lab_command:
        return (f"environment variable {env_name} is not set and {path} does not exist: "
                f"start the lab once (`{lab_command}`), which writes the lab community there, "
                f"or set {env_name}")
    return (f"environment variable {env_name} is not set and secret file {path} does not "
            f"exist: set {env_name}, or create the file (mode 600)")


def inline_warnings(name: str, cred: Credential) -> list[Issue]:
    """A warning per secret written inline: it should move to an env variable or a file."""
    return [Issue(("credentials", name, s), f"the {s.replace('_', ' ')} is written inline in "
                  f"the inventory (value not shown); move it to {s}_env or {s}_file", "warning")
            for s in SECRET_NAMES if getattr(cred, s) is not None]


def resolve_all(data: Any, *, base_dir: Path, env: Mapping[str, str] | None,
                resolve: bool, file: str = "inventory.yaml"
                ) -> tuple[dict[str, Credential], list[Issue], bool]:
    """Resolve every credential that validates on its own (`file`: the inventory, for hints).

    Returns (credentials by name, issues, whether any secret is written inline).
    """
    env = os.environ if env is None else env
    raw = data.get("credentials") if isinstance(data, dict) else None
    out: dict[str, Credential] = {}
    issues: list[Issue] = []
    inline = False
    lab_only = _simulated_only(data)
    for name, raw_cred in (raw.items() if isinstance(raw, dict) else ()):
        try:
            cred = Credential.model_validate(raw_cred)
        except ValidationError:
            continue  # reported by the whole-file validation
        warnings = inline_warnings(str(name), cred)
        inline = inline or bool(warnings)
        issues += warnings
        if resolve:
            lab = f"borderwatch lab --inventory {file}" if str(name) in lab_only else None
            cred, found = resolve_credential(str(name), cred, base_dir=base_dir, env=env,
                                             lab_command=lab)
            issues += found
        out[str(name)] = cred
    return out, issues, inline


def _simulated_only(data: Any) -> set[str]:
    """Credentials whose devices (one at least) all have a `sim_profile`: lab credentials."""
    used: dict[str, bool] = {}
    sites = data.get("sites") if isinstance(data, dict) else None
    for site in sites if isinstance(sites, list) else ():
        devices = site.get("devices") if isinstance(site, dict) else None
        for device in devices if isinstance(devices, list) else ():
            if isinstance(device, dict) and isinstance(device.get("credential"), str):
                name = device["credential"]
                used[name] = used.get(name, True) and bool(device.get("sim_profile"))
    return {name for name, simulated in used.items() if simulated}


def resolve_influx(data: Any, *, base_dir: Path, env: Mapping[str, str] | None,
                   resolve: bool) -> tuple[Influx | None, list[Issue], bool]:
    """The `influx` section with its token as a `Secret` and its spool dir made absolute.

    Returns (section or None, issues, whether the token is written inline). A section that
    does not validate on its own gives None (its errors come from the whole-file check).
    """
    env = os.environ if env is None else env
    raw = data.get("influx") if isinstance(data, dict) else None
    if raw is None:
        return None, [], False
    try:
        influx = Influx.model_validate(raw)
    except ValidationError:
        return None, [], False
    issues: list[Issue] = []
    inline = influx.token is not None
    if inline:
        issues.append(Issue(("influx", "token"), "the token is written inline in the inventory "
                            "(value not shown); move it to token_env or token_file", "warning"))
    update: dict[str, Any] = {}
    spool_dir = Path(influx.spool.dir).expanduser()
    spool_dir = spool_dir if spool_dir.is_absolute() else base_dir / spool_dir
    update["spool"] = influx.spool.model_copy(update={"dir": str(spool_dir)})
    if resolve and influx.token_env is not None:
        loc = ("influx", "token_env")
        text = env.get(influx.token_env)
        if text is None:
            issues.append(Issue(loc, f"environment variable {influx.token_env} is not set"))
        elif not text:
            issues.append(Issue(loc, f"environment variable {influx.token_env} is empty"))
        else:
            update["token"] = Secret(text, source=f"environment variable {influx.token_env}")
    elif resolve and influx.token_file is not None:
        loc = ("influx", "token_file")
        path = Path(influx.token_file).expanduser()
        path = path if path.is_absolute() else base_dir / path
        text, error, warning = _read_file(path, str(path))
        if warning:
            issues.append(Issue(loc, warning, "warning"))
        if error:
            issues.append(Issue(loc, error))
        elif text is not None:
            update["token"] = Secret(text, source=f"file {path}")
    return influx.model_copy(update=update), issues, inline
