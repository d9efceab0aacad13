"""Which tests must share a pytest-xdist worker (`make test` runs `-n 2 --dist loadgroup`).

conftest.py gives every test an `xdist_group`: its module's path, so that a module's tests
run on one worker and its module fixtures (a lab, a Prometheus, the alert-quality network)
start once; or, for the modules below, a group they share with other modules:

* `live-fibre-cut`: the session fixture `live_fibre_cut` (a lab and three collector runs,
  ~45 s) is read by two modules; on one worker it runs once.
* `lab-port-16161`: these start lab agents on the repository inventory's fixed port 16161
  (on its fixed 127.0.0.x addresses); two workers doing so at once would collide.

Without xdist the markers do nothing.
"""

SHARED = {
    "history/test_live_history.py": "live-fibre-cut",
    "reports/test_report_live.py": "live-fibre-cut",
    "runtime/test_hostile_strings.py": "lab-port-16161",
    "lab/test_lab_agents.py": "lab-port-16161",
    "lab/test_lab_faults.py": "lab-port-16161",
}


def group_of(relative: str) -> str:
    """The xdist group of a test module given by its path relative to tests/."""
    return SHARED.get(relative, relative)
