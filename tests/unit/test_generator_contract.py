"""Every generator goes through fit → sample → save → load → sample."""

import json
import random
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from synth.errors import GeneratorInputError, ModelError
from synth.models import GENERATORS, build_generator, load_generator
from tests.conftest import TINY, mixed_table


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def fitted(request):
    table = mixed_table(400)
    model = build_generator(request.param, TINY[request.param], device="cpu", seed=0, verbose=False)
    return model.fit(table), table


def test_contract_fit_sample_save_load_sample(fitted, tmp_path):
    model, table = fitted
    sample = model.sample(250, seed=7)
    assert sample.shape == (250, table.shape[1]) and list(sample.columns) == list(table.columns)
    for column in table.columns:
        assert sample[column].dtype == table[column].dtype, column
    assert set(sample["group"].dropna()) <= {"a", "b", "c"}
    assert sample["age"].between(18, 89).all()

    model.save(tmp_path / "model")
    # weights + JSON config only: nothing pickled
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert "config.json" in files and all(f == "config.json" or f.endswith(".safetensors") for f in files), files
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["kind"] == model.kind

    loaded = load_generator(tmp_path / "model", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(250, seed=7), sample)


def test_saved_model_holds_no_training_rows(fitted, tmp_path):
    model, table = fitted
    model.save(tmp_path / "model")
    text = (tmp_path / "model" / "config.json").read_text()
    # the raw float scores are unique per row; none of them may appear in the config
    scores = table["score"].dropna()
    assert not any(repr(float(v)) in text for v in scores.iloc[1:-1] if v not in (scores.min(), scores.max()))


def _calls_to_global_random(fn):
    """Run fn() and list the calls it made, on this thread, to the global `random` generator.

    Comparing `random.getstate()` before and after would also see other
    threads of the test process (Prefect's background services draw retry
    jitter from the global generator), so the calls are traced instead.
    """
    calls = []

    def trace(frame, event, arg):
        if event == "c_call" and getattr(arg, "__self__", None) is random._inst:
            calls.append(arg.__name__)
        elif (event == "call" and frame.f_code.co_filename == random.__file__
              and frame.f_locals.get("self") is random._inst):
            calls.append(frame.f_code.co_name)

    sys.setprofile(trace)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return calls, result


def test_same_seed_same_rows_and_global_rng_untouched(fitted):
    model, _ = fitted
    torch.manual_seed(123)
    np.random.seed(123)
    expected = (torch.rand(1).item(), np.random.rand())
    torch.manual_seed(123)
    np.random.seed(123)
    calls, (a, b) = _calls_to_global_random(lambda: (model.sample(100, seed=1), model.sample(100, seed=1)))
    assert (torch.rand(1).item(), np.random.rand()) == expected
    assert calls == []
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(model.sample(100, seed=2))


def test_the_global_random_trace_sees_a_call():
    # the check above must fail for a sampler that draws from the global generator
    calls, _ = _calls_to_global_random(lambda: (random.random(), random.choice([1, 2])))
    assert "random" in calls and "choice" in calls


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_fit_is_reproducible(kind):
    table = mixed_table(300)
    kwargs = dict(TINY[kind], **({"epochs": 1} if "epochs" in TINY[kind] else {}))
    a = build_generator(kind, kwargs, device="cpu", seed=5, verbose=False).fit(table).sample(50, seed=0)
    b = build_generator(kind, kwargs, device="cpu", seed=5, verbose=False).fit(table).sample(50, seed=0)
    pd.testing.assert_frame_equal(a, b)


def test_condition_is_exact(fitted):
    model, _ = fitted
    sample = model.sample(300, conditions={"label": "yes"}, seed=0)
    assert (sample["label"] == "yes").all()


def test_bad_condition_names_column_and_choices(fitted):
    model, _ = fitted
    with pytest.raises(GeneratorInputError, match=r"'nope' is not a categorical column"):
        model.sample(10, conditions={"nope": "x"})
    with pytest.raises(GeneratorInputError, match=r"condition label='maybe': not a category seen in training"):
        model.sample(10, conditions={"label": "maybe"})


@pytest.mark.parametrize("kind", ["ctgan", "tvae"])
def test_too_few_rows_for_batch(kind):
    table = mixed_table(50)
    model = build_generator(kind, TINY[kind], device="cpu", seed=0, verbose=False)
    with pytest.raises(GeneratorInputError, match="fewer than batch_size=100"):
        model.fit(table)


def test_loading_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="model folder not found"):
        load_generator(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_generator(tmp_path / "empty")


def test_weights_missing(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    weights = sorted((tmp_path / "m").glob("*.safetensors"))
    weights[0].unlink()
    with pytest.raises(ModelError, match=f"{weights[0].name} is missing"):
        load_generator(tmp_path / "m")


def test_the_contract_is_the_base_classes():
    """Every registered generator is a `Generator` of its family, with nothing of the contract left abstract."""
    import inspect as inspect_module

    from synth.models import IMAGE_GENERATORS, PRIVATE_GENERATORS, generator_class
    from synth.models.base import ImageGenerator, TabularGenerator

    for kinds, family in ((GENERATORS, TabularGenerator), (PRIVATE_GENERATORS, TabularGenerator),
                          (IMAGE_GENERATORS, ImageGenerator)):
        for kind in kinds:
            cls = generator_class(kind)
            assert issubclass(cls, family) and cls.kind == kind, kind
            assert not inspect_module.isabstract(cls), (kind, cls.__abstractmethods__)
            assert cls.config_class.model_fields["kind"].default == kind


def test_hyperparameters_are_the_config_and_read_only(fitted):
    model, _ = fitted
    assert model.hyperparameters() == model.config.hyperparameters()
    name = next(iter(model.hyperparameters()))
    assert getattr(model, name) == getattr(model.config, name)
    with pytest.raises(Exception, match="frozen"):
        setattr(model.config, name, 1)
