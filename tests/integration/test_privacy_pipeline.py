"""The ε = 1 DP-CTGAN Adult pipeline through the CLI, one epoch of tiny networks: the ledger reaches the card.

It trains on the spec's own 26,049 Adult rows: on a small sample, rare declared
categories and the declared bounds' extremes are absent from the real rows, and
the gate's schema suite (which compares with the real rows) would rightly refuse.
"""

import json

import pandas as pd

from synth.cli import main
from tests.conftest import ADULT_COLUMNS, ROOT

SPEC = str(ROOT / "pipelines" / "adult_dp_ctgan.yaml")
NAME = "adult_dp_ctgan"
TINY = ["generator.epochs=1", "generator.generator_dim=[64]", "generator.discriminator_dim=[64]"]
# one epoch cannot reach the spec's quality; this test is about the pipeline's mechanics and the ledger
RELAXED = [
    "validation.min_quality=0.3", "validation.min_column_shapes=0.3", "validation.min_pair_trends=0.3",
    "validation.null_tolerance=0.5", "validation.max_detection_auc=1.0", "validation.min_utility_ratio=0",
    "validation.min_rare_class_f1_ratio=0", "validation.max_target_share_ratio=1000",
    "validation.max_dcr_share=1.0", "validation.max_membership_auc=1.0", "validation.max_exact_copy_rate=1.0",
]


def test_private_pipeline_publishes_with_the_ledger_in_its_card(prefect_server, tmp_path, capfd):
    root = tmp_path / "published"
    args = [f"publish.root={root}", "rows=2000", "validation.max_rows_scored=2000", *TINY, *RELAXED]
    code = main(["run", SPEC, *[a for pair in args for a in ("--set", pair)]])
    out = capfd.readouterr().out
    assert code == 0
    version = root / NAME / "v1"
    card = json.loads((version / "card.json").read_text())
    ledger = card["privacy"]
    assert card["generator"]["kind"] == "dp_ctgan"
    assert 0.99 <= ledger["epsilon"] <= 1.0 and ledger["delta"] == 1e-5 and ledger["accountant"] == "rdp"
    pre, train = ledger["parts"]
    assert train["private_module"] == "discriminator" and train["max_grad_norm"] == 1.0 and train["steps"] > 0
    assert {r["column"] for r in pre["releases"]} >= {"fnlwgt", "capital-loss", "income"}
    assert ledger["versions"]["opacus"].startswith("1.6")
    # the gate required ε <= 1 (validation.max_epsilon in the spec) and recorded it
    epsilon_check = next(c for c in card["gate"]["checks"] if c["name"] == "epsilon")
    assert epsilon_check["passed"] and epsilon_check["value"] == ledger["epsilon"] and epsilon_check["threshold"] == 1.0
    data = pd.read_parquet(version / "data.parquet")
    assert list(data.columns) == ADULT_COLUMNS and len(data) == 2000
    config = json.loads((version / "model" / "config.json").read_text())
    assert config["kind"] == "dp_ctgan" and config["privacy"] == ledger
    assert "## Differential privacy" in (version / "card.md").read_text()
    # synth run printed the total, and synth list shows it
    assert f"privacy: ε = {ledger['epsilon']:.3f} spent on the training rows" in out
    assert main(["list", "--root", str(root)]) == 0
    assert f"{ledger['epsilon']:.3f}" in capfd.readouterr().out
