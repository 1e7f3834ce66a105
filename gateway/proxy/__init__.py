"""The only code that imports LiteLLM: hooks, start-up and the extra routes."""
