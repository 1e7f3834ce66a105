# Supply chain: hash-pinned locks and the offline wheelhouse (the images are images/images.mk).
# Included by the main Makefile, which defines the shared variables (BUILD_CACHE, TOOLS, CLEAN_PIP,
# ARCHES, VERSION, TORCH_CPU_WHEELS, locked_install); docs/supply-chain.md explains every target and decision.
.PHONY: lock lock-check wheelhouse wheelhouse-training verify-offline test-supply-chain supply-chain-deps

$(TOOLS)/.installed: wheelhouse/locks/tools-linux-$(HOST_ARCH).txt
	@test -x $(TOOLS_PY) || $(PYTHON) -m venv $(TOOLS)
	$(call locked_install,$(TOOLS),$<)
	@touch $@

supply-chain-deps: ## Debian packages for images and arm64 emulation (root)
	@$(MAKE) --no-print-directory system-deps

lock: $(TOOLS)/.installed ## recompile wheelhouse/locks/* from the .in files and pyproject.toml (PyPI)
	UV=$(TOOLS)/bin/uv $(TOOLS_PY) wheelhouse/tools/lock.py compile
	$(PYTHON) wheelhouse/tools/sink_lock.py write

lock-check: ## fail if a lock is stale against its .in (offline)
	$(PYTHON) wheelhouse/tools/lock.py check
	$(PYTHON) wheelhouse/tools/sink_lock.py check

wheelhouse: $(TOOLS)/.installed ## download every runtime wheel for amd64 and arm64 into wheelhouse/dist/ (reuses intact ones)
	$(CLEAN_PIP) $(TOOLS_PY) wheelhouse/tools/fetch.py build

wheelhouse-training: $(TOOLS)/.installed ## the training set (torch CPU build from $(TORCH_CPU_WHEELS) on amd64)
	$(CLEAN_PIP) $(TOOLS_PY) wheelhouse/tools/fetch.py build --set training $(addprefix linux-,$(ARCHES))

verify-offline: wheelhouse ## install the runtime lock offline in a loopback-only namespace, serve the demo (root)
	$(PYTHON) wheelhouse/tools/verify_offline.py --wheelhouse wheelhouse/dist/linux-$(HOST_ARCH)

test-supply-chain: $(VENV)/.installed supply-chain-deps wheelhouse ## locks, wheelhouse, offline install and tamper tests
	GATEWAY_SUPPLY_CHAIN=1 $(PY) -m pytest -q -p no:cacheprovider tests/supply_chain -m "not images"
