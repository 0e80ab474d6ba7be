"""Odds and ends: logging helpers and the 0.3.0 ``inlet_tester`` import path."""
