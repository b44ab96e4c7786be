# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# SDK v2 and v3 cannot share an environment: the v3 suite (tests_v3/) runs in its own
VENV3 ?= .venv-v3
PY3 := $(VENV3)/bin/python
# SageMaker's container toolkits, installed without their servers' pinned dependencies
TOOLKITS := src/cove/training/toolkits.txt
# pytest-xdist workers; each starts its own cove on a free loopback port.  One more than the
# CPUs: many tests spend seconds waiting on SDK polls and endpoints, and another worker fills
# those waits (2 cores: 13.6 min with 3 workers against 16.4 min with 2).
# PyTorch's CPU build, where this machine keeps it on disk: `torch==2.13.0` alone resolves to the
# CUDA build on PyPI (+cu130 sorts above +cpu), 4 GB of nvidia wheels that a CPU never uses.
TORCH_CPU_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl))
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 2) + 1)')

.PHONY: demo test bench lint clean

$(PY):
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11, 4) else \
		f"cove needs Python >= 3.11.4 (its tarfile filters), not {v[0]}.{v[1]}.{v[2]}: " \
		"give another with PYTHON=, e.g. make demo PYTHON=python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml $(TOOLKITS)
	$(PIP) install --quiet -e ".[demo]"
	$(PIP) install --quiet --no-deps -r $(TOOLKITS)
	touch $@

$(VENV)/.test-installed: $(PY) pyproject.toml $(TOOLKITS)
	$(if $(TORCH_CPU_WHEEL),$(PIP) install --quiet "$(TORCH_CPU_WHEEL)")
	$(PIP) install --quiet -e ".[test]"
	$(PIP) install --quiet --no-deps -r $(TOOLKITS)
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cove demo

# ipykernel: notebook instances run it as their "Python 3 (SageMaker SDK v3)" kernel
# (COVE_SDK_V3_PYTHON); nbclient: the v3 suite drives those kernels; JupyterLab: the v3
# tutorials' cove runs here (ModelBuilder's handler needs SDK v3 in cove's environment).  No
# PyTorch: the Torchrun test runs cove on its own environment ($(VENV)), where torch is.
$(VENV3)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV3)
	$(PY3) -m pip install --quiet --upgrade pip
	$(PY3) -m pip install --quiet -e . "sagemaker>=3,<4" "pytest>=8" "pytest-xdist>=3.5" \
		"pytest-timeout>=2.3" "jupyterlab>=4" "ipykernel>=6.29" "nbclient>=0.10"
	touch $@

test: $(VENV)/.test-installed $(VENV3)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=20 $(PYTEST_ARGS)
	COVE_TEST_SERVER_PYTHON=$(abspath $(PY)) $(PY3) -m pytest -n $(TEST_WORKERS) \
		--dist loadgroup -p no:cacheprovider tests_v3 $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(PIP) install --quiet -e ".[bench]"
	$(PY) bench/s3_throughput.py

lint: $(VENV)/.test-installed
	$(PIP) install --quiet -e ".[dev]"
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) $(VENV3) .pytest_cache
