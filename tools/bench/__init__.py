"""Benchmarks behind `rmbot bench ...`: they print figures and never assert on time."""
