"""Reading and validating LiteLLM configs that may select an `llmrouter-*` strategy."""
