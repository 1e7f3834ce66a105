"""Tests for gateway.routing."""
