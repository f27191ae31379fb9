"""Rebalance a rare class with conditional sampling and watch its recall.

    python examples/augment_rare_class.py --rows 8000          # from the latest published adult model

Only about a quarter of Adult earns ">50K". This trains a classifier on the
real training split, then again with extra synthetic ">50K" rows drawn from
the published generator (`sample(n, conditions={"income": ">50K"})`), and
prints the minority class's recall and precision on the real test split
before and after.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples._adult import POSITIVE, TARGET, classifier, real_split, xy  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog-root", type=Path,
                        help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--version", help="a published version such as v2 (default: LATEST)")
    parser.add_argument("--rows", type=int, default=8000, help="synthetic minority rows to add")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import pandas as pd
    from sklearn.metrics import precision_score, recall_score

    from synth import catalog
    from synth.models import load_generator

    model = load_generator(catalog.model_folder(args.dataset, args.version, root=args.catalog_root), device="cpu")
    extra = model.sample(args.rows, conditions={TARGET: POSITIVE}, seed=args.seed)
    real = real_split("train")
    x_test, y_test = xy(real_split("test"))
    scores = {}
    for label, table in (("real only", real), (f"real + {args.rows:,} synthetic {POSITIVE}", pd.concat([real, extra]))):
        x, y = xy(table)
        predicted = classifier().fit(x, y).predict(x_test)
        key = "before" if label == "real only" else "after"
        scores[f"recall_{key}"] = recall_score(y_test, predicted, pos_label=POSITIVE)
        scores[f"precision_{key}"] = precision_score(y_test, predicted, pos_label=POSITIVE)
        scores[f"share_{key}"] = float((y == POSITIVE).mean())
        print(f"{label:36} share {POSITIVE} {(y == POSITIVE).mean():.1%}: recall {scores[f'recall_{key}']:.3f}, "
              f"precision {scores[f'precision_{key}']:.3f} on the real test split")
    return scores


if __name__ == "__main__":
    main()
