"""The MLOps loop: traces -> training data -> llmrouter-lib training -> export -> evaluation -> publish.

Readers, conversion, evaluation and publishing need only the gateway's own dependencies. Training
(`train.py`, `export.py`) runs in the separate training environment (torch, scikit-learn,
llmrouter-lib); those imports stay inside functions, and the gateway's runtime never imports this
package (tests/routing/test_no_training_imports.py, tests/mlops/test_runtime_isolation.py).
"""
