"""Benchmarks that inform design choices; each runs as ``python -m benchmarks.<name>``, never under pytest."""
