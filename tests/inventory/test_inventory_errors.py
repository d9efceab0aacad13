"""A49 and the single-rule table: every error carries file:line:field and the exact message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from inventory_helpers import FIXTURES, problems, write

from borderwatch.collector.inventory import InventoryError, load_inventory

A49_ENV = {"BW_TEST_COMMUNITY": "cnry-COMM-envval", "BW_TEST_AUTH": "cnry-AUTH-7f3a9c1"}

# Every A49 case, in file order, as (line, field, message); all come from ONE load.
A49_EXPECTED = [
    (7, "credentials.v2-dup-key.community",
     "duplicate key 'community' (first on line 6, again on line 7)"),
    (10, "credentials.v2-typo.comunity",
     "unknown key 'comunity' (did you mean 'community'?); allowed keys: version, community, "
     "community_env, community_file, user, auth_protocol, auth_key, auth_key_env, "
     "auth_key_file, priv_protocol, priv_key, priv_key_env, priv_key_file, context"),
    (17, "credentials.v3-no-priv-key.priv_protocol",
     "priv_protocol AES-256 (authPriv) needs a priv_key: give exactly one of priv_key_env, "
     "priv_key_file or priv_key"),
    (19, "defaults.timeout", "0 is out of range; must be > 0 and ≤ 86400, or auto"),
    (20, "defaults.port", "70000 is out of range; must be ≥ 1 and ≤ 65535"),
    (27, "sites[post-a].devices[sw1].address", "'127.0.0.300' is not a valid IPv4 address"),
    (29, "sites[post-a].devices[sw1].id", "duplicate device id 'sw1' (first defined on line 26)"),
    (32, "sites[post-a].devices[sw1].port", "0 is out of range; must be ≥ 1 and ≤ 65535"),
    (39, "sites[post-a].devices[sw3].interval",
     "interval 10 s is shorter than timeout × (retries + 1) = 5 × 3 = 15 s; raise interval "
     "or lower timeout/retries (device overrides merged with defaults)"),
    (42, "sites[post-b].name",
     "site name 'Đồn Biên phòng Bảo Lâm' is also the name of site post-a (line 22) once both "
     "are normalised to Unicode NFC (this one is written in NFD, that one in NFC)"),
    (46, "sites[post-b].devices[sw4].address",
     "device sw4 has the same address, port and credential as device sw3 (line 34): "
     "127.0.0.12 port 161 credential v2-typo"),
    (51, "links[L1].a.interface",
     "interface 'Gi0/2' is not declared on device sw3 (did you mean 'Gi0/1'?); declared: Gi0/1"),
    (52, "links[L1].b.device", "unknown device 'sw9' (did you mean 'sw4'?)"),
]


def test_a49_every_error_of_the_file_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "a49.yaml"
    shutil.copy(FIXTURES / "a49_all_errors.yaml", path)
    path.chmod(0o600)
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=A49_ENV)
    got = [(p.line, p.field, p.message) for p in info.value.problems]
    assert got == A49_EXPECTED
    # str() is one `file:line: field: message` per problem, nothing else.
    lines = str(info.value).splitlines()
    assert lines == [f"{path}:{line}: {field}: {msg}" for line, field, msg in A49_EXPECTED]
    # The inline community draws a warning that names the line, not the value.
    assert [str(w) for w in info.value.warnings] == [
        f"{path}:6: credentials.v2-dup-key.community: warning: the community is written inline "
        "in the inventory (value not shown); move it to community_env or community_file"]


BASE = """\
schema_version: 1
credentials:
  c: {{version: 2c, community_env: BW_C}}
{creds}
defaults: {{{defaults}}}
sites:
  - id: s1
    name: Nút Đồng Đăng
    kind: {kind}
    {site}
    devices:
      - {{id: d1, address: {address}, credential: {cred}, interfaces: [eth-1]{device}}}
      - {{id: d2, address: 127.0.0.11, credential: c, interfaces: [eth-1, eth-2]}}
  - id: s2
    name: Đồn Biên phòng Bảo Lâm
    kind: border_post
    devices: [{{id: d3, address: 127.0.0.12, credential: c, interfaces: [eth-1]}}]
links:
  - {{id: L1, medium: {medium}, capacity_mbps: 100,
     a: {{site: s1, device: d1, interface: eth-1}},
     b: {{site: {b_site}, device: {b_device}, interface: {b_iface}}}{link}}}
"""
SLOTS = dict(creds="", defaults="", kind="hub", site="", address="127.0.0.10", cred="c",
             device="", medium="fiber", b_site="s1", b_device="d2", b_iface="eth-1", link="")

# (case id, slot overrides, expected [(line, field, message)]): one rule each.
CASES = [
    ("valid", {}, []),
    ("valid-hostname", {"address": "ups-1.lab.example"}, []),
    ("valid-ipv6", {"address": "'::1'"}, []),
    ("valid-v3-aliases", {"creds": "  v3: {version: 3, user: u, auth_protocol: sha256, "
                          "auth_key_env: BW_C, priv_protocol: AES, priv_key_env: BW_C}"}, []),
    ("snmp-version", {"creds": "  x: {version: 4, community_env: BW_C}"},
     [(4, "credentials.x.version", "unknown SNMP version '4'; allowed: 1, 2c, 3")]),
    ("auth-protocol", {"creds": "  x: {version: 3, user: u, auth_protocol: SHA-1024, "
                       "auth_key_env: BW_C}"},
     [(4, "credentials.x.auth_protocol", "not a known auth protocol (value not shown); "
       "allowed: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512")]),
    ("priv-protocol", {"creds": "  x: {version: 3, user: u, auth_protocol: SHA, auth_key_env: "
                       "BW_C, priv_protocol: 3DES, priv_key_env: BW_C}"},
     [(4, "credentials.x.priv_protocol", "not a known priv protocol (value not shown); "
       "allowed: DES, AES-128, AES-192, AES-256")]),
    ("two-sources", {"creds": "  x: {version: 2c, community: cnry-INLINE, community_env: BW_C}"},
     [(4, "credentials.x.community_env", "community is given more than once (community, "
       "community_env); give exactly one of community_env, community_file or community (or "
       "community_env with community_file as its fallback)")]),
    ("no-source", {"creds": "  x: {version: 1}"},
     [(4, "credentials.x", "needs a community: give exactly one of community_env, "
       "community_file or community")]),
    ("v3-field-on-v2c", {"creds": "  x: {version: 2c, community_env: BW_C, user: u}"},
     [(4, "credentials.x.user", "user is only used with version 3 (this credential is "
       "version 2c)")]),
    ("community-on-v3", {"creds": "  x: {version: 3, user: u, community_env: BW_C}"},
     [(4, "credentials.x.community_env", "community_env is not used with version 3 (v3 uses "
       "user, auth_* and priv_*)")]),
    ("v3-no-user", {"creds": "  x: {version: 3}"},
     [(4, "credentials.x", "version 3 needs a user")]),
    ("priv-without-auth", {"creds": "  x: {version: 3, user: u, priv_protocol: AES, "
                           "priv_key_env: BW_C}"},
     [(4, "credentials.x.auth_protocol", "priv_protocol AES-128 needs an auth_protocol too "
       "(authPriv); allowed: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512")]),
    ("key-without-protocol", {"creds": "  x: {version: 3, user: u, auth_key_env: BW_C}"},
     [(4, "credentials.x.auth_key_env", "auth_key_env is given but auth_protocol is not; set "
       "auth_protocol or remove auth_key_env")]),
    ("env-name", {"creds": "  x: {version: 2c, community_env: not-a-name}"},
     [(4, "credentials.x.community_env", "not a valid environment variable name (letters, "
       "digits and '_', not starting with a digit); the value is not shown")]),
    ("timeout-negative", {"defaults": "timeout: -1"},
     [(5, "defaults.timeout", "-1 is out of range; must be > 0 and ≤ 86400, or auto")]),
    ("interval-vs-timeout", {"defaults": "interval: 5, timeout: 3, retries: 1"},
     [(5, "defaults.interval", "interval 5 s is shorter than timeout × (retries + 1) = 3 × 2 "
       "= 6 s; raise interval or lower timeout/retries")]),
    ("deadline-vs-interval", {"defaults": "interval: 10, poll_deadline: 11"},
     [(5, "defaults.poll_deadline", "poll_deadline 11 s is longer than interval 10 s; a poll "
       "must end before the next one is due")]),
    ("max-repetitions", {"defaults": "max_repetitions: 0"},
     [(5, "defaults.max_repetitions", "0 is out of range; must be ≥ 1 and ≤ 1000")]),
    ("retries-type", {"defaults": "retries: many"},
     [(5, "defaults.retries", "expected an integer or auto, got 'many'")]),
    ("defaults-unknown", {"defaults": "intervall: 30"},
     [(5, "defaults.intervall", "unknown key 'intervall' (did you mean 'interval'?); allowed "
       "keys: interval, timeout, retries, max_repetitions, port, max_in_flight, "
       "poll_deadline, icmp")]),
    ("kind", {"kind": "village"},
     [(9, "sites[s1].kind", "'village' is not allowed; allowed: core, hub, border_post, "
       "border_gate, commune")]),
    ("lat-range", {"site": "lat: 91\n    lon: 106.7"},
     [(10, "sites[s1].lat", "91 is out of range; must be ≥ -90 and ≤ 90")]),
    ("lat-without-lon", {"site": "lat: 21.9"},
     [(7, "sites[s1].lon", "lat and lon go together; lon is missing")]),
    ("gate-type-on-hub", {"site": "gate_type: international"},
     [(10, "sites[s1].gate_type", "gate_type is only for kind border_gate (this site is hub)")]),
    ("ipv4", {"address": "10.0.0.256"},
     [(12, "sites[s1].devices[d1].address", "'10.0.0.256' is not a valid IPv4 address")]),
    ("ipv6", {"address": "'fe80::zz'"},
     [(12, "sites[s1].devices[d1].address", "'fe80::zz' is not a valid IPv6 address")]),
    ("hostname", {"address": "bad_host.example"},
     [(12, "sites[s1].devices[d1].address", "'bad_host.example' is not a valid IPv4 address, "
       "IPv6 address or host name")]),
    ("address-number", {"address": "10.5"},
     [(12, "sites[s1].devices[d1].address", "must be a string holding an IPv4 address, IPv6 "
       "address or host name (quote it in YAML)")]),
    ("port-70000", {"device": ", port: 70000"},
     [(12, "sites[s1].devices[d1].port", "70000 is out of range; must be ≥ 1 and ≤ 65535")]),
    ("unknown-credential", {"cred": "cc"},
     [(12, "sites[s1].devices[d1].credential", "unknown credential 'cc' (did you mean 'c'?); "
       "defined: c")]),
    ("profile", {"device": ", profile: [if-mib, lldp]"},
     [(12, "sites[s1].devices[d1].profile", "unknown profile 'lldp'; allowed: auto, or a list "
       "of: system, if-mib, ups-mib, airmax, host-resources, entity-sensor, microwave-radio, "
       "vsat-modem, dc-power")]),
    ("device-unknown-key", {"device": ", ip: 127.0.0.9"},
     [(12, "sites[s1].devices[d1].ip", "unknown key 'ip' (did you mean 'icmp'?); allowed keys: "
       "id, address, credential, snmp, icmp, port, profile, interval, timeout, retries, "
       "max_repetitions, poll_deadline, "
       "accept_any_source, limits, role, vendor, model, engine_id, sim_profile, interfaces, "
       "notes")]),
    ("limits-range", {"device": ", limits: {rows_per_table: 0}"},
     [(12, "sites[s1].devices[d1].limits.rows_per_table",
       "0 is out of range; must be ≥ 1 and ≤ 1000000")]),
    ("limits-unknown", {"device": ", limits: {rows_per_tabel: 10}"},
     [(12, "sites[s1].devices[d1].limits.rows_per_tabel",
       "unknown key 'rows_per_tabel' (did you mean 'rows_per_table'?); allowed keys: "
       "rows_per_table, requests_per_poll, samples_per_poll")]),
    ("limits-ok", {"device": ", limits: {rows_per_table: 4096, requests_per_poll: 2000}"}, []),
    ("device-timeout-overrun", {"device": ", timeout: 40"},
     [(12, "sites[s1].devices[d1].timeout", "interval 60 s is shorter than timeout × (retries "
       "+ 1) = 40 × 2 = 80 s; raise interval or lower timeout/retries (device overrides merged "
       "with defaults)")]),
    ("same-agent", {"address": "127.0.0.11"},
     [(13, "sites[s1].devices[d2].address", "device d2 has the same address, port and "
       "credential as device d1 (line 12): 127.0.0.11 port 161 credential c")]),
    ("same-address-other-port-ok", {"address": "127.0.0.11", "device": ", port: 1161"}, []),
    ("medium", {"medium": "fibre"},
     [(19, "links[L1].medium", "'fibre' is not allowed; allowed: fiber, microwave, vsat, "
       "radio")]),
    ("link-unknown-site", {"b_site": "s9"},
     [(21, "links[L1].b.site", "unknown site 's9'")]),
    ("link-unknown-site-near", {"b_site": "s-1"},
     [(21, "links[L1].b.site", "unknown site 's-1' (did you mean 's1'?)")]),
    ("link-device-elsewhere", {"b_site": "s2"},
     [(21, "links[L1].b.device", "device d2 is at site s1, not at s2")]),
    ("link-interface", {"b_iface": "eth1"},
     [(21, "links[L1].b.interface", "interface 'eth1' is not declared on device d2 (did you "
       "mean 'eth-1'?); declared: eth-1, eth-2")]),
    ("link-same-ends", {"b_device": "d1"},
     [(21, "links[L1].b", "both ends are d1 eth-1; a link joins two different interfaces")]),
    ("link-compact-form", {"link": ", a_device: d1"},
     [(21, "links[L1].a_device", "unknown key 'a_device': link ends are written a: {site: ..., "
       "device: ..., interface: ...} and b: {...}")]),
]


@pytest.mark.parametrize(("slots", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_rule(tmp_path: Path, slots: dict, expected: list) -> None:
    path = write(tmp_path, BASE.format(**{**SLOTS, **slots}))
    assert problems(path, env={"BW_C": "cnry-COMM-7f3a9c"}) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("", [(None, "(document)", "expected a mapping (key: value), got null")]),
    ("- a\n- b\n", [(1, "(document)", "expected a mapping (key: value), got a list")]),
    ("schema_version: 2\n", [(1, "schema_version", "2 is not allowed; allowed: 1")]),
    ("province: Lạng Sơn\n", [(1, "schema_version", "required key 'schema_version' is missing")]),
    ("schema_version: 1\nsites:\n  - {id: a, name: A, kind: hub}\n"
     "  - {id: a, name: B, kind: hub}\n",
     [(4, "sites[a].id", "duplicate site id 'a' (first defined on line 3)")]),
    ("schema_version: 1\nsites:\n  - {id: 'a b', name: A, kind: hub}\n",
     [(3, "sites[a b].id", "'a b' is not a valid id: use letters, digits, '.', '_' or '-', "
       "starting and ending with a letter or digit, at most 64 characters")]),
    ("schema_version: 1\nsites:\n  - {id: a, name: A, kind: hub, devices: [{id: d, address: h,"
     " credential: c, interfaces: [x, {name: y, if_index: 0}]}]}\ncredentials: "
     "{c: {version: 1, community_env: E}}\n",
     [(3, "sites[a].devices[d].interfaces[1].if_index", "0 is out of range; must be ≥ 1 and "
       "≤ 2147483647")]),
    ("schema_version: 1\nsites:\n  - {id: a, name: A, kind: hub, devices: [{id: d, address: h,"
     " credential: c, interfaces: [x, y, x]}]}\ncredentials: {c: {version: 1, community: p}}\n",
     [(3, "sites[a].devices[d].interfaces[2].name", "interface 'x' is declared twice on "
       "device d")]),
    ("schema_version: 1\nsites:\n  - id: a\n    name: A\n    kind: hub\n  - id: b\n"
     "    name: A\n    kind: hub\n",
     [(7, "sites[b].name", "site name 'A' is also the name of site a (line 3)")]),
    ("schema_version: 1\nlinks:\n  - {id: L, medium: radio, capacity_mbps: 0,\n"
     "     a: {site: x, device: y, interface: z},\n     b: {site: x, device: y2}}\n",
     [(3, "links[L].capacity_mbps", "0 is out of range; must be > 0"),
      (4, "links[L].a.site", "unknown site 'x'"),
      (4, "links[L].a.device", "unknown device 'y'"),
      (5, "links[L].b.interface", "required key 'interface' is missing")]),
])
def test_document_level(tmp_path: Path, text: str, expected: list) -> None:
    assert problems(write(tmp_path, text), env={"E": "x"}) == expected
