# The gateway's OCI images: built daemonless with buildah on an mmdebstrap base, for every arch in
# $(ARCHES) (arm64 under qemu-user-static), into one reproducible OCI archive; docs/supply-chain.md.
# Included by the main Makefile (ARCHES, VERSION, VENV, PY); the images install only from the
# wheelhouse (wheelhouse/supply-chain.mk), with hashes.
IMAGE_ARCHIVE ?= dist/gateway-$(VERSION)-oci.tar
IMAGE_TESTS := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: images image-training test-images test-images-amd64

images: supply-chain-deps wheelhouse ## build the runtime image for $(ARCHES) with buildah into $(IMAGE_ARCHIVE)
	ARCHES="$(ARCHES)" OUT=$(IMAGE_ARCHIVE) images/build-images.sh runtime

image-training: supply-chain-deps ## build the training image (amd64 by default) into dist/
	@test -f wheelhouse/dist/training-linux-amd64/SHA256SUMS || $(MAKE) --no-print-directory wheelhouse-training ARCHES=amd64
	ARCHES="$(or $(TRAINING_ARCHES),amd64)" images/build-images.sh training

test-images: test-supply-chain images ## CI: supply-chain tests, both images, smoke runs (amd64, arm64 under qemu)
	GATEWAY_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) $(IMAGE_TESTS) tests/supply_chain -m images

test-images-amd64: $(VENV)/.installed ## smoke-test an existing $(IMAGE_ARCHIVE), amd64 only (fast)
	GATEWAY_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) $(IMAGE_TESTS) tests/supply_chain -m "images and not arm64"
