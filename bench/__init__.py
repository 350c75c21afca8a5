"""Lanes benchmarks (issue 9): `make bench` or `python -m bench [figure ...]`; see README, Benchmarks."""
