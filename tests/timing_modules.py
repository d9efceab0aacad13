"""The timing-sensitive test modules (marker `timing`), in one reviewed list.

What they assert depends on polls, ticks, agent restarts or back-offs landing in time on
a real clock (or must keep holding on a simulated one). conftest.py marks their tests
`timing`; `make test-under-load` (scripts/test-under-load.sh) runs just these paths, so
that it does not collect the whole suite each round, under a CPU hog.
"""

TIMING_MODULES = (
    "alerts_quality/",  # lab faults → service → pages; margins from the lab's apply time
    "alerts_service/test_service_restart.py",  # a restart mid-incident, on real agents
    "alerts_service/test_shards.py",  # shards → a TSDB → the evaluator: one page per cut
    "lab/test_lab_faults.py",  # fault steps, flaps and reboots of the lab's agents
    "runtime/test_scheduler_cadence.py",  # the poll cadence (simulated clock: must hold too)
    "runtime/test_service_slow_device.py",  # overrun skips of a slow device
    "runtime/test_exporter_staleness.py",  # series going stale after missed polls
    "snmp/test_sample_times.py",  # rates within 1 % of real time behind delays and losses
)

if __name__ == "__main__":  # the paths, for the shell script
    print(" ".join(f"tests/{m}" for m in TIMING_MODULES))
