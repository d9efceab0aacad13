# The two commands of the README: `make demo` (set up and run the lab network with the
# collector) and `make test` (set up and run the test suite). CI runs `make test`.
.PHONY: setup demo test lint schema

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/borderwatch lab --inventory inventory.yaml --with-collector

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint: setup
	.venv/bin/ruff check .

schema: setup
	.venv/bin/borderwatch schema -o collector/schema/inventory.schema.json
