# Vendored binaries (vendor/artifacts.lock.json), fetched and sha256-checked on the connected side.
# Included by the main Makefile; downloads are cached in $(BUILD_CACHE)/vendor-cache, output in vendor/dist/.
.PHONY: vendor vendor-verify

vendor: ## fetch the pinned vendored binaries (both arches) into vendor/dist/; unpinned ones are skipped, named
	$(PYTHON) vendor/fetch.py fetch --arch all

vendor-verify: ## offline: check vendor/dist/ against its SHA256SUMS and the lock
	$(PYTHON) vendor/fetch.py verify
