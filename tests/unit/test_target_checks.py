"""The gate's target checks: class shares within a ratio, and a two-class target's rare-class F1 beside macro-F1."""

import numpy as np
import pandas as pd

from validation.utility import target_balance_check, utility_check


def _table(n: int, rare_share: float, seed: int = 0, signal: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rare_share
    return pd.DataFrame({"x": rng.normal(size=n) + signal * y, "z": rng.normal(size=n),
                         "y": np.where(y, "yes", "no")})


def test_an_inflated_rare_class_fails_the_share_check_and_a_faithful_one_passes():
    real = _table(4000, 0.117)
    inflated = _table(4000, 0.199, seed=1)  # 11.7% → 19.9%, as in the issue
    m = target_balance_check(real, inflated, target="y", max_ratio=1.5)
    assert m.bound == "max" and m.value > 1.5
    assert "y='yes' is" in m.detail and "of the synthetic rows and 11." in m.detail
    faithful = target_balance_check(real, _table(4000, 0.117, seed=2), target="y", max_ratio=1.5)
    assert faithful.value < 1.2


def test_a_starved_class_fails_too_and_an_absent_one_is_finite():
    real = _table(4000, 0.2)
    starved = target_balance_check(real, _table(4000, 0.1, seed=1), target="y", max_ratio=1.5)
    assert starved.value > 1.5
    gone = target_balance_check(real, _table(4000, 0.0, seed=1), target="y", max_ratio=1.5)
    assert np.isfinite(gone.value) and gone.value > 100


def test_a_deliberately_rebalanced_target_is_reported_not_gated():
    m = target_balance_check(_table(2000, 0.1), _table(2000, 0.5, seed=1), target="y", max_ratio=1.5, rebalanced=True)
    assert m.bound is None and "rebalance the target on purpose" in m.detail


def test_rare_class_f1_sees_what_macro_f1_hides():
    real, holdout = _table(3000, 0.12), _table(1500, 0.12, seed=5)
    # synthetic rows whose rare class lost most of its signal: the common class still scores well
    weak = _table(3000, 0.12, seed=6, signal=0.6)
    checks, details = utility_check(real, holdout, weak, target="y", min_ratio=0.8, max_rows=5000,
                                    min_positive_ratio=0.75)
    by_name = {c.name: c for c in checks}
    assert set(by_name) == {"tstr_trtr_ratio", "rare_class_f1_ratio"}
    assert by_name["rare_class_f1_ratio"].value < by_name["tstr_trtr_ratio"].value
    rare = by_name["rare_class_f1_ratio"]
    assert rare.bound == "min" and "rare class y='yes'" in rare.detail
    good, _ = utility_check(real, holdout, _table(3000, 0.12, seed=7), target="y", min_ratio=0.8, max_rows=5000,
                            min_positive_ratio=0.75)
    assert good[1].value > 0.85


def test_a_many_class_target_has_no_rare_class_figure():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=900), "y": rng.choice(["a", "b", "c"], 900)})
    checks, _ = utility_check(table[:600], table[600:], table[:600], target="y", min_ratio=0, max_rows=1000,
                              min_positive_ratio=0.75)
    assert [c.name for c in checks] == ["tstr_trtr_ratio"]
