"""Fixtures for the optimizer tests live in tests/conftest.py."""
