"""synth: train a generator on a real table, sample a synthetic one.

This package is the generator library (data loading, the spec, the data
transformer, the generators, the catalog of published datasets). It imports
neither Prefect nor Great Expectations, so it works from a notebook or a test
without either; the `synth` CLI reaches the Prefect flows lazily, only when a
command needs them.
"""

__version__ = "0.1.0"
