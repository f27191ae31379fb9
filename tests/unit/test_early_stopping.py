"""Time budgets and early stopping (synth.models.stopping): training stops on `max_minutes` or when the score on
held-out training rows stops improving, keeps the best weights, records why it stopped (config.json, the card),
resumes where it left off, and changes nothing by default."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from synth import catalog
from synth.errors import GeneratorInputError, ModelError, SpecError
from synth.models import build_generator, load_generator
from synth.models import stopping as stopping_module
from synth.models.checkpoint import TrainingCheckpoint, latest, read
from synth.models.configs import CONFIGS, TimeBudget, TrainingBudget
from synth.models.stopping import FidelityProxy, held_out_split
from synth.spec import spec_from_dict
from tests.conftest import TINY, mixed_table
from tests.unit.test_image_generators import TINY as TINY_IMAGES
from tests.unit.test_image_generators import tiny_images
from tests.unit.test_resume import FINGERPRINT, Interrupted, StopAfter, weights

TABLE_KINDS = ("ctgan", "tvae", "tab_ddpm")


def build(kind: str, **hyper):
    tiny = TINY.get(kind) or TINY_IMAGES[kind]
    if kind == "tab_ddpm" and "epochs" in hyper:  # set in steps: 3 batches of 100 make an epoch of the test table
        hyper["steps"] = 3 * hyper.pop("epochs")
    return build_generator(kind, {**tiny, **hyper}, device="cpu", seed=3, verbose=False)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return mixed_table(300)


@pytest.fixture()
def scripted(monkeypatch):
    """The fidelity proxy returns the given scores in turn (the networks are still sampled), so a test decides
    exactly when the score improves."""
    def script(scores):
        values = iter(scores)
        monkeypatch.setattr(FidelityProxy, "__call__", lambda self, rows: next(values))
    return script


# -- defaults --------------------------------------------------------------------------------------------------


def test_every_public_neural_kind_takes_a_budget_and_none_is_on_by_default():
    for kind, config in CONFIGS.items():
        if kind in ("gaussian_copula", "dp_ctgan", "dp_tvae"):  # one pass; a budget calibrated for its steps
            assert "max_minutes" not in config.model_fields, kind
            continue
        assert issubclass(config, TimeBudget), kind
        defaults = config.parse({})
        assert defaults.max_minutes is None, kind
        if kind != "dcgan":  # a GAN has no held-out loss to stop on
            assert issubclass(config, TrainingBudget) and defaults.early_stopping is False, kind


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_by_default_every_epoch_trains_on_every_row_and_the_limits_disturb_nothing(kind, table, tmp_path):
    plain = build(kind, epochs=3).fit(table)
    assert plain.stopped_ == {"reason": "epochs", "epoch": 3, "epochs": 3}
    assert len(plain.loss_history_) == 3
    # a time limit that never runs out leaves the training bitwise the same
    limited = build(kind, epochs=3, max_minutes=60).fit(table)
    assert limited.loss_history_ == plain.loss_history_
    expected, got = weights(plain, tmp_path / "a"), weights(limited, tmp_path / "b")
    assert all(torch.equal(expected[name], got[name]) for name in expected)


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_scoring_draws_none_of_the_trainings_random_numbers(kind, table):
    """Scored every epoch or only at the end: the same losses, epoch for epoch; the caller's RNG is untouched."""
    torch.manual_seed(11)
    before = torch.get_rng_state()
    often = build(kind, epochs=4, early_stopping=True, patience=10, eval_every=1).fit(table)
    assert torch.equal(torch.get_rng_state(), before)
    rarely = build(kind, epochs=4, early_stopping=True, patience=10, eval_every=100).fit(table)
    assert often.loss_history_ == rarely.loss_history_
    assert often.stopped_["reason"] == rarely.stopped_["reason"] == "epochs"


# -- max_minutes -------------------------------------------------------------------------------------------------


def clock_of(model, minutes_per_epoch: float):
    """A clock on which each finished epoch of `model` took `minutes_per_epoch` (no real waiting)."""
    return lambda: 60.0 * minutes_per_epoch * len(getattr(model, "loss_history_", ()))


@pytest.mark.parametrize("kind", [*TABLE_KINDS, "dcgan"])
def test_max_minutes_stops_after_the_epoch_in_which_the_time_runs_out(kind, table, monkeypatch):
    model = build(kind, epochs=10, max_minutes=2.5)
    monkeypatch.setattr(stopping_module, "monotonic", clock_of(model, 1.0))
    model.fit(tiny_images(48) if kind == "dcgan" else table)
    # 1, 2 minutes: go on; 3 minutes after epoch 3: that was the last
    assert model.stopped_ == {"reason": "max_minutes", "epoch": 3, "epochs": 10}
    assert len(model.loss_history_) == 3
    assert model.sample(5, seed=0) is not None


# -- early stopping ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_early_stopping_stops_when_the_proxy_stops_improving_and_keeps_the_best_weights(kind, table, scripted,
                                                                                        tmp_path):
    # scores after epochs 1..: the best is epoch 3's; epochs 4 and 5 are not better (by more than 0.1%)
    scripted([0.50, 0.60, 0.70, 0.7004, 0.65, 0.99, 0.99])
    model = build(kind, epochs=10, early_stopping=True, patience=2, eval_every=1).fit(table)
    assert model.stopped_ == {"reason": "early_stopping", "epoch": 5, "epochs": 10, "best_epoch": 3,
                              "metric": "fidelity proxy", "score": 0.7}
    assert len(model.loss_history_) == 5

    # the same run, three epochs long and scored only at its end: its weights are those of epoch 3
    scripted([0.5])
    three = build(kind, epochs=3, early_stopping=True, patience=2, eval_every=100).fit(table)
    assert three.stopped_["best_epoch"] == 3
    kept, expected = weights(model, tmp_path / "kept"), weights(three, tmp_path / "three")
    assert kept.keys() == expected.keys()
    assert all(torch.equal(kept[name], expected[name]) for name in kept)


def test_early_stopping_on_the_real_proxy_stops_a_tiny_table_before_its_epochs(table):
    model = build("tvae", epochs=60, early_stopping=True, patience=2, eval_every=1).fit(table)
    stopped = model.stopped_
    assert stopped["reason"] == "early_stopping" and stopped["epoch"] < 60
    assert stopped["best_epoch"] <= stopped["epoch"] - 2 and 0 < stopped["score"] <= 1
    again = build("tvae", epochs=60, early_stopping=True, patience=2, eval_every=1).fit(table)
    assert again.stopped_ == stopped  # deterministic: the same seed stops at the same epoch


def test_the_held_out_slice_is_a_tenth_of_the_training_rows_and_too_few_rows_are_refused():
    train, held = held_out_split(300, seed=0, cap=5_000)
    assert len(held) == 30 and len(train) == 270 and not set(train) & set(held)
    assert len(held_out_split(200_000, seed=0, cap=5_000)[1]) == 5_000
    with pytest.raises(GeneratorInputError, match="early_stopping holds out 10% .* train on at least 200 rows"):
        build("tvae", early_stopping=True).fit(mixed_table(150))


def test_the_fidelity_proxy_scores_real_rows_above_broken_ones():
    real, other = mixed_table(2000, seed=0), mixed_table(2000, seed=1)
    proxy = FidelityProxy(real)
    same = proxy(other)
    shifted = other.assign(age=other["age"] + 30)
    rng = np.random.default_rng(0)
    independent = other.apply(lambda column: pd.Series(rng.permutation(column.to_numpy()), dtype=column.dtype))
    assert 0.9 < same <= 1 and proxy(shifted) < same - 0.05 and proxy(independent) < same
    assert proxy(real) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["conv_vae", "ddpm"])
def test_image_models_stop_on_their_held_out_loss(kind):
    model = build(kind, epochs=3, early_stopping=True, patience=5, eval_every=1).fit(tiny_images(240))
    stopped = model.stopped_
    assert stopped["reason"] == "epochs" and stopped["metric"].startswith("held-out") and stopped["score"] > 0
    assert 1 <= stopped["best_epoch"] <= 3
    assert model.sample(6, seed=0).images.shape == (6, 8, 8, 1)


def test_private_kinds_refuse_the_budget():
    with pytest.raises(GeneratorInputError, match="max_minutes: unknown key"):
        build_generator("dp_ctgan", {"max_minutes": 1}, verbose=False)
    with pytest.raises(SpecError, match=r"generator\.max_minutes=1\.0 does not apply with privacy: .*DP-SGD steps"):
        spec_from_dict({"name": "p", "source": {"path": "x.csv"}, "generator": {"kind": "tvae", "max_minutes": 1},
                        "privacy": {"epsilon": 3}})


# -- recorded: config.json and the card ------------------------------------------------------------------------


def test_stopped_is_saved_loaded_and_old_folders_still_load(table, scripted, tmp_path):
    scripted([0.5, 0.4, 0.3])
    model = build("ctgan", epochs=5, early_stopping=True, patience=2, eval_every=1).fit(table)
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["stopped"] == model.stopped_ == {"reason": "early_stopping", "epoch": 3, "epochs": 5,
                                                   "best_epoch": 1, "metric": "fidelity proxy", "score": 0.5}
    assert load_generator(tmp_path / "m").stopped_ == model.stopped_

    del config["stopped"]  # a folder saved before it was recorded
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    assert load_generator(tmp_path / "m").stopped_ is None
    config["stopped"] = {"reason": "bored", "epoch": 3, "epochs": 5}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="stopped.reason"):
        load_generator(tmp_path / "m")


def test_the_card_says_why_training_stopped():
    from tests.unit.test_catalog import CARD

    def card(training, **hyper):
        generator = {**CARD["generator"], "hyperparameters": {"epochs": 300, **hyper}, "training": training}
        return catalog.render_card({**CARD, "generator": generator, "name": "demo", "version": "v1",
                                    "published_at": "now"})

    early = card({"reason": "early_stopping", "epoch": 85, "epochs": 300, "best_epoch": 60,
                  "metric": "fidelity proxy", "score": 0.91234}, patience=5)
    assert ("- training stopped after epoch 85 of 300: early stopping: the fidelity proxy did not improve for 5 "
            "scores in a row; kept the weights of epoch 60 (fidelity proxy 0.9123)") in early
    timed = card({"reason": "max_minutes", "epoch": 12, "epochs": 300}, max_minutes=10)
    assert "- training stopped after epoch 12 of 300: the time budget ran out (max_minutes=10)" in timed
    assert "- training stopped after epoch 300 of 300: all planned epochs ran" in card(
        {"reason": "epochs", "epoch": 300, "epochs": 300})
    assert "training stopped" not in catalog.render_card({**CARD, "name": "demo", "version": "v1",
                                                          "published_at": "now"})


# -- checkpoints and resume --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_a_resumed_early_stopping_run_stops_where_the_uninterrupted_one_did(kind, table, scripted, tmp_path):
    scores = [0.5, 0.6, 0.7, 0.69, 0.68, 0.99]
    hyper = dict(epochs=10, early_stopping=True, patience=2, eval_every=1)
    scripted(scores)
    uninterrupted = build(kind, **hyper).fit(table)
    assert uninterrupted.stopped_["epoch"] == 5 and uninterrupted.stopped_["best_epoch"] == 3

    scripted(scores)
    with pytest.raises(Interrupted):  # after epoch 4: the best weights (epoch 3's) and counters are in the checkpoint
        build(kind, **hyper).fit(table, checkpoint=StopAfter(tmp_path / "ckpt", stop=4))
    state, tensors = read(latest(tmp_path / "ckpt"))
    assert state["carry"]["stop"]["best_epoch"] == 3 and state["carry"]["stop"]["since_best"] == 1
    assert any(name.startswith("best_") for name in tensors)
    scripted(scores[4:])
    resumed = build(kind, **hyper).fit(table, checkpoint=TrainingCheckpoint(tmp_path / "ckpt", FINGERPRINT,
                                                                             resume=True, every_minutes=0))
    assert resumed.stopped_ == uninterrupted.stopped_
    assert resumed.loss_history_ == uninterrupted.loss_history_
    expected, got = weights(uninterrupted, tmp_path / "a"), weights(resumed, tmp_path / "b")
    assert all(torch.equal(expected[name], got[name]) for name in expected)

    # the stopped run's last checkpoint is where it stopped: resuming it trains no further
    assert read(latest(tmp_path / "ckpt"))[0]["epoch"] == 5
    scripted(itertools.repeat(0.0))
    again = build(kind, **hyper).fit(table, checkpoint=TrainingCheckpoint(tmp_path / "ckpt", FINGERPRINT,
                                                                          resume=True))
    assert again.stopped_ == uninterrupted.stopped_ and len(again.loss_history_) == 5
    got = weights(again, tmp_path / "c")
    assert all(torch.equal(expected[name], got[name]) for name in expected)


def test_a_resumed_run_counts_the_minutes_trained_before_the_interruption(table, monkeypatch, tmp_path):
    first = build("tvae", epochs=10, max_minutes=4.5)
    monkeypatch.setattr(stopping_module, "monotonic", clock_of(first, 1.0))
    with pytest.raises(Interrupted):
        first.fit(table, checkpoint=StopAfter(tmp_path / "ckpt", stop=2))
    # two more epochs after resuming make four minutes; the fifth is the last
    resumed = build("tvae", epochs=10, max_minutes=4.5)
    monkeypatch.setattr(stopping_module, "monotonic", clock_of(resumed, 1.0))
    resumed.fit(table, checkpoint=TrainingCheckpoint(tmp_path / "ckpt", FINGERPRINT, resume=True))
    assert resumed.stopped_ == {"reason": "max_minutes", "epoch": 5, "epochs": 10}


def test_resuming_an_early_stopping_run_from_a_checkpoint_without_its_state_is_refused(table, tmp_path):
    with pytest.raises(Interrupted):
        build("tvae", epochs=3).fit(table, checkpoint=StopAfter(tmp_path / "ckpt", stop=1))
    with pytest.raises(ModelError, match="has no best weights for early stopping .* run without --resume"):
        build("tvae", epochs=3, early_stopping=True).fit(
            table, checkpoint=TrainingCheckpoint(tmp_path / "ckpt", FINGERPRINT, resume=True))


def test_the_flows_put_it_on_the_card(table, tmp_path):
    from flows.pipeline import _card

    class Report:
        def to_dict(self):
            return {"passed": True, "checks": []}

    spec = spec_from_dict({"name": "demo", "source": {"path": str(tmp_path / "t.csv")},
                           "generator": {"kind": "tvae", **TINY["tvae"]}})
    model = build("tvae", epochs=2).fit(table)
    card = _card(spec, model, table, table.head(0), {"rows": 1}, {}, "cpu", {"train": 1.0}, Report())
    assert card["generator"]["training"] == {"reason": "epochs", "epoch": 2, "epochs": 2}
    copula = build_generator("gaussian_copula", verbose=False).fit(table)
    card = _card(spec, copula, table, table.head(0), {"rows": 1}, {}, "cpu", {}, Report())
    assert "training" not in card["generator"]  # not trained in epochs
