"""Benchmarks of the hot methods against the reference, the best peer and the machine's floors."""
