# Rollcall: `make run` sets up and opens the window; `make test` sets up and runs every test.
.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python main.py $(ARGS)

test: setup
	.venv/bin/lint-imports
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run_all.py
