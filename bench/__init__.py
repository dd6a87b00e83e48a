"""Benchmarks that print figures and ratios to targets (not pass/fail); see README.md."""
