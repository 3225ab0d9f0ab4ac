# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
#
# Both install exactly the dependency set in uv.lock (the set the tests passed with), never a
# fresh resolution: `uv sync --locked` refuses to run when the lock no longer matches
# pyproject.toml. `make lock` re-resolves it (see docs/dependencies.md for pinning and upgrades).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= deploy/demo.yaml

# uv itself is pinned here and installed beside the project (not into the venv it manages).
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

# A Python >= 3.12: the newest of python3.13/python3.12 on PATH or under pyenv.
PYTHON ?= $(shell for p in python3.13 python3.12 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	  command -v $$p >/dev/null 2>&1 || [ -x "$$p" ] || continue; \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; \
	done)

.PHONY: run test lint deps lock lock-check bench venv clean

$(UV):
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found: install python3.12 (or set PYTHON=/path/to/python3.12)" >&2; exit 1; }
	$(PYTHON) -m pip install -q --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

# Installed with its bytecode: a gateway's service user cannot write __pycache__ into a tree
# root owns, and without it every start (the daemon, each of Squid's check helpers) compiles
# some 800 modules again: 2 s more on each start (docs/dependencies.md).
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --compile-bytecode --python $(PYTHON)
	touch $@

# The project's own code is installed editable, so its bytecode is compiled here, on every
# `make venv` (after a `git pull` too); compileall skips what is up to date.
venv: $(VENV)/.installed
	@$(PY) -m compileall -q -j 0 filters monitor alerts

lock: | $(UV)
	$(UV) lock --python $(PYTHON)

# Fails when uv.lock no longer matches pyproject.toml (CI runs it before anything else).
lock-check: | $(UV)
	@$(UV) lock --check --python $(PYTHON) || { \
	  echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock" >&2; exit 1; }

run: venv
	$(VENV)/bin/prevent-monitor run --config $(CONFIG)

# An import of a package that pyproject.toml does not declare fails here, before any test runs.
# The product's code may import only its declared dependencies; tests and benchmarks may also
# import the dev extra. Both runs scan from the project root, so a module found only through a
# script's own sys.path (`import store_bench`) counts as undeclared, as it would on install.
deps: venv
	$(VENV)/bin/deptry .
	$(VENV)/bin/deptry . --exclude '\.venv|\.tools|\.git|build' --ignore DEP002,DEP004

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: deps lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: venv
	$(PY) bench/policy_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
