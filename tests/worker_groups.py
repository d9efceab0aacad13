"""Which test modules must share a pytest-xdist worker (`make test`: `-n 2 --dist loadfile`).

`--dist loadfile` keeps each module on one worker (its module fixtures, a lab or the
alert-quality network, start once). conftest.py hands xdist `GroupedFileScheduling`, which
also keeps the modules of one group below on the same worker, one after the other:

* `live-fibre-cut`: the session fixture `live_fibre_cut` (a lab and three collector runs,
  ~45 s) is read by two modules; on one worker it runs once.
* `lab-port-16161`: these start lab agents on the repository inventory's fixed port 16161
  (on its fixed 127.0.0.x addresses); two workers doing so at once would collide.
  test_readme.py runs `make demo` itself (and its collector on 127.0.0.1:9730).

The slowest modules (`SLOW_FIRST`, from `--durations` of a whole run) start first: xdist
orders modules by their number of tests, which put the few long lab tests last, one worker
running them alone for minutes while the other had finished.

(xdist's own `--dist loadgroup` with `xdist_group` marks does not group under pytest 9.2:
it renames the items through an attribute pytest no longer reads.)
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadFileScheduling

SHARED = {
    "tests/history/test_live_history.py": "live-fibre-cut",
    "tests/reports/test_report_live.py": "live-fibre-cut",
    "tests/runtime/test_hostile_strings.py": "lab-port-16161",
    "tests/lab/test_lab_agents.py": "lab-port-16161",
    "tests/lab/test_lab_faults.py": "lab-port-16161",
    "tests/test_readme.py": "lab-port-16161",  # `make demo` on a fresh clone
}

# Minutes each on a loaded 2-core machine (its lab, real servers, or long waits by design).
SLOW_FIRST = (
    "tests/alerts_quality/test_alert_quality.py",
    "tests/test_readme.py",
    "live-fibre-cut",
    "tests/alerts_quality/test_trap_to_page.py",
    "tests/profiles/test_poller_agents.py",
    "tests/snmp/test_column_walks.py",
    "tests/alerts_service/test_ha_pair.py",
    "tests/snmp/test_poll_bounds.py",
    "tests/deploy/test_wheel_install.py",
    "tests/icmp/test_ping_and_snmp.py",
)


class GroupedFileScheduling(LoadFileScheduling):
    """xdist's loadfile scheduling, with the modules of one SHARED group as one unit and
    the SLOW_FIRST ones at the head of the queue."""

    _ordered = False

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:
            for scope in reversed(SLOW_FIRST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            self._ordered = True
        super()._assign_work_unit(node)

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return SHARED.get(module, module)
