"""Errors meant for people: each says what was wrong, where, and how to fix it.

The CLI turns a `SynthError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class SynthError(Exception):
    """Base class for every error caused by the user's input."""


class SpecError(SynthError):
    """A pipeline spec (YAML or a --set override) is invalid."""


class DataError(SynthError):
    """A data file is missing, empty, unreadable or does not match the spec."""


class ModelError(SynthError):
    """A saved model folder is missing, incomplete or was not written by synth."""


class GeneratorInputError(SynthError):
    """Arguments given to a generator's fit/sample are invalid."""


class CatalogError(SynthError):
    """A dataset or version asked for is not in the catalog (or was not published as passed)."""
