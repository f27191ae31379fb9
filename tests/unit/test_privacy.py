"""Differential privacy: the accounting, the private preprocessing, the refusals and tiny private fits."""

import json
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import torch

from synth.errors import GeneratorInputError, SpecError
from synth.models import build_generator, load_generator
from synth.privacy import private_hyperparameters
from synth.privacy.accounting import calibrate_noise, default_delta, epsilon, selection_threshold
from synth.privacy.budget import PrivacyBudget
from synth.privacy.transformer import DPDataTransformer
from synth.spec import PipelineSpec, load_spec, spec_from_dict
from tests.conftest import ROOT, mixed_table

TINY = {
    "dp_ctgan": {"epochs": 2, "batch_size": 100, "generator_dim": (32,), "discriminator_dim": (32,),
                 "embedding_dim": 16},
    "dp_tvae": {"epochs": 2, "batch_size": 100, "compress_dims": (32,), "decompress_dims": (32,), "embedding_dim": 16},
}
PRIVACY = {"epsilon": 3.0, "bounds": {"age": [18, 89]}, "categories": {"label": ["yes", "no"]}}


def private_table(n: int = 1000) -> pd.DataFrame:
    """mixed_table plus what must never leak: an out-of-bounds age, a value only one row holds, an undeclared label."""
    table = mixed_table(n)
    table.loc[0, "age"] = 250  # outside the declared bounds: clipped
    table.loc[1, "group"] = "only-one-row-has-this"  # undeclared column: released only above the noise threshold
    table.loc[2:4, "label"] = "maybe"  # not in the declared list: treated as missing/other
    return table


@pytest.fixture(scope="module", params=sorted(TINY))
def fitted(request):
    table = private_table()
    model = build_generator(request.param, {**TINY[request.param], **PRIVACY}, device="cpu", seed=0, verbose=False)
    return model.fit(table), table


# -- accounting -----------------------------------------------------------------------


def test_reported_epsilon_is_opacus_accountant_on_the_ledgers_sigma_q_and_steps(fitted):
    from opacus.accountants import RDPAccountant

    model, _ = fitted
    ledger = model.privacy_
    pre, train = ledger["parts"]
    (pre_sigma, pre_q, pre_steps), (sigma, q, steps) = ledger["history"]
    # the ledger's table shows the accountant's own entries
    assert (pre_q, pre_steps) == (1.0, pre["steps"]) and pre_sigma == pytest.approx(pre["noise_multiplier"], abs=1e-4)
    assert sigma == pytest.approx(train["noise_multiplier"], abs=1e-4)
    assert q == pytest.approx(train["sample_rate"], abs=1e-6)
    assert steps == train["steps"] == model.epochs * int(1 / q)  # every planned step, no more
    delta = ledger["accountant_delta"]
    assert delta + ledger["selection_delta"] == pytest.approx(ledger["delta"])
    # a fresh Opacus accountant given the same σ, q and steps reports the same ε, in total and per part
    accountant = RDPAccountant()
    accountant.history = [(pre_sigma, 1.0, pre_steps), (sigma, q, steps)]
    assert ledger["epsilon"] == pytest.approx(accountant.get_epsilon(delta), abs=1e-4)
    alone = RDPAccountant()
    alone.history = [(sigma, q, steps)]
    assert train["epsilon"] == pytest.approx(alone.get_epsilon(delta), abs=1e-4)
    # the noise was calibrated so that training ends exactly at the budget: at most ε, within the tolerance
    assert 0.99 * PRIVACY["epsilon"] <= ledger["epsilon"] <= PRIVACY["epsilon"]


# PRV is slow below q = 1
@pytest.mark.parametrize("accountant, sample_rate, steps", [("rdp", 0.02, 500), ("prv", 1.0, 10)])
def test_calibrated_noise_spends_the_budget_after_what_came_before(accountant, sample_rate, steps):
    before = [(20.0, 1.0, 12)]
    sigma = calibrate_noise(2.0, 1e-5, sample_rate=sample_rate, steps=steps, accountant=accountant, before=before)
    total = epsilon([*before, (sigma, sample_rate, steps)], 1e-5, accountant)
    assert 0.99 * 2.0 <= total <= 2.0
    # and less noise would overspend it
    assert epsilon([*before, (sigma * 0.97, sample_rate, steps)], 1e-5, accountant) > 2.0


def test_matches_opacus_get_noise_multiplier_when_nothing_came_before():
    from opacus.accountants.utils import get_noise_multiplier

    ours = calibrate_noise(3.0, 1e-5, sample_rate=0.02, steps=1000)
    theirs = get_noise_multiplier(target_epsilon=3.0, target_delta=1e-5, sample_rate=0.02, steps=1000, accountant="rdp")
    assert ours == pytest.approx(theirs, rel=0.02)


def _exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """The tight ε of one Gaussian mechanism of L2 sensitivity 1 (Balle & Wang 2018), by bisection."""
    normal = NormalDist()

    def delta_of(eps: float) -> float:
        return normal.cdf(0.5 / sigma - eps * sigma) - math.exp(eps) * normal.cdf(-0.5 / sigma - eps * sigma)

    low, high = 0.0, 50.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if delta_of(middle) > delta else (low, middle)
    return high


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_noisy_counts_are_never_charged_less_than_their_exact_cost(accountant):
    # k Gaussian counts of sensitivity 1 with noise σ are one Gaussian mechanism with noise σ/√k
    for sigma, k in [(20.0, 18), (5.0, 1), (2.0, 4)]:
        exact = _exact_gaussian_epsilon(sigma / math.sqrt(k), 1e-5)
        charged = epsilon([(sigma, 1.0, k)], 1e-5, accountant)
        assert exact <= charged <= exact * 1.15


def test_default_delta_is_the_power_of_ten_below_one_over_n():
    assert default_delta(26_049) == 1e-5
    assert default_delta(1000) == 1e-4
    for n in (7, 99, 100, 101, 12_345, 10**6):
        assert default_delta(n) < 1 / n <= 10 * default_delta(n)


def test_selection_threshold_releases_a_one_row_value_with_probability_delta():
    sigma, delta = 10.0, 1e-6
    tau = selection_threshold(sigma, delta)
    assert 1 - NormalDist(1, sigma).cdf(tau) == pytest.approx(delta, rel=1e-3)


# -- private preprocessing ------------------------------------------------------------------


def test_saved_model_holds_only_public_or_noisy_statistics(fitted, tmp_path):
    model, table = fitted
    model.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    text = json.dumps(config["transformer"])
    assert config["transformer"]["private"] is True
    assert "only-one-row-has-this" not in text and "maybe" not in text  # a value one row holds never leaks
    scores = table["score"].dropna()
    assert not any(repr(float(v)) in text for v in scores)  # no raw value, not even the min or max
    states = {c["name"]: c["state"] for c in config["transformer"]["columns"]}
    assert states["age"]["low"] == 18 and states["age"]["high"] == 89 and states["age"]["bounds"] == "declared"
    assert states["score"]["bounds"] == "private"
    # category counts are noisy: not the exact counts of the table
    exact = table["group"].value_counts()
    noisy = dict(zip(states["group"]["categories"], states["group"]["frequencies"], strict=True))
    assert any(noisy[v] != exact[v] for v in exact.index if v in noisy)
    assert config["privacy"]["epsilon"] == model.privacy_["epsilon"]


def test_private_output_respects_bounds_and_released_categories(fitted, tmp_path):
    model, table = fitted
    sample = model.sample(2000, seed=3)
    assert list(sample.columns) == list(table.columns)
    for column in table.columns:
        assert sample[column].dtype == table[column].dtype, column
    assert sample["age"].between(18, 89).all()  # clipped to the declared bounds, never 250
    assert set(sample["label"].dropna()) <= {"yes", "no"}
    assert "only-one-row-has-this" not in set(sample["group"].dropna())
    # fit → save → load → sample gives the same rows
    model.save(tmp_path / "model")
    loaded = load_generator(tmp_path / "model")
    assert loaded.kind == model.kind and loaded.privacy_ == model.privacy_
    pd.testing.assert_frame_equal(loaded.sample(300, seed=5), model.sample(300, seed=5))


def test_conditional_sampling_works_on_a_private_model(fitted):
    model, _ = fitted
    rows = model.sample(200, conditions={"label": "yes"}, seed=1)
    assert (rows["label"] == "yes").all()


def test_numeric_encoding_round_trips_through_the_noisy_cdf():
    table = pd.DataFrame({"x": np.random.default_rng(0).gamma(2.0, 1000.0, 3000).round(), "c": ["a"] * 3000})
    table["x"] = table["x"].astype("int64")
    transformer = DPDataTransformer(bins=10, bounds={"x": [0, 20000]}, categories={"c": ["a"]})
    transformer.fit(table, sigma=20.0, selection_threshold=None, seed=0)
    encoded = transformer.transform(table)
    decoded = transformer.inverse_transform(encoded)
    inside = table["x"].between(*_support_values(transformer, "x"))
    # F is strictly increasing on the support, so values there come back: exactly (after integer rounding)
    # unless they sit at a quantile bin's very edge, where alpha is clipped to ±0.99 as in CTGAN
    error = (decoded["x"][inside] - table["x"][inside]).abs()
    assert (error <= 1).mean() > 0.98 and error.max() < 0.01 * 20000
    assert inside.mean() > 0.98  # only a thin noisy tail is clipped onto the support's edge


def _support_values(transformer, name):
    state = next(c for c in transformer.columns_ if c.name == name).state
    mass = np.asarray(state["mass"])
    cells = np.flatnonzero(mass)
    return state["cell_low"][cells[0]], state["cell_high"][cells[-1]]


# -- refusals ------------------------------------------------------------------------


def _adult_spec(**changes) -> dict:
    import yaml

    raw = yaml.safe_load((ROOT / "pipelines" / "adult_dp_ctgan.yaml").read_text())
    for key, value in changes.items():
        node = raw
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def test_gaussian_copula_is_refused_under_privacy():
    raw = _adult_spec(**{"generator": {"kind": "gaussian_copula"}})
    with pytest.raises(SpecError, match="gaussian_copula has no private version.*use kind ctgan"):
        spec_from_dict(raw)


def test_image_generators_are_refused_under_privacy():
    raw = {"name": "digits", "source": {"format": "sklearn_digits"}, "generator": {"kind": "ddpm"},
           "privacy": {"epsilon": 1}}
    with pytest.raises(SpecError, match="'ddpm' has no private version"):
        spec_from_dict(raw)


@pytest.mark.parametrize("key, value, message", [
    ("generator.pac", 5, "generator.pac=5 does not apply with privacy.*set pac: 1"),
    ("generator.transformer_sample_size", 2000, "generator.transformer_sample_size=2000 does not apply with privacy"),
    ("generator.precision", "bf16", "generator.precision='bf16' does not apply with privacy.*float32"),
    ("privacy.epsilon", 0, "privacy.epsilon"),
    ("privacy.accountant", "gdp", "privacy.accountant"),
    ("privacy.bounds", {"age": [90, 17]}, r"bounds.age: low \(90\) must be below high \(17\)"),
    ("privacy.categories", {"sex": []}, "categories.sex: list at least one value"),
    ("privacy.delta", 1.5, "privacy.delta"),
])
def test_bad_privacy_settings_are_refused_by_the_spec(key, value, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(_adult_spec(**{key: value}))


def test_pac_one_is_accepted_and_dropped_for_the_private_model():
    spec = spec_from_dict(_adult_spec(**{"generator.pac": 1}))
    kind, hyper = private_hyperparameters(spec.generator.kind, spec.generator.hyperparameters(),
                                          spec.privacy.model_dump())
    assert kind == "dp_ctgan" and hyper["epsilon"] == 1.0
    assert "pac" not in hyper and "transformer_sample_size" not in hyper


def test_declared_metadata_must_fit_the_table(adult):
    spec = spec_from_dict(_adult_spec(**{"privacy.bounds": {"sex": [0, 1], "no-such-column": [0, 1]},
                                         "privacy.categories": {"age": [17, 18]}}))
    with pytest.raises(SpecError) as error:
        spec.check_against(adult, origin="adult_dp_ctgan.yaml")
    message = str(error.value)
    assert "'no-such-column' is not in the table" in message
    assert "privacy.bounds.sex: 'sex' is categorical; declare privacy.categories.sex" in message
    assert "privacy.categories.age: 'age' is numeric; declare privacy.bounds.age" in message


def test_delta_not_below_one_over_n_is_refused_before_anything_is_released():
    table = mixed_table(400)
    model = build_generator("dp_tvae", {**TINY["dp_tvae"], "epsilon": 1.0, "delta": 1e-2}, device="cpu", seed=0,
                            verbose=False)
    with pytest.raises(GeneratorInputError, match=r"privacy.delta=0.01 is not below 1/n = 1/400.*use at most 0.001"):
        model.fit(table)
    assert not hasattr(model, "transformer_")


def test_a_budget_too_small_for_the_plan_is_refused():
    model = build_generator("dp_tvae", {**TINY["dp_tvae"], "epsilon": 1e-4}, device="cpu", seed=0, verbose=False)
    with pytest.raises(GeneratorInputError, match="too small"):
        model.fit(mixed_table(400))


def test_batchnorm_in_the_private_module_is_refused():
    budget = PrivacyBudget(epsilon=1.0)
    budget.noise_multiplier_, budget.batch_size_, budget.sample_rate_, budget.history_ = 1.0, 10, 0.1, []
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    with pytest.raises(GeneratorInputError, match=r"BatchNorm layers \['1'\].*DP-SGD's bound does not hold"):
        budget.make_private(module, lambda params: torch.optim.Adam(params), seed=0)


# -- spec and flow plumbing -------------------------------------------------------------------


def test_max_epsilon_survives_a_json_round_trip_of_the_spec():
    spec = load_spec(ROOT / "pipelines" / "adult_dp_ctgan.yaml")
    assert spec.validation.max_epsilon == 1.0
    # as `synth serve` ships it
    again = PipelineSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again.validation.max_epsilon == 1.0 and again.privacy == spec.privacy


def test_output_rows_default_to_the_private_models_noisy_count():
    from types import SimpleNamespace

    from flows.pipeline import _output_rows

    train = mixed_table(400)
    assert _output_rows(SimpleNamespace(rows=None), SimpleNamespace(private_row_count_=413), train) == 413
    assert _output_rows(SimpleNamespace(rows=None), SimpleNamespace(), train) == 400  # not private: the exact count
    assert _output_rows(SimpleNamespace(rows=50), SimpleNamespace(private_row_count_=413), train) == 50


def test_card_markdown_shows_the_ledger(fitted):
    from synth.privacy.ledger import ledger_markdown

    model, _ = fitted
    text = "\n".join(ledger_markdown(model.privacy_))
    assert "## Differential privacy" in text and f"ε = {model.privacy_['epsilon']:.3g}" in text
    assert "not covered by ε" in text and "opacus" in text


# -- the released marginals the private generators are pulled towards ----------------------


def test_marginal_targets_come_from_the_released_counts_only(fitted):
    model, table = fitted
    transformer = model.transformer_
    widths = [w for w, activation in transformer.spans if activation == "softmax"]
    targets = transformer.marginal_targets()
    assert len(targets) == len(widths)
    for target, width in zip(targets, widths, strict=True):
        if target is not None:
            assert len(target) == width and target.sum() == pytest.approx(1.0) and (target >= 0).all()
    # a categorical column's target is its noisy frequencies, normalised (what the saved state holds)
    spans_before = {c.name: sum(1 for _, a in c.spans if a == "softmax") for c in transformer.columns_}
    position = 0
    for column in transformer.columns_:
        if column.name == "group":
            noisy = np.asarray(column.state["frequencies"], dtype=float)
            np.testing.assert_allclose(targets[position], noisy / noisy.sum())
        position += spans_before[column.name]
    # a numeric column's quantile bins are equal-mass bins of its noisy CDF: uniform
    age_bins = targets[[c.name for c in transformer.columns_ for _, a in c.spans if a == "softmax"].index("age")]
    np.testing.assert_allclose(age_bins, np.full(transformer.bins, 1 / transformer.bins))


def test_marginal_loss_is_the_kl_divergence_from_the_released_marginals(fitted):
    from synth.models.tabular import MarginalLoss

    model, _ = fitted
    loss = MarginalLoss.from_released(model.layout_, model.transformer_, "cpu")
    layout = model.layout_
    # logits equal to log(target) in every block with a target: the batch's softmax is the target, KL = 0
    raw = torch.zeros(8, layout.data_dim)
    raw[:, layout.soft_cols] = loss.target.clamp_min(1e-6).log()
    assert loss(raw).item() == pytest.approx(0.0, abs=1e-3)
    # anything else is further away, and the figure is KL(target ‖ mean softmax) computed by hand
    raw = torch.randn(8, layout.data_dim, generator=torch.Generator().manual_seed(0))
    mean = layout.block_softmax(raw).mean(0)
    t = loss.target
    by_hand = torch.where(t > 0, t * (t.clamp_min(1e-12).log() - mean.log()), 0.0).sum()
    assert loss(raw).item() == pytest.approx(by_hand.item(), rel=1e-4) and by_hand > 0.01


def test_the_marginal_steps_spend_no_privacy_budget():
    """With and without the pull towards the released marginals, the same σ, q and steps: the same ε."""
    table = private_table(600)
    ledgers = []
    for weight in (0.0, 1.0):
        model = build_generator("dp_tvae", {**TINY["dp_tvae"], **PRIVACY, "marginal_weight": weight},
                                device="cpu", seed=0, verbose=False).fit(table)
        ledgers.append(model.privacy_)
    assert ledgers[0]["history"] == ledgers[1]["history"] and ledgers[0]["epsilon"] == ledgers[1]["epsilon"]


def test_private_configs_are_the_public_ones_less_what_privacy_cannot_honour_plus_the_budget():
    """DP configs compose their model's shared config with the privacy fields; the spec keys a private fit refuses are
    exactly the public-only ones, and the privacy block's keys are exactly the budget's."""
    from synth.models.configs import CONFIGS, PrivacyConfig
    from synth.privacy import NOT_USED_UNDER_PRIVACY, PRIVATE_KINDS
    from synth.spec import PrivacySpec

    budget = set(PrivacyConfig.model_fields)
    assert budget == set(PrivacySpec.model_fields)
    for public, private in PRIVATE_KINDS.items():
        public_fields, private_fields = set(CONFIGS[public].model_fields), set(CONFIGS[private].model_fields)
        assert public_fields - private_fields <= set(NOT_USED_UNDER_PRIVACY), public
        assert private_fields - public_fields - {"marginal_weight"} == budget, private
