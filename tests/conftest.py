"""Shared pytest configuration for the databay test suite."""
