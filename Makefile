# The two commands of the README: `make demo` (set up and run the lab network with the
# collector) and `make test` (set up and run the test suite). CI runs `make test`.
.PHONY: setup demo test lint schema test-under-load
.PHONY: bench bench-scale bench-icmp bench-vsat
.PHONY: dashboards

setup:
	bash scripts/setup.sh

# The `borderwatch` command lives in .venv/bin, not on the PATH: say how to get it in a
# second terminal (the README's walk-through runs there while the demo runs here).
demo: setup
	@echo "borderwatch is in .venv/bin; in a second terminal: cd $(CURDIR) && . .venv/bin/activate"
	.venv/bin/borderwatch lab --inventory inventory.yaml --with-collector

# Three pytest-xdist workers on the 2 cores (much of the suite waits on timers and real
# servers: 12 min against 18.5 with two), whole modules each (tests/worker_groups.py); each
# worker's alert-quality network is its own /24 (tests/worker_net.py). XDIST= runs in one
# process.
XDIST ?= -n 3 --dist loadfile
test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 $(XDIST) $(PYTEST_ARGS)

# The timing-sensitive tests (marker `timing`) with a CPU hog (stress-ng) in the background,
# ROUNDS times (default 5); see scripts/test-under-load.sh.
test-under-load: setup
	bash scripts/test-under-load.sh

lint: setup
	.venv/bin/ruff check .

schema: setup
	.venv/bin/borderwatch schema -o collector/schema/inventory.schema.json

# Performance against Go snmp_exporter (root: a private network namespace); see bench/README.md.
bench: setup
	.venv/bin/python bench/compare.py $(BENCH_ARGS)

# 10,000 devices at a 60 s interval for 5 minutes, without then with the embedded history
# (~16 minutes; root; BENCH_ARGS="--history on" for one run); see bench/README.md.
bench-scale: setup
	.venv/bin/python bench/scale.py $(BENCH_ARGS)

# The pinger's CPU cost and loop lag at 1,000-10,000 loopback targets (~5 minutes; root or
# CAP_NET_RAW); see bench/README.md.
bench-icmp: setup
	.venv/bin/python bench/icmp_pinger.py $(BENCH_ARGS)

# timeout: auto against fixed 1 s and 5 s on an emulated VSAT link (root; ~7 minutes;
# BENCH_ARGS="--profile microwave-degraded" for loss bursts); see bench/README.md.
bench-vsat: setup
	.venv/bin/python bench/vsat_timeouts.py $(BENCH_ARGS)

# Grafana dashboards (grafana/dashboards/*.json) from grafana/catalog.py and inventory.yaml.
dashboards: setup
	.venv/bin/python -m borderwatch.grafana.generate
