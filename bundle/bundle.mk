# The USB bundle: one signed, reproducible .tar.zst for an air-gapped site (docs/moat-mode.md).
# Included by the main Makefile (BUILD_CACHE, TOOLS, VERSION, ARCHES); uses apt-repo of bundle/apt/apt.mk.
#   make bundle                               everything, after (re)making its inputs
#   make bundle BUNDLE_ARGS="--no-images --no-apt --no-vendor"   a lighter development bundle
#   make bundle BUNDLE_DEPS=                  pack the build outputs already there, remake nothing
#   make bundle BUNDLE_ARGS="--signing-key /media/key/ed25519.pem"   a site's own (offline) key
#   make bundle BUNDLE_ARGS=--training        add the optional training component (~0.7 GB per arch):
#                                             a trainer host then trains the library's routers offline
BUNDLE_NAME := gateway-appliance
BUNDLE_ARGS ?=
BUNDLE_ARCH_SET := $(shell echo $(filter amd64,$(ARCHES)) $(filter arm64,$(ARCHES)) | tr ' ' -)
BUNDLE_FILE := dist/$(BUNDLE_NAME)-$(VERSION)-$(BUNDLE_ARCH_SET).tar.zst
BUNDLE_PUBKEY := dist/$(BUNDLE_NAME)-$(VERSION).pub.pem
# The targets that make the bundle's inputs; a part left out with --no-* is not made either.
BUNDLE_DEPS ?= wheelhouse ansible-wheelhouse \
	$(if $(findstring --training,$(BUNDLE_ARGS)),wheelhouse-training) \
	$(if $(findstring --no-images,$(BUNDLE_ARGS)),,images) \
	$(if $(findstring --no-apt,$(BUNDLE_ARGS)),,bundle-apt-repo) \
	$(if $(findstring --no-vendor,$(BUNDLE_ARGS)),,vendor) \
	$(if $(findstring --no-vulnerability-report,$(BUNDLE_ARGS)),,vulnerability-report)

.PHONY: bundle bundle-verify test-bundle bundle-apt-repo vulnerability-report

vulnerability-report: $(VENV)/.installed ## check every lock against PyPI's advisories -> dist/reports/vulnerabilities.json (needs PyPI)
	$(PY) bundle/tools/vulnerabilities.py --out dist/reports/vulnerabilities.json

# apt.mk builds only the host's architecture unless ARCHES comes from the command line.
bundle-apt-repo: ## apt-repo for every arch of the bundle ($(ARCHES)), not only the host's
	@$(MAKE) --no-print-directory apt-repo ARCHES="$(ARCHES)"

bundle: $(VENV)/.installed $(TOOLS)/.installed $(BUNDLE_DEPS) ## one signed, reproducible USB bundle in dist/ (BUNDLE_ARGS: --no-images ...)
	$(PY) bundle/tools/build.py $(addprefix --arch ,$(ARCHES)) $(BUNDLE_ARGS)

bundle-verify: ## check the built bundle as the far side does (install.sh verify, no Python)
	bundle/install.sh verify --pubkey $(BUNDLE_PUBKEY) $(BUNDLE_FILE)

test-bundle: $(VENV)/.installed ## bundle tests: reproducible, tampering refused, verified before install (seconds)
	$(PY) -m pytest -q -p no:cacheprovider tests/bundle
