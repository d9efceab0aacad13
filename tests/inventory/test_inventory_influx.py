"""The inventory's `influx` section: defaults, token sources (env, file, inline), the spool
directory relative to the inventory, and the exact messages of its errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from inventory_helpers import problems, write

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.secret import Secret
from borderwatch.exporters.influx import WriterSettings

TOKEN = "cnry-TOKEN-7f3a9c"
HEAD = "schema_version: 1\ninflux:\n"
URL_MESSAGE = ("must be an http:// or https:// URL with a host and no user:password, query or "
               "fragment, e.g. http://127.0.0.1:8086 (the value is not shown; put the token in "
               "token_env or token_file)")


def inventory(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, HEAD + body)


def test_minimal_section_has_the_documented_defaults(tmp_path) -> None:
    path = inventory(tmp_path, "  url: http://127.0.0.1:8086\n  org: bw\n  bucket: borderwatch\n")
    influx = load_inventory(path, env={}).influx
    assert influx is not None
    assert (influx.batch_size, influx.flush_interval, influx.timeout, influx.gzip) == \
        (1000, 10.0, 5.0, True)
    assert (influx.retry_initial, influx.retry_max, influx.memory_points) == (1.0, 60.0, 20_000)
    assert influx.token is None  # no token: no Authorization header
    assert influx.spool.max_bytes == 256 * 2**20 and influx.spool.max_age == 7 * 86400
    # the spool directory is relative to the inventory file, made absolute by the loader
    assert influx.spool.dir == str(tmp_path / "var" / "spool" / "influx")


def test_no_section_means_no_influx(tmp_path) -> None:
    assert load_inventory(write(tmp_path, "schema_version: 1\n"), env={}).influx is None


def test_token_from_env_is_a_secret(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    path = inventory(tmp_path, "  url: https://influx.example:8086\n  org: bw\n  bucket: b\n"
                               "  token_env: BW_INFLUX_TOKEN\n"
                               "  spool: {dir: /var/lib/bw/spool, max_bytes: 1048576, "
                               "max_age: 3600}\n")
    influx = load_inventory(path, env={"BW_INFLUX_TOKEN": TOKEN}).influx
    assert isinstance(influx.token, Secret) and influx.token.reveal() == TOKEN
    assert str(influx.token) == "<secret>" and TOKEN not in repr(influx)
    assert influx.spool.dir == "/var/lib/bw/spool"
    settings = WriterSettings.from_inventory(influx)
    assert settings.token is influx.token and settings.spool_dir == Path("/var/lib/bw/spool")
    assert (settings.spool_max_bytes, settings.spool_max_age) == (1048576, 3600)
    assert TOKEN not in caplog.text


def test_token_from_file(tmp_path) -> None:
    secret = tmp_path / "influx.token"
    secret.write_text(TOKEN + "\n")
    secret.chmod(0o600)
    path = inventory(tmp_path, "  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n"
                               "  token_file: influx.token\n")
    assert load_inventory(path, env={}).influx.token.reveal() == TOKEN


def test_inline_token_works_with_a_warning(tmp_path) -> None:
    path = inventory(tmp_path, f"  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n"
                               f"  token: {TOKEN}\n")
    inv = load_inventory(path, env={}, log_warnings=False)
    assert inv.influx.token.reveal() == TOKEN
    messages = [str(w) for w in inv.warnings]
    assert any("token is written inline" in m for m in messages)
    assert all(TOKEN not in m for m in messages)


@pytest.mark.parametrize(("body", "expected"), [
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  token_env: MISSING\n",
     [(6, "influx.token_env", "environment variable MISSING is not set")]),
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  token_file: nope.token\n",
     [(6, "influx.token_file", "cannot read secret file {tmp}/nope.token: "
                               "No such file or directory")]),
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  token_env: A\n"
     "  token_file: f\n",
     [(7, "influx.token_file", "the token is given more than once (token_env, token_file); "
                               "give at most one of token_env, token_file or token")]),
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  retry_initial: 10\n"
     "  retry_max: 5\n",
     [(6, "influx.retry_initial", "retry_initial 10 s is longer than retry_max 5 s")]),
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  batch_size: 500\n"
     "  memory_points: 100\n",
     [(7, "influx.memory_points", "memory_points 100 is smaller than batch_size 500; a batch "
                                  "must fit in memory")]),
    ("  url: http://127.0.0.1:8086\n  org: bw\n  bucket: b\n  spool: {max_bytes: 1000}\n",
     [(6, "influx.spool.max_bytes", "1000 is out of range; must be ≥ 65536 and "
                                    "≤ 1099511627776")]),
    ("  url: http://127.0.0.1:8086\n  bucket: b\n  batchsize: 5\n",
     [(2, "influx.org", "required key 'org' is missing"),
      (5, "influx.batchsize", None)]),
])
def test_errors_name_line_field_and_rule(tmp_path, body, expected) -> None:
    got = problems(inventory(tmp_path, body), env={"A": "x"})
    want = [(line, field, msg.format(tmp=tmp_path) if msg else None)
            for line, field, msg in expected]
    assert [(line, field, msg if want_msg else None)
            for (line, field, msg), (_, _, want_msg) in zip(got, want, strict=True)] == want


@pytest.mark.parametrize("url", [
    f"http://admin:{TOKEN}@127.0.0.1:8086", "ftp://127.0.0.1/", "127.0.0.1:8086",
    "http://", f"http://127.0.0.1:8086/?token={TOKEN}", "http://127.0.0.1:99999",
])
def test_bad_url_is_refused_without_echoing_it(tmp_path, url) -> None:
    got = problems(inventory(tmp_path, f"  url: '{url}'\n  org: bw\n  bucket: b\n"))
    assert len(got) == 1
    line, field, message = got[0]
    assert (line, field) == (3, "influx.url")
    assert message == URL_MESSAGE  # the same words whatever the value: nothing echoed
    assert TOKEN not in message
