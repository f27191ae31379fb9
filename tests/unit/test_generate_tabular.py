"""`synth generate` on a saved tabular model: several --condition flags, CSV and Parquet, clear errors."""

import pandas as pd
import pytest

from synth.cli import main
from synth.models import build_generator
from tests.conftest import mixed_table


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("copula") / "model"
    build_generator("gaussian_copula", {}, device="cpu", seed=0, verbose=False).fit(mixed_table(300)).save(folder)
    return folder


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_several_conditions_from_the_command_line(model_dir, tmp_path, capsys, suffix):
    out = tmp_path / f"rows{suffix}"
    args = ["generate", str(model_dir), "--rows", "250", "--out", str(out), "--seed", "3",
            "--condition", "label=yes", "--condition", "group=c", "--condition", "member=True"]
    assert main(args) == 0
    rows = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(rows) == 250
    assert (rows["label"] == "yes").all() and (rows["group"] == "c").all() and rows["member"].all()


def test_a_column_given_twice_or_unknown_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "rows.parquet"
    base = ["generate", str(model_dir), "--rows", "5", "--out", str(out)]
    assert main([*base, "--condition", "label=yes", "--condition", "label=no"]) == 2
    assert "column 'label' is already fixed to 'yes'; give each column once" in capsys.readouterr().err
    assert main([*base, "--condition", "colour=red", "--condition", "label=maybe"]) == 2
    err = capsys.readouterr().err
    assert "'colour' is not a categorical column" in err
    assert "condition label='maybe': not a category seen in training" in err
    assert not out.exists()
