# The offline apt repository: bundle/apt/packages.txt and its dependency closure, one flat repo per arch.
# Included by the main Makefile (BUILD_CACHE, HOST_ARCH, ARCHES).
# Builds the host's arch unless ARCHES is given (the Makefile's default of both arches is not used here).
APT_ARCHES := $(if $(filter command line environment,$(origin ARCHES)),$(ARCHES),$(HOST_ARCH))

.PHONY: apt-repo

apt-repo: ## offline apt repo of the appliance's Debian packages in dist/apt/linux-ARCH (ARCHES="amd64 arm64": both)
	@for arch in $(APT_ARCHES); do bundle/apt/build-repo.sh $$arch dist/apt/linux-$$arch || exit 1; done
