"""Shared test helpers: job harnesses and result servers."""
