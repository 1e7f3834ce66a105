"""Logs, spans and metrics the gateway adds to LiteLLM's own."""
