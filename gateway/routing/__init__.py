"""ML routing: strategy registry, inference-only strategies, embedding and the artifact format."""
