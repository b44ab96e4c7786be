# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# SageMaker's container toolkits, installed without their servers' pinned dependencies
TOOLKITS := src/cove/training/toolkits.txt
# pytest-xdist workers; each starts its own cove on a free loopback port.  One more than the
# CPUs: many tests spend seconds waiting on SDK polls and endpoints, and another worker fills
# those waits (2 cores: 13.6 min with 3 workers against 16.4 min with 2).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 2) + 1)')

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "cove needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml $(TOOLKITS)
	$(PIP) install --quiet -e ".[demo]"
	$(PIP) install --quiet --no-deps -r $(TOOLKITS)
	touch $@

$(VENV)/.test-installed: $(PY) pyproject.toml $(TOOLKITS)
	$(PIP) install --quiet -e ".[test]"
	$(PIP) install --quiet --no-deps -r $(TOOLKITS)
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cove demo

test: $(VENV)/.test-installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(PIP) install --quiet -e ".[bench]"
	$(PY) bench/s3_throughput.py

lint: $(VENV)/.test-installed
	$(PIP) install --quiet -e ".[dev]"
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) .pytest_cache
