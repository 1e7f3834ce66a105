"""Inference-only routing strategies (numpy only); `registry.STRATEGIES` maps names to classes here."""
