"""Device strings are hostile input: a real snmpsim serves an agent whose strings try to
forge log records, drive the terminal, blow up labels and split the `poll` table.

`borderwatch run` polls it as a real process, with an alert rule that logs every downed
interface by name, so the device's ifName really reaches the log. What must hold:

* the log has one line per record: the newline in an ifName forges no `ERROR` record, and
  no ESC or NUL reaches it;
* /metrics labels are NFC, free of control characters and at most 256 characters, with
  the truncation counted;
* `borderwatch poll` prints one table line per interface and per other sample, aligned
  in terminal columns, within $COLUMNS unless --wide;
* every command that prints exits quietly (141, no traceback) on a closed pipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
import time
import unicodedata
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from runtime_helpers import BORDERWATCH, REPO_ROOT
from servers import Snmpsim, free_tcp_port, stop_process
from snmprec_files import COUNTER32, GAUGE32, INTEGER, OCTET_STRING, start_agent, system_group

IF, IFX = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
FORGED = "2026-12-07 15:00:00,000 ERROR borderwatch.service: forged by the device"
FORGED_BY_COMMENT = "2026-12-07 15:00:01,000 ERROR borderwatch.service: forged by a comment"
POST_NAME = "Đồn Biên phòng Chi Ma"
HUAWEI_DESCR = (b"Huawei Versatile Routing Platform Software\r\n"
                b"VRP (R) software, Version 8.180 (CE6800 V200R005C10SPC607B607)\r\n"
                b"Copyright (C) 2012-2018 Huawei Technologies Co., Ltd.\r\n"
                b"HUAWEI CE6851-48S6Q-HI\r\n")
LONG = "A" * 10_000
# (ifIndex, ifName, ifDescr, ifAlias, ifOperStatus): 1 is down, so alerted and logged
INTERFACES = (
    (1, b"GE1/0/1\x1b[2J\x1b[31m\x00red\n" + FORGED.encode(), b"GigabitEthernet1/0/1",
     b"uplink", 2),
    (2, b"eth\x1b[2J\x00\x7f2", b"eth2\x07", LONG.encode(), 1),
    (3, unicodedata.normalize("NFD", "Cổng Chi Ma").encode(), b"eth3",
     b"uplink \xff\xfe to Chi Ma", 1),
    (4, b"", b"Eth\r\n4", unicodedata.normalize("NFD", POST_NAME).encode(), 1),
    # two columns a character (CJK), and a mark NFC cannot compose (x + U+0303): zero width
    (5, "光口5".encode(), b"eth5", "谅山光纤 x\u0303 Lạng Sơn".encode(), 1),
)
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
RULES = """\
schema_version: 1
include_defaults: false
rules:
  - name: InterfaceDown
    kind: interface_down
    severity: warning
    interfaces: all
    for: 0s
"""


def _hostile_agent() -> dict:
    records = {**system_group(HUAWEI_DESCR, unicodedata.normalize("NFD", POST_NAME).encode(),
                              object_id="1.3.6.1.4.1.2011.2.239.12"),
               "1.3.6.1.2.1.2.1.0": (INTEGER, len(INTERFACES))}
    for index, name, descr, alias, oper in INTERFACES:
        records |= {f"{IF}.1.{index}": (INTEGER, index), f"{IF}.2.{index}": (OCTET_STRING, descr),
                    f"{IF}.5.{index}": (GAUGE32, 1_000_000_000), f"{IF}.7.{index}": (INTEGER, 1),
                    f"{IF}.8.{index}": (INTEGER, oper),
                    f"{IF}.10.{index}": (COUNTER32, 1000), f"{IF}.16.{index}": (COUNTER32, 2000),
                    f"{IFX}.1.{index}": (OCTET_STRING, name),
                    f"{IFX}.18.{index}": (OCTET_STRING, alias)}
    return records


@dataclass
class Running:
    """The hostile agent, an inventory polling it, and `borderwatch run` serving /metrics."""

    agent: Snmpsim
    inventory: Path
    env: dict[str, str]
    url: str
    log: Path


def _write_inventory(tmp: Path, port: int) -> Path:
    (tmp / "rules.yaml").write_text(RULES)
    data = {
        "schema_version": 1,
        "credentials": {"sim": {"version": "2c", "community_env": "BW_HOSTILE"}},
        "defaults": {"interval": 2, "timeout": 1, "retries": 1},
        "sites": [{"id": "bp-chima", "name": POST_NAME, "kind": "core", "devices": [
            {"id": "hostile", "address": "127.0.0.1", "port": port, "credential": "sim",
             "profile": ["system", "if-mib"]}]}],
        "links": [],
        "alerts": {"rules": "rules.yaml", "state_dir": "state", "tick": 0.5},
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode("utf-8")


def _wait_for(predicate, within: float, what: str) -> None:
    """Poll `predicate` until true; the bound is generous, it only ends a hung test."""
    end = time.monotonic() + within
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("hostile")
    agent = start_agent(tmp / "agent", {"hostile": _hostile_agent()})
    env = {**os.environ, "BW_HOSTILE": "hostile"}
    inventory = _write_inventory(tmp, agent.port)
    port = free_tcp_port()
    log = tmp / "borderwatch.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([BORDERWATCH, "run", "--inventory", str(inventory),
                                 "--listen", f"127.0.0.1:{port}"], env=env,
                                stdout=subprocess.PIPE, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == f"serving {url}/metrics"
        # the downed interface alerted (and logged), and a poll exported
        _wait_for(lambda: b"alert firing" in log.read_bytes()
                  and 'borderwatch_device_up{device="hostile"' in _get(f"{url}/metrics"),
                  within=60, what="the interface alert logged and the device polled")
        # Text from an HTTP client reaches the log too: the silence API logs the comment.
        # The strings are not cleaned on the way in, so the log formatter alone must hold.
        body = {"matchers": ["alertname=Nothing"], "created_by": "eve\x00\x1b[31m",
                "comment": f"maintenance\r\n{FORGED_BY_COMMENT}\x1b[2J"}
        request = urllib.request.Request(f"{url}/api/silences", method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 201
        _wait_for(lambda: b"silence" in log.read_bytes(), within=30, what="silence logged")
        yield Running(agent, inventory, env, url, log)
    finally:
        stop_process(proc)
        agent.stop()


def test_log_has_one_line_per_record_and_no_forged_one(running: Running) -> None:
    text = running.log.read_bytes().decode("utf-8")
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:24])], "forged record"
    assert all(LOG_RECORD.match(line) for line in lines), \
        [line for line in lines if not LOG_RECORD.match(line)]
    assert "\x1b" not in text and "\x00" not in text and "\r" not in text
    # not vacuous: the device's ifName did reach the log, on its alert's line
    alerted = [line for line in lines if "alert firing" in line]
    assert any("GE1/0/1" in line and "red" in line and "forged by the device" in line
               for line in alerted), alerted
    silenced = [line for line in lines if " silence " in line]
    assert len(silenced) == 1 and "forged by a comment" in silenced[0], silenced
    assert "maintenance\\r\\n2026-12-07" in silenced[0]  # escaped, still readable


def _hostile_series(url: str) -> list:
    text = _get(f"{url}/metrics")
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.labels.get("device") == "hostile"]


def test_metrics_labels_are_nfc_bounded_and_printable(running: Running) -> None:
    series = _hostile_series(running.url)
    values = {v for s in series for v in s.labels.values()}
    assert values
    for value in values:
        assert unicodedata.is_normalized("NFC", value), ascii(value)
        assert len(value) <= 256, len(value)
        assert not [c for c in value if unicodedata.category(c) == "Cc"], ascii(value)
    info = next(s for s in series if s.name == "borderwatch_device_info")
    assert info.labels["sysName"] == POST_NAME  # NFC now, so one post in Grafana, not two
    assert info.labels["sysDescr"].startswith(
        "Huawei Versatile Routing Platform Software VRP (R) software, Version 8.180")
    up = {s.labels["ifIndex"]: s.labels for s in series if s.name == "borderwatch_interface_up"}
    assert up["2"]["ifAlias"] == "A" * 255 + "…"
    assert up["1"]["ifName"] == f"GE1/0/1\ufffd[2J\ufffd[31m\ufffdred {FORGED}"
    assert up["2"]["ifName"] == "eth\ufffd[2J\ufffd\ufffd2"
    assert up["3"]["ifName"] == "Cổng Chi Ma"
    assert up["3"]["ifAlias"] == "uplink \ufffd\ufffd to Chi Ma"  # invalid UTF-8
    assert up["4"]["ifName"] == "Eth 4"  # empty ifName: ifDescr, its CR LF made a space
    truncated = [s.value for s in series
                 if s.name == "borderwatch_device_strings_truncated_total"]
    assert truncated and truncated[0] >= 1


def _borderwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BORDERWATCH, *args], capture_output=True, timeout=60,
                          env=env or dict(os.environ))


def _columns(text: str) -> int:
    """Terminal columns of `text`, counted here independently of collector.text_columns."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_poll_table_has_one_line_per_interface_and_sample(running: Running) -> None:
    """Whatever the strings hold, the table has one line per interface and per other sample,
    its columns line up in terminal columns (CJK takes two), and a terminal's width holds."""
    args = ("poll", "hostile", "--inventory", str(running.inventory))
    data = _borderwatch(*args, "--json", env=running.env)
    assert data.returncode == 0, data.stderr
    samples = json.loads(data.stdout)["samples"]
    interfaces = {s["labels"]["ifIndex"]: s["labels"] for s in samples
                  if s["metric"] == "borderwatch_interface_oper_status"}
    others = [s for s in samples if not s["metric"].startswith("borderwatch_interface_")]
    assert len(interfaces) == len(INTERFACES) and others
    for wide, columns in ((True, ""), (False, "80"), (False, "70")):
        table = _borderwatch(*args, *(["--wide"] if wide else []),
                             env={**running.env, "COLUMNS": columns})
        assert table.returncode == 0, table.stderr
        text = table.stdout.decode("utf-8")
        assert not [c for c in text if unicodedata.category(c) == "Cc" and c != "\n"]
        lines = text.split("\n")
        head = lines.index(next(line for line in lines if line.startswith("IFINDEX ")))
        rows = lines[head + 1:lines.index("", head)]
        assert [r.split()[0] for r in rows] == sorted(interfaces, key=int)
        metric = lines.index(next(line for line in lines if line.startswith("METRIC ")))
        assert len([r for r in lines[metric + 1:] if r.startswith("borderwatch_")]) \
            == len(others)
        # STATUS starts in the same terminal column on every row, whatever came before it
        at = lines[head].index("STATUS")
        for row, index in zip(rows, sorted(interfaces, key=int), strict=True):
            status = "down" if index == "1" else "up"
            starts = [i for i in range(len(row)) if row.startswith(f"  {status}  ", i - 2)]
            assert any(_columns(row[:i]) == at for i in starts), (at, row)
        if wide:
            for row, index in zip(rows, sorted(interfaces, key=int), strict=True):
                labels = interfaces[index]
                assert all(labels[k] in row for k in ("ifName", "ifDescr", "ifAlias")), row
        else:
            assert max(_columns(line) for line in lines) <= int(columns), text
            assert f"fitted to {columns} columns (--wide shows everything):" in text
            assert "  cells ending in … are cut" in text
            # 80: the alias cut (a wide character is not split); 70: left out
            cjk = rows[-1].split("up", 1)[1]
            assert cjk.endswith("谅山光纤 x\u0303 Lạng…") if columns == "80" else \
                "谅山" not in cjk and "left out: DESCR, ALIAS" in text


def test_poll_fits_the_terminal_it_prints_on(running: Running) -> None:
    """On a real terminal (a pty 72 columns wide, no $COLUMNS) the table takes its width."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 72, 0, 0))
    env = {k: v for k, v in running.env.items() if k not in ("COLUMNS", "LINES")}
    with subprocess.Popen([BORDERWATCH, "poll", "hostile", "--inventory",
                           str(running.inventory)], stdout=terminal, stderr=subprocess.PIPE,
                          env=env) as proc:
        os.close(terminal)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while chunk := os.read(controller, 65536):
                chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    os.close(controller)
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert "fitted to 72 columns (--wide shows everything):" in text, text
    assert max(_columns(line) for line in text.splitlines()) <= 72, text


def _closed_pipe(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command whose stdout reader has gone before it writes (like `| head -0`)."""
    proc = subprocess.Popen([BORDERWATCH, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone long before the interpreter has started
    err = proc.stderr.read().decode("utf-8", "replace")
    return proc.wait(timeout=120), err


def test_every_printing_command_is_quiet_on_a_closed_pipe(running: Running,
                                                          tmp_path: Path) -> None:
    repo_inventory = str(REPO_ROOT / "inventory.yaml")
    lab_env = {k: v for k, v in running.env.items() if k != "BORDERWATCH_LAB_COMMUNITY"}
    commands = [
        (["poll", "hostile", "--inventory", str(running.inventory)], running.env),
        (["poll", "hostile", "--inventory", str(running.inventory), "--json"], running.env),
        (["check", "--no-secrets", repo_inventory], running.env),
        (["schema"], running.env),
        (["rules", "--inventory", repo_inventory], running.env),
        (["silence", "--url", running.url, "list", "--json"], running.env),
        (["lab", "--inventory", repo_inventory, "--state-dir", str(tmp_path / "lab")],
         lab_env),
    ]
    for args, env in commands:
        code, err = _closed_pipe(args, env)
        assert not [w for w in ("Traceback", "BrokenPipeError", "Exception ignored")
                    if w in err], (args, err)
        assert code == 141, (args, code, err)
    # argparse ignores a failed write of its own help: quiet, and its usual 0
    assert _closed_pipe(["--help"], running.env) == (0, "")


def test_a_traceback_is_one_record_too() -> None:
    """log.exception of an error quoting hostile text: still one line, as the service logs it."""
    code = ("import logging\n"
            "from borderwatch.collector.logging_setup import setup_logging\n"
            "setup_logging()\n"
            "log = logging.getLogger('borderwatch.service')\n"
            f"try:\n    raise ValueError('bad value\\n' + {FORGED!r})\n"
            "except ValueError:\n    log.exception('mapping failed for %s', 'dev\\r\\x1b[2J')\n")
    res = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", code],
                         capture_output=True, timeout=60)
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and LOG_RECORD.match(lines[0]), lines
    assert "Traceback (most recent call last):\\n" in lines[0] and FORGED in lines[0]
    assert "dev\\r\\x1b[2J" in lines[0]
