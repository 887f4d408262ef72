"""Keyflow benchmarks: ``make bench`` (``python -m bench``). Figures, not tests."""
