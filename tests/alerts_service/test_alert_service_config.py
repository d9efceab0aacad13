"""AlertService start-up: a bad rules file is refused with file:line, a damaged state file
is moved aside (the engine starts empty, the service runs), and the state file is
written atomically only when something changed. No network needed: nothing is polled."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alert_network import ENV, FAST_RULES
from core_post_service import alert_service, write_inventory

from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.service_hook import AlertsConfigError, AlertService
from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.collector.samples import PollResult


def _service(tmp: Path, alerts: dict) -> AlertService:
    write_inventory(tmp, alerts)
    return alert_service(tmp, lambda: 1_000_000.0)[0]


def test_bad_rules_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "schema_version: 1\nrules:\n  - name: X\n    kind: link_down\n    severity: loud\n")
    with pytest.raises(AlertsConfigError) as info:
        _service(tmp_path, {"rules": "rules.yaml"})
    assert f"{tmp_path / 'rules.yaml'}:5:" in str(info.value)
    assert "severity" in str(info.value)


def test_damaged_state_is_moved_aside_and_the_engine_starts_empty(tmp_path: Path) -> None:
    (tmp_path / "var" / "alerts").mkdir(parents=True)
    (tmp_path / "var" / "alerts" / "state.json").write_text('{"version": 99}')
    svc = _service(tmp_path, {})
    try:
        assert svc.engine.open_incidents() == []
        aside = list((tmp_path / "var" / "alerts").glob("state.json.bad-*"))
        assert len(aside) == 1 and aside[0].read_text() == '{"version": 99}'
    finally:
        svc.outbox.close()


def test_state_is_saved_when_it_changes_and_loads_back(tmp_path: Path) -> None:
    svc = _service(tmp_path, {"state_dir": "st"})
    try:
        assert svc.save() is False  # nothing changed since it was loaded (empty)
        assert svc.evaluate() == []  # nothing polled yet: no notification
        path = tmp_path / "st" / "state.json"
        assert svc.save() is False  # only last_evaluation moved: not worth a write
        assert svc.save(force=True) is True
        assert json.loads(path.read_text())["last_evaluation"] == 1_000_000.0
        assert not (tmp_path / "st" / "state.json.tmp").exists()
    finally:
        svc.outbox.close()
    again = _service(tmp_path, {"state_dir": "st"})
    try:
        assert again.engine.last_evaluation == 1_000_000.0
    finally:
        again.outbox.close()


def test_outbox_failure_rolls_the_engine_back_so_the_page_is_not_lost(tmp_path: Path
                                                                     ) -> None:
    """If the page cannot be committed to the outbox, the engine forgets it decided it:
    the next tick decides again and the page is queued then (once)."""
    (tmp_path / "rules.yaml").write_text(FAST_RULES)
    now = [1_000_000.0]
    write_inventory(tmp_path, {
        "rules": "rules.yaml", "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/"}]})
    svc, state, inv = alert_service(tmp_path, lambda: now[0])
    state.apply(PollResult("core-sw", now[0], 0.01, True))
    state.apply(PollResult("post-sw", now[0], 0.3, False, "timeout"))
    interval = inv.effective("post-sw").interval
    sent = []
    for dt in (1, interval + 1, interval + 4):
        now[0] = 1_000_000.0 + dt
        state.apply(PollResult("core-sw", now[0], 0.01, True))
        state.apply(PollResult("post-sw", now[0], 0.3, False, "timeout"))
        if dt == interval + 4:
            svc.outbox.close()  # the disk is gone
            with pytest.raises(sqlite3.ProgrammingError):
                svc.evaluate()
            svc.outbox = Outbox(tmp_path / "var" / "alerts" / "outbox.sqlite")
        sent += svc.evaluate()
    try:
        assert [(n.status, n.headline) for n in sent] == [("firing", "site_down")]
        (row,) = svc.outbox.rows("ops")
        assert row["body"]["incident_key"] == sent[0].incident_key
    finally:
        svc.outbox.close()


def test_a_bad_receiver_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, {"webhooks": [
        {"name": "ops", "url": "https://user:Pa55-tok3n@hooks.example/x"}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    text = str(info.value)
    assert "alerts.webhooks" in text and "url" in text and "not shown" in text
    assert "Pa55-tok3n" not in text and "hooks.example" not in text
