"""Benchmarks (``radtriage bench``): per-task timings on phantoms of realistic sizes, reported against targets."""
