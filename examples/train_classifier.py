"""Train a classifier on the latest published synthetic Adult; score it on the real test split.

    python examples/train_classifier.py                       # catalog at SYNTH_CATALOG_ROOT / data/published
    python examples/train_classifier.py --catalog-root DIR --dataset adult --version v2

The same classifier trained on the real training split is the yardstick:
the synthetic data is as useful as the real data when the two F1 figures meet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples._adult import POSITIVE, classifier, real_split, xy  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog-root", type=Path,
                        help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--version", help="a published version such as v2 (default: LATEST)")
    args = parser.parse_args(argv)

    from sklearn.metrics import accuracy_score, f1_score

    from synth import catalog

    synthetic = catalog.load(args.dataset, args.version, root=args.catalog_root)  # only gate-passed versions
    x_test, y_test = xy(real_split("test"))
    scores = {}
    for label, table in (("synthetic", synthetic), ("real", real_split("train"))):
        x, y = xy(table)
        predicted = classifier().fit(x, y).predict(x_test)
        scores[f"{label}_f1"] = f1_score(y_test, predicted, pos_label=POSITIVE)
        scores[f"{label}_accuracy"] = accuracy_score(y_test, predicted)
        print(f"trained on {len(table):>6,} {label:9} rows -> real test split ({len(y_test):,} rows): "
              f"F1({POSITIVE}) {scores[f'{label}_f1']:.3f}, accuracy {scores[f'{label}_accuracy']:.3f}")
    print(f"synthetic / real F1: {scores['synthetic_f1'] / scores['real_f1']:.3f}")
    return scores


if __name__ == "__main__":
    main()
