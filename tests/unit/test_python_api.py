"""The Python API the README documents ("Using the generators from Python"), run as written on a tiny table."""

import re

import numpy as np
import pandas as pd
import pytest

from synth.errors import GeneratorInputError, SpecError
from synth.models import build_generator, load_generator
from synth.models.configs import TVAEConfig
from tests.conftest import ROOT, TINY, mixed_table


def readme_example() -> str:
    """The first Python block of the README section "Using the generators from Python"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the generators from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def tiny_income_table() -> pd.DataFrame:
    table = mixed_table(300)
    table["income"] = np.where(table["age"] > 60, ">50K", "<=50K")
    return table


def test_the_readme_example_runs(tmp_path, monkeypatch):
    """The README's code, with only the data file and the epoch count swapped for test-sized ones."""
    code = readme_example()
    assert 'pd.read_csv("data/my_table.csv")' in code and '{"epochs": 50}' in code
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pd, "read_csv", lambda path: tiny_income_table())
    namespace: dict = {}
    exec(compile(code.replace('{"epochs": 50}', repr({**TINY["tvae"], "epochs": 1})), "README.md", "exec"), namespace)
    rows, rich, more, same = (namespace[k] for k in ("rows", "rich", "more", "same"))
    assert len(rows) == 1000 and len(more) == 1000 and not more.equals(rows)
    assert (rich["income"] == ">50K").all()
    assert (tmp_path / "models" / "my_tvae" / "config.json").is_file()
    assert same.kind == "tvae" and same.loss_history_ == () and len(namespace["model"].loss_history_) == 1


def test_build_generator_needs_only_a_kind():
    model = build_generator("gaussian_copula")
    assert model.device in ("cpu", "cuda") and model.seed == 0
    assert model.hyperparameters() == {"n_quantiles": 200, "max_categories": 100}
    assert len(model.fit(mixed_table(200)).sample(5, seed=0)) == 5


def test_build_generator_resolves_auto_to_the_machine(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert build_generator("tvae").device == "cpu"
    assert build_generator("tvae", device="cpu").device == "cpu"


@pytest.mark.parametrize("hyperparameters, says", [
    ({"epocs": 2}, r"tvae hyperparameters: epocs: unknown key \(check the spelling; tvae takes epochs, batch_size"),
    ({"epochs": 0}, r"epochs: Input should be greater than or equal to 1 \(got 0\)"),
    ({"compress_dims": [32, 0]}, r"compress_dims\.1: Input should be greater than or equal to 1"),
    ({"lr": float("nan")}, r"lr: .*finite"),
    ({"precision": "fp8"}, r"precision: Input should be 'fp32' or 'bf16'"),
])
def test_bad_hyperparameters_are_named(hyperparameters, says):
    with pytest.raises(GeneratorInputError, match=says):
        build_generator("tvae", hyperparameters)


def test_every_problem_at_once_and_cross_field_rules():
    with pytest.raises(GeneratorInputError) as error:
        build_generator("ctgan", {"epochs": 0, "epocs": 1})
    assert "epochs:" in str(error.value) and "epocs: unknown key" in str(error.value)
    with pytest.raises(GeneratorInputError, match=r"batch_size \(505\) must be a multiple of pac \(10\)"):
        build_generator("ctgan", {"batch_size": 505})


def test_unknown_kind_is_the_spec_error():
    with pytest.raises(SpecError, match="generator.kind 'gan' is not known"):
        build_generator("gan")


def test_a_model_takes_its_config_or_keyword_arguments():
    from synth.models.tvae import TVAE

    config = TVAEConfig(epochs=3)
    assert TVAE(config).config is config and TVAE(epochs=3).config == config
    assert TVAE(config).epochs == 3  # hyperparameters read as attributes
    with pytest.raises(GeneratorInputError, match="takes a TVAEConfig"):
        TVAE(config, epochs=4)
    with pytest.raises(GeneratorInputError, match="epochs"):
        TVAE(epochs=-1)


def test_loaded_model_reports_the_contracts_defaults(tmp_path):
    model = build_generator("ctgan", {**TINY["ctgan"], "epochs": 1}, device="cpu").fit(mixed_table(300))
    assert len(model.loss_history_) == 1 and model.transform_seconds_ > 0 and model.privacy_ is None
    loaded = load_generator(model.save(tmp_path / "m"))
    assert loaded.loss_history_ == () and loaded.transform_seconds_ == 0.0
    assert loaded.privacy_ is None and loaded.private_row_count_ is None and loaded.train_seconds_ is None
    assert loaded.hyperparameters() == model.hyperparameters()
