# MLOps loop targets (issue 6). Included by the main Makefile: `include examples/mlops/mlops.mk`.
# The training environment lives outside the repo; the gateway's .venv never gets torch.
TRAINING_VENV ?= /var/cache/gateway-build/training-venv
TRAINING_PY := $(TRAINING_VENV)/bin/python
MLOPS_OUT ?= /var/cache/gateway-build/mlops-demo

.PHONY: training-env train-demo mlops-loop test-mlops bench-mlops bench-mlops-tune

TRAINING_LOCK := wheelhouse/locks/training-linux-$(HOST_ARCH).txt

# Installed from the hash-pinned training lock (torch's CPU build from $(TORCH_CPU_WHEELS)) and the
# model lock, pip's site configuration off; rebuilt from scratch when either lock's content changes.
# The venv holds no copy of the gateway: the loop and the benchmarks run it from the checkout.
$(TRAINING_VENV)/.installed: LOCKED_INSTALL_OPTS = --only-binary=:all: --find-links $(TORCH_CPU_WHEELS)
$(TRAINING_VENV)/.installed: $(TRAINING_LOCK) wheelhouse/locks/model.txt
	@stamp="$$(cat $^ | sha256sum | cut -d' ' -f1)"; \
	if [ "$$(cat $(TRAINING_VENV)/.lock-sha256 2>/dev/null)" != "$$stamp" ]; then \
	  set -e; rm -rf $(TRAINING_VENV); $(PYTHON) -m venv $(TRAINING_VENV); \
	  echo "training-env: installing $(TRAINING_LOCK) into $(TRAINING_VENV)"; \
	  $(call locked_install,$(TRAINING_VENV),$(TRAINING_LOCK) wheelhouse/locks/model.txt); \
	  echo "$$stamp" > $(TRAINING_VENV)/.lock-sha256; \
	fi
	@touch $@

training-env: $(TRAINING_VENV)/.installed ## separate training venv (torch CPU, llmrouter-lib) outside the repo

train-demo: training-env $(VENV)/.installed ## train every strategy on ../shared/data/llmrouter, report vs baselines
	$(TRAINING_PY) -m bench.mlops_llmrouter

mlops-loop: training-env $(VENV)/.installed ## traces -> train knn -> evaluate -> publish (TRACES=otlp:FILE, PUBLISH=path)
	GATEWAY_TRAINING_PYTHON=$(TRAINING_PY) $(PY) -m gateway.mlops loop --traces $(TRACES) --strategy knn --publish-path $(PUBLISH) --work $(MLOPS_OUT)

test-mlops: training-env $(VENV)/.installed ## the tests that need the training env or its wheelhouse: parity with llmrouter-lib, the loop, the bundle's training component
	GATEWAY_TRAINING_PYTHON=$(TRAINING_PY) $(PY) -m pytest -q tests/mlops tests/bundle/test_training.py -m training

bench-mlops: training-env ## benchmark: trained routers vs baselines on the public routing data (both datasets)
	$(TRAINING_PY) -m bench.mlops_llmrouter --cost-weights 0,0.3
	$(TRAINING_PY) -m bench.mlops_routellm

bench-mlops-tune: training-env ## hyperparameters of every tunable strategy by 5-fold CV on the train split (~30 min)
	$(TRAINING_PY) -m bench.mlops_llmrouter --tune
