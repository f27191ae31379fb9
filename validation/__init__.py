"""Judging a synthetic dataset against its real source.

Fidelity, privacy and the Great Expectations suites that gate publishing live
here. This package imports no training code: it only ever sees two tables.
"""
