"""Benchmarks (speed of the parts), callable from `python -m omnitalker_core bench`."""
