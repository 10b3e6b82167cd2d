"""Benchmarks (DESIGN section 8): ratios measured on one machine in one run, never timed tests."""
