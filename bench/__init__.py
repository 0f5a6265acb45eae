"""Benchmarks: scripts run by hand (see BENCHMARKS.md), not part of the suite."""
