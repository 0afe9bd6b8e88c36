# Rollcall: `make run` sets up and opens the window; `make test` sets up and runs every test (CI runs it);
# `make test-fast` runs the import contracts and the unit tests only (no Qt, no face models) for day-to-day work.
.PHONY: setup run test test-fast lint bench

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python main.py $(ARGS)

test: setup
	.venv/bin/lint-imports
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: setup
	.venv/bin/lint-imports
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run_all.py
