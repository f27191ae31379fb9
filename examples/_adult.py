"""Shared by the examples: the real Adult splits, read as the pipeline reads them, and one classifier."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGET, POSITIVE = "income", ">50K"


def real_split(split: str) -> pd.DataFrame:
    """The bundled real Adult 'train' or 'test' split (test labels lose UCI's trailing '.')."""
    from synth.data import load_table
    from synth.spec import SourceSpec, load_spec

    source = load_spec(ROOT / "pipelines" / "adult_tvae.yaml").source
    if split == "test":
        source = SourceSpec(**{
            **source.model_dump(), "path": ROOT / "data" / "adult" / "adult.test.gz", "skip_rows": 1,
            "recode": {TARGET: {"<=50K.": "<=50K", ">50K.": ">50K"}},
        })
    return load_table(source)


def classifier():
    """One-hot categories, pass numbers through, gradient boosting: a typical tabular baseline."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), make_column_selector(dtype_include=object)),
        remainder="passthrough",
    )
    return make_pipeline(encode, HistGradientBoostingClassifier(random_state=0))


def xy(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    table = table[table[TARGET].notna()]
    features = table.drop(columns=[TARGET])
    objects = features.select_dtypes(exclude="number").columns
    features[objects] = features[objects].astype(object).where(features[objects].notna(), "(missing)")
    return features, table[TARGET].astype(str)
