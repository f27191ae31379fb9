"""The privacy ledger: what a private fit spent, shown in the model's config and the dataset card.

Built by `synth.privacy.budget.PrivacyBudget.ledger`; this module only states
what ε covers and renders the ledger, so showing a card needs no torch.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

#: What ε covers and what it does not; stated in every ledger.
COVERS = ("the synthetic rows (data.parquet / data/) and the saved generator (model/), and anything sampled from it "
          "later")
NOT_COVERED = [
    "the gate's figures in this card, report.html and validation/: they are computed on the real training and "
    "holdout rows (for example the real columns' ranges and marginals) and are not differentially private; share "
    "them only with people allowed to see the real data",
    "the decision to publish: the gate passing or failing depends on the real rows",
    "the holdout rows: never trained on, so ε does not concern them, but the gate reads them",
    "the exact row counts in the card's split and source sections (the model itself only used a noisy count)",
]


def package_versions() -> dict[str, str]:
    versions = {}
    for name in ("opacus", "torch", "numpy", "synth-pipeline"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def ledger_markdown(ledger: dict[str, Any]) -> list[str]:
    """The ledger as a card.md section."""
    pre, train = ledger["parts"]
    lines = [
        "## Differential privacy",
        f"- **ε = {ledger['epsilon']:.3g}**, δ = {ledger['delta']:.3g} ({ledger['delta_rule']}); accountant: "
        f"{ledger['accountant'].upper()}; neighbouring tables: {ledger['adjacency']}",
        f"- {ledger['composition']}",
        f"- covers: {ledger['covers']}",
        "",
        "| part | mechanism | noise multiplier σ | sampling rate q | steps | clipping norm | ε alone |",
        "|---|---|---|---|---|---|---|",
        f"| preprocessing | {pre['mechanism']} | {pre['noise_multiplier']} | 1 | {pre['steps']} | (sensitivity 1) | "
        f"{pre['epsilon']} |",
        f"| training ({train['private_module']}) | {train['mechanism']} | {train['noise_multiplier']} | "
        f"{train['sample_rate']} | {train['steps']} ({train['epochs']} epochs) | {train['max_grad_norm']} | "
        f"{train['epsilon']} |",
        "",
        "Preprocessing releases (noisy counts):",
        "",
        "| column | statistic | cells | detail |",
        "|---|---|---|---|",
        *[f"| {r['column']} | {r['statistic']} | {r['cells']} | {r['detail']} |" for r in pre["releases"]],
        "",
    ]
    if pre.get("category_selection"):
        sel = pre["category_selection"]
        lines += [f"- categories found privately in {', '.join(sel['columns'])}: "
                  f"a value is kept when its noisy count exceeds {sel['threshold']} (adds δ = {sel['delta']:.3g})"]
    public = ledger["public"]
    lines += [
        f"- public (declared, costs no ε): {public['schema']}; bounds of {', '.join(public['bounds']) or 'no column'}; "
        f"category lists of {', '.join(public['categories']) or 'no column'}",
        *[f"- post-processing (free): {p}" for p in ledger["post_processing"]],
        *[f"- **not covered by ε**: {p}" for p in ledger["not_covered"]],
        f"- noise: {ledger['noise_source']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in ledger["versions"].items()),
        "",
    ]
    return lines
