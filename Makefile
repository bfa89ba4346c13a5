# rnn-serve: two commands matter. `make run` serves the committed models on 127.0.0.1:8000;
# `make test` installs everything the suite needs and runs it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install install-dev models bench mutation container-setup system-deps proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Serving install only: onnxruntime + FastAPI, no torch.
$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# Dev install: serving + train (torch==2.13.0 CPU) + loadtest + test tools.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.serve-installed

install: $(VENV)/.serve-installed
install-dev: $(VENV)/.dev-installed

run: install
	$(BIN)/rnn-serve serve --host $(HOST) --port $(PORT)

# The container tests need podman + a python:3.11-slim stand-in on this platform (no Docker engine).
container-setup:
	@if [ -x ../shared/container/setup.sh ]; then ../shared/container/setup.sh; \
	else echo "no ../shared/container: container tests will skip unless docker or podman is present"; fi

# Format, lint and types on the shipped packages and the benchmarks (settings in pyproject.toml).
LINTED := service export loadtest benchmarks
lint: install-dev
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy

# Debian packages the suite runs for real: prometheus (tests/deploy), chromium (the dashboard's
# browser test), libb64-0d (perf_analyzer links it: tests/service/test_perf_analyzer.py). Installed
# with apt-get when missing and running as root; otherwise the tests that need them skip and say why.
SYSTEM_PACKAGES := prometheus chromium libb64-0d
system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do dpkg-query -W $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } \
	  || echo "apt-get could not install$$missing; the tests that need it will skip"; \
	else echo "not root or no apt-get: cannot install$$missing; the tests that need it will skip"; fi

test: lint container-setup system-deps
	$(BIN)/python -m pytest

# Re-generate service/grpc/generated/ from Triton's protos (service/grpc/proto/) with the pinned
# grpcio-tools; a test checks that the committed code is what this makes.
proto: install-dev
	$(BIN)/python -m service.grpc.generate

models: install-dev
	$(BIN)/rnn-serve models

# Mutation testing with mutmut over the core modules ([tool.mutmut] in pyproject.toml), against the
# fast in-process tests only; not part of `make test` (≈5–6 min on 2 cores). A full run starts
# afresh: mutmut keeps earlier verdicts and its copies of unmutated files, which would go stale.
# MUTANTS='loadtest.stats.*' re-runs only those mutants and keeps the other results.
# The log (progress: tail -f) and the per-module table end up in out/mutation/.
MUTATION_JOBS ?= 2
MUTANTS ?=
mutation: install-dev
	@mkdir -p out/mutation
	@if [ -z "$(MUTANTS)" ]; then rm -rf mutants; fi
	@echo "mutmut run $(MUTANTS) (log: out/mutation/mutmut.log)"
	@set -f; $(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS) > out/mutation/mutmut.log 2>&1 \
	  || { tail -n 40 out/mutation/mutmut.log; exit 1; }
	@$(BIN)/python tests/mutation_report.py --survivors --out out/mutation/report.md

# Serving benchmark (≈15 min; BENCH_ARGS=--quick ≈4 min): markdown on stdout and in out/bench/.
bench: install-dev
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
