"""Rules that span objects: duplicate ids, references to sites/devices/interfaces/credentials,
same agent twice, names that differ only in Unicode form, each device's effective timing.

They run on the raw data with each object validated on its own, so that one broken device
does not hide the rest of the file's problems; an object that failed validation is skipped
here (its own errors are already reported), but its id still counts as defined.
"""

from __future__ import annotations

import contextlib
import difflib
import unicodedata
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from borderwatch.collector.inventory.errors import Issue, Loc
from borderwatch.collector.inventory.models import Defaults, Device, LinkEnd, Site, timing_errors


def _valid(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _lenient_defaults(raw: Any) -> Defaults | None:
    """The defaults with any invalid field replaced by its built-in value.

    The invalid fields are reported by the whole-file validation; this keeps the per-device
    checks running on the rest.
    """
    if raw is None:
        return Defaults()
    if not isinstance(raw, dict):
        return None
    valid = _valid(Defaults, raw)
    if valid is not None:
        return valid
    fields = {}
    for name, info in Defaults.model_fields.items():
        if name in raw:
            with contextlib.suppress(ValidationError):
                fields[name] = TypeAdapter(Annotated[info.annotation, info]).validate_python(
                    raw[name])
    return Defaults.model_construct(**fields)


def _items(raw: Any, key: str) -> list[tuple[int, dict]]:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _where(lines: dict[Loc, int], loc: Loc, template: str) -> str:
    """' (line N)'-style text when the line is known (it is not for models built in code)."""
    return template.format(lines[loc]) if loc in lines else ""


def _hint(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""


@dataclass
class _DeviceEntry:
    loc: Loc
    site_id: Any
    raw: dict
    model: Device | None


@dataclass
class _Index:
    """What each id refers to, with the location of its first definition."""

    sites: dict[str, Loc] = field(default_factory=dict)
    devices: dict[str, _DeviceEntry] = field(default_factory=dict)
    links: dict[str, Loc] = field(default_factory=dict)


def check_crossrefs(data: Any, lines: dict[Loc, int]) -> list[Issue]:
    """Every cross-object problem in the raw inventory `data`."""
    issues: list[Issue] = []
    index = _Index()
    defaults = _lenient_defaults(data.get("defaults")) if isinstance(data, dict) else None
    credentials = data.get("credentials") if isinstance(data, dict) else None
    cred_names = sorted(str(k) for k in credentials) if isinstance(credentials, dict) else []

    def first(kind: str, ident: Any, loc: Loc, seen: dict) -> bool:
        if not isinstance(ident, str):
            return False
        if ident in seen:
            prev = seen[ident].loc if isinstance(seen[ident], _DeviceEntry) else seen[ident]
            issues.append(Issue((*loc, "id"), f"duplicate {kind} id '{ident}'"
                                f"{_where(lines, prev, ' (first defined on line {})')}"))
            return False
        return True

    names: dict[str, tuple[Loc, str]] = {}
    for i, raw_site in _items(data, "sites"):
        loc: Loc = ("sites", i)
        site_id = raw_site.get("id")
        if first("site", site_id, loc, index.sites):
            index.sites[site_id] = loc
        header = _valid(Site, {**raw_site, "devices": []})
        if header is not None:
            _check_name(header, raw_site.get("name"), loc, names, lines, issues)
        for j, raw_dev in _items(raw_site, "devices"):
            dloc: Loc = (*loc, "devices", j)
            entry = _DeviceEntry(dloc, site_id, raw_dev, _valid(Device, raw_dev))
            if first("device", raw_dev.get("id"), dloc, index.devices):
                index.devices[raw_dev["id"]] = entry
            if entry.model is not None:
                _check_device(entry, cred_names, defaults, issues)

    _check_same_agent(index, defaults, lines, issues)

    for i, raw_link in _items(data, "links"):
        loc = ("links", i)
        if first("link", raw_link.get("id"), loc, index.links):
            index.links[raw_link["id"]] = loc
        for end in ("a", "b"):
            link_end = _valid(LinkEnd, raw_link.get(end))
            if link_end is not None:
                _check_end(link_end, (*loc, end), index, issues)
    _check_candidates(data, index, issues)
    return issues


def _check_candidates(data: Any, index: _Index, issues: list[Issue]) -> None:
    """`reports.candidate_links` join existing sites (the report weighs them on the graph)."""
    reports = data.get("reports") if isinstance(data, dict) else None
    for i, raw in _items(reports, "candidate_links"):
        for end in ("a", "b"):
            site = raw.get(end)
            if isinstance(site, str) and site not in index.sites:
                issues.append(Issue(("reports", "candidate_links", i, end),
                                    f"unknown site '{site}'{_hint(site, list(index.sites))}"))


def _check_name(site: Site, raw_name: Any, loc: Loc, names: dict, lines: dict,
                issues: list[Issue]) -> None:
    other = names.get(site.name)
    if other is None:
        names[site.name] = (loc, raw_name, site.id)
        return
    other_loc, other_raw, other_id = other
    forms = ""
    if other_raw != raw_name:
        def form(text: str) -> str:
            return "NFC" if unicodedata.is_normalized("NFC", text) else "NFD"
        forms = (f" once both are normalised to Unicode NFC (this one is written in "
                 f"{form(raw_name)}, that one in {form(other_raw)})")
    issues.append(Issue((*loc, "name"), f"site name '{site.name}' is also the name of site "
                        f"{other_id}{_where(lines, other_loc, ' (line {})')}{forms}"))


def _check_device(entry: _DeviceEntry, cred_names: list[str], defaults: Defaults | None,
                  issues: list[Issue]) -> None:
    dev = entry.model
    assert dev is not None
    if dev.credential is not None and dev.credential not in cred_names:
        defined = ", ".join(cred_names) if cred_names else "none"
        issues.append(Issue((*entry.loc, "credential"), f"unknown credential "
                            f"'{dev.credential}'{_hint(dev.credential, cred_names)}; "
                            f"defined: {defined}"))
    seen: dict[str, int] = {}
    for k, iface in enumerate(dev.interfaces):
        if iface.name in seen:
            issues.append(Issue((*entry.loc, "interfaces", k, "name"), f"interface "
                                f"'{iface.name}' is declared twice on device {dev.id}"))
        seen[iface.name] = k
    overrides = [f for f in ("interval", "timeout", "retries", "poll_deadline")
                 if getattr(dev, f) is not None]
    if defaults is None or not overrides:
        return  # the defaults' own rules already ran on them
    interval = dev.interval if dev.interval is not None else defaults.interval
    timeout = dev.timeout if dev.timeout is not None else defaults.timeout
    retries = dev.retries if dev.retries is not None else defaults.retries
    for fld, _kind, msg, ctx in timing_errors(interval, timeout, retries,
                                              dev.poll_deadline or defaults.poll_deadline):
        where = fld if fld in overrides else overrides[0]
        issues.append(Issue((*entry.loc, where), msg.format(**ctx) + " (device overrides "
                            "merged with defaults)"))


def _check_same_agent(index: _Index, defaults: Defaults | None, lines: dict,
                      issues: list[Issue]) -> None:
    agents: dict[tuple, _DeviceEntry] = {}
    for entry in index.devices.values():
        dev = entry.model
        if dev is None or (dev.port is None and defaults is None) or not dev.snmp:
            continue
        port = dev.port if dev.port is not None else defaults.port  # type: ignore[union-attr]
        key = (dev.address.lower(), port, dev.credential)
        if key in agents:
            other = agents[key]
            where = _where(lines, other.loc, " (line {})")
            issues.append(Issue((*entry.loc, "address"), f"device {dev.id} has the same "
                                f"address, port and credential as device {other.raw['id']}"
                                f"{where}: {dev.address} port {port} credential {dev.credential}"))
        else:
            agents[key] = entry


def _check_end(end: LinkEnd, loc: Loc, index: _Index, issues: list[Issue]) -> None:
    if end.site not in index.sites:
        issues.append(Issue((*loc, "site"), f"unknown site '{end.site}'"
                            f"{_hint(end.site, list(index.sites))}"))
    entry = index.devices.get(end.device)
    if entry is None:
        issues.append(Issue((*loc, "device"), f"unknown device '{end.device}'"
                            f"{_hint(end.device, list(index.devices))}"))
        return
    if end.site in index.sites and entry.site_id != end.site:
        issues.append(Issue((*loc, "device"), f"device {end.device} is at site "
                            f"{entry.site_id}, not at {end.site}"))
    if entry.model is None:
        return
    declared = [i.name for i in entry.model.interfaces]
    if not declared:
        issues.append(Issue((*loc, "interface"), f"device {end.device} declares no "
                            f"interfaces; add '{end.interface}' to its interfaces list"))
    elif end.interface not in declared:
        issues.append(Issue((*loc, "interface"), f"interface '{end.interface}' is not "
                            f"declared on device {end.device}{_hint(end.interface, declared)}; "
                            f"declared: {', '.join(declared)}"))
