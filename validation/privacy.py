"""Privacy: is the synthetic table a copy of the people it was trained on?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from validation.checks import Measurement
from validation.encoding import BLOCK_ROWS


def _row_hashes(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    # Hash on a normalised form so 5 and 5.0, or NaN and None, compare equal.
    normal = table[columns].copy()
    for column in columns:
        series = normal[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            normal[column] = series.astype("float64")
        else:
            normal[column] = series.astype("object").where(series.notna(), None).astype(str)
    return pd.util.hash_pandas_object(normal, index=False).to_numpy()


def exact_copy_rate(train: pd.DataFrame, other: pd.DataFrame) -> float:
    """Share of rows of `other` identical, in every column, to some training row."""
    columns = list(train.columns)
    return float(np.isin(_row_hashes(other, columns), _row_hashes(train, columns)).mean())


def exact_copy_check(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None, *, max_rate: float
) -> Measurement:
    """Synthetic rows that copy a training row must be rare.

    The holdout's own rate is shown beside it: real tables contain duplicate
    people (Adult: about 0.1%), so that is the rate a fresh sample of the
    population would reach by chance.
    """
    rate = exact_copy_rate(train, synthetic)
    detail = f"{int(round(rate * len(synthetic)))} of {len(synthetic)} synthetic rows copy a training row"
    if holdout is not None and len(holdout):
        detail += f"; real holdout rows that do: {exact_copy_rate(train, holdout):.4f}"
    return Measurement("privacy", "exact_copy_rate", round(rate, 6), max_rate, "max", detail)


def nearest_distances(
    queries: np.ndarray, reference: np.ndarray | Iterable[np.ndarray], k: int = 1, chunk: int = 1024,
    block: int = BLOCK_ROWS,
) -> np.ndarray:
    """Euclidean distance from each query row to its k nearest reference rows, shape (n, k).

    Exact brute force with torch (a matrix product per piece, on the GPU when
    there is one): on encoded tables of ~100 columns this beats tree indexes,
    which degrade to brute force in that many dimensions. `reference` is an
    array or an iterable of encoded blocks (`RowEncoder.blocks`), so a long
    reference table is never encoded whole; memory is bounded by one block
    and one `chunk` × `block` matrix of distances, whatever the table sizes.
    Fewer than k reference rows: the missing neighbours are at +inf.
    """
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(reference, np.ndarray):
        whole = reference
        reference = (whole[start : start + block] for start in range(0, len(whole), block))
    queries_t = torch.from_numpy(queries).to(device)
    best = torch.full((len(queries), k), float("inf"), device=device)  # k smallest |r|^2 - 2 q.r so far
    for piece in reference:
        ref = torch.from_numpy(piece).to(device)
        ref_t = ref.T.contiguous()  # (dim, block)
        ref_sq = (ref * ref).sum(1)
        kk = min(k, len(piece))
        for start in range(0, len(queries), chunk):
            q = queries_t[start : start + chunk]
            # |q - r|^2 = |q|^2 + (|r|^2 - 2 q.r): |q|^2 is the same for a whole row, so the k smallest
            # are found on the fused matrix product (one pass, no extra full-size temporaries) and |q|^2
            # is added to the final k only
            partial = torch.addmm(ref_sq, q, ref_t, alpha=-2)  # (chunk, block)
            found = torch.cat([best[start : start + chunk], partial.topk(kk, dim=1, largest=False).values], dim=1)
            best[start : start + chunk] = found.topk(k, dim=1, largest=False).values
    nearest = best + (queries_t * queries_t).sum(1, keepdim=True)
    return nearest.clamp_min(0).sqrt().cpu().numpy()


def distance_checks(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    max_dcr_share: float,
    max_rows: int,
    seed: int = 0,
) -> tuple[list[Measurement], dict]:
    """Distance to closest record (DCR): training rows versus holdout rows.

    The holdout was never seen by the generator. For each synthetic row we
    ask whether its nearest real row (among all N training and M holdout
    rows) is a training row. A generator that learned the population, not
    the people, lands on a training row with probability N/(N+M); memorised
    rows always do. The share is reported size-adjusted, as if both sets had
    equal size: 0.5 means no closer to training than to new people, 1.0
    means every row sits on a training row. (Subsampling the training rows
    to the holdout's size instead would drop most memorised people from the
    comparison and hide them.) Ties count half. At most `max_rows` synthetic
    rows are scored, each against every training and holdout row; those are
    encoded a block at a time, so memory does not grow with the real tables.

    Also reported, not gating: the nearest-neighbour distance ratio (NNDR,
    nearest / second-nearest training row; near 0 means a synthetic row sits
    on one real person), its 5th percentile beside the real holdout's.
    """
    from validation.encoding import RowEncoder

    rng = np.random.default_rng(seed)
    synth = synthetic.iloc[rng.choice(len(synthetic), min(max_rows, len(synthetic)), replace=False)]
    encoder = RowEncoder().fit(train)
    x_synth = encoder.transform(synth[train.columns])
    n_train, n_holdout = len(train), len(holdout)

    # every training and holdout row, streamed a block at a time: exact, in bounded memory
    to_train = nearest_distances(x_synth, encoder.blocks(train), k=2)
    to_holdout = nearest_distances(x_synth, encoder.blocks(holdout), k=1)[:, 0]
    d_train = to_train[:, 0]
    raw_share = float(np.mean(d_train < to_holdout) + 0.5 * np.mean(d_train == to_holdout))
    share = raw_share * n_holdout / (raw_share * n_holdout + (1 - raw_share) * n_train)

    nndr = d_train / np.maximum(to_train[:, 1], 1e-12)
    probe = encoder.transform(holdout.iloc[rng.choice(n_holdout, min(n_holdout, 2000), replace=False)])
    holdout_to_train = nearest_distances(probe, encoder.blocks(train), k=2)
    baseline = holdout_to_train[:, 0] / np.maximum(holdout_to_train[:, 1], 1e-12)
    nndr_p5, baseline_p5 = float(np.percentile(nndr, 5)), float(np.percentile(baseline, 5))

    detail = (
        f"{len(synth)} synthetic rows against {n_train} training and {n_holdout} holdout rows; nearest is a training "
        f"row for {raw_share:.1%} (no memorisation: {n_train / (n_train + n_holdout):.1%}); "
        f"median DCR to training {np.median(d_train):.4f}, to holdout {np.median(to_holdout):.4f}"
    )
    checks = [
        Measurement("privacy", "dcr_closer_to_training", round(share, 4), max_dcr_share, "max", detail),
        Measurement.reported(
            "privacy", "nndr_p5", round(nndr_p5, 4),
            f"5th percentile of nearest/second-nearest training distance; real holdout rows: {baseline_p5:.4f}",
        ),
    ]
    edges = np.histogram_bin_edges(np.concatenate([d_train, to_holdout]), bins=40)
    raw = {
        "dcr_share_unadjusted": raw_share,
        "dcr_histogram": {
            "edges": np.round(edges, 5).tolist(),
            "to_training": np.histogram(d_train, edges)[0].tolist(),
            "to_holdout": np.histogram(to_holdout, edges)[0].tolist(),
        },
        "rows": {"synthetic": len(synth), "train": n_train, "holdout": n_holdout},
    }
    return checks, raw


def membership_check(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    max_auc: float,
    max_rows: int,
    seed: int = 0,
) -> tuple[Measurement, dict]:
    """A distance-based membership-inference attack, scored as ROC AUC.

    The attacker holds the synthetic table and a real record, and guesses
    "this person was in the training data" when the record has a synthetic
    row unusually close to it: score = minus the distance to the nearest
    synthetic row. Members are training rows, non-members the holdout rows
    the generator never saw (equal numbers of each, at most 5,000). AUC 0.5:
    the synthetic rows say nothing about who was trained on; 1.0: every
    member is given away (a copied table scores 1.0).
    """
    from sklearn.metrics import roc_auc_score

    from validation.encoding import RowEncoder

    rng = np.random.default_rng(seed)
    n = min(len(train), len(holdout), 5000)
    members = train.iloc[rng.choice(len(train), n, replace=False)]
    others = holdout.iloc[rng.choice(len(holdout), n, replace=False)]
    synth = synthetic.iloc[rng.choice(len(synthetic), min(max_rows, len(synthetic)), replace=False)]
    encoder = RowEncoder().fit(train)
    x_synth = encoder.transform(synth[train.columns])
    d_members = nearest_distances(encoder.transform(members), x_synth)[:, 0]
    d_others = nearest_distances(encoder.transform(others), x_synth)[:, 0]
    auc = float(roc_auc_score(np.r_[np.ones(n), np.zeros(n)], -np.r_[d_members, d_others]))
    detail = (
        f"nearest-synthetic-row attack on {n} training rows (members) vs {n} holdout rows; "
        f"median distance members {np.median(d_members):.4f}, non-members {np.median(d_others):.4f}; "
        f"against {len(synth)} synthetic rows"
    )
    check = Measurement("privacy", "membership_auc", round(auc, 4), max_auc, "max", detail)
    return check, {"membership_auc": auc, "members": n, "synthetic_rows": len(synth)}


def epsilon_measurement(ledger: Mapping[str, Any] | None, *, max_epsilon: float) -> Measurement:
    """`validation.max_epsilon`: the total ε on the generator's privacy ledger (Opacus' accountant's figure).

    The accountant measures; the gate decides, as for every other figure. No
    ledger (None or empty) means the generator is not differentially private:
    the figure is then unmeasured (None) and the requirement fails: a gate
    given no ledger cannot vouch for ε.
    """
    if not ledger:
        return Measurement("privacy", "epsilon", None, max_epsilon, "max",
                           "no privacy ledger: the generator is not differentially private (add a privacy: block to "
                           "the spec), or the gate judged files without the generator's ledger")
    return Measurement("privacy", "epsilon", float(ledger["epsilon"]), max_epsilon, "max",
                       f"total ε from the model's privacy ledger (δ = {ledger['delta']:g}, "
                       f"{ledger['accountant']} accountant)")
