"""Differential privacy for the tabular generators, with one honest budget end to end.

- `accounting`: ε from Opacus' accountants, noise calibration, the default δ.
- `transformer`: `DPDataTransformer`, preprocessing from public facts and noisy counts only.
- `budget`: `PrivacyBudget`, which spends the budget (preprocessing, then
  DP-SGD through Opacus with Poisson sampling) and writes the ledger.

The private generators themselves live with the others in `synth.models`
(`dp_ctgan`, `dp_tvae`). A spec with a `privacy:` block trains them in place
of `ctgan` / `tvae`.
"""

from __future__ import annotations

#: generator.kind → the private generator a `privacy:` block trains instead.
PRIVATE_KINDS = {"ctgan": "dp_ctgan", "tvae": "dp_tvae"}
#: Spec keys of a generator that a private fit does not use, with why (a non-default value is refused).
NOT_USED_UNDER_PRIVACY = {
    "pac": "DP-SGD needs each row's gradient on its own, so DP-CTGAN uses pac 1",
    "transformer_sample_size": ("the private preprocessing counts every row once; no Gaussian mixture is fitted "
                                "on a subsample"),
    "max_categories": "a private fit keeps only declared categories or those found above a noise threshold",
    "precision": ("the private models train in float32 (Opacus's per-row gradient norms are not checked under "
                  "bf16 autocast)"),
    "max_minutes": ("a private fit runs exactly the DP-SGD steps its noise was calibrated for: stopping on the clock "
                    "would make the steps taken, and so the ε reported, depend on timing, which the row count "
                    "drives; lower epochs instead"),
    "early_stopping": ("it scores generated rows against held-out training rows after every few epochs, a look at "
                       "the data no privacy budget pays for"),
    "patience": "it only applies with early_stopping, which a private fit cannot use",
    "eval_every": "it only applies with early_stopping, which a private fit cannot use",
}


def private_hyperparameters(kind: str, hyperparameters: dict, privacy: dict) -> tuple[str, dict]:
    """(private kind, its keyword arguments) for a spec's generator and privacy block."""
    kept = {k: v for k, v in hyperparameters.items() if k not in NOT_USED_UNDER_PRIVACY}
    return PRIVATE_KINDS[kind], {**kept, **privacy}
