import inspect
import typing

import pytest

from synth.errors import GeneratorInputError, SpecError
from synth.models.configs import CTGANConfig, GaussianCopulaConfig, TVAEConfig
from synth.spec import CTGANSpec, GaussianCopulaSpec, TVAESpec, load_spec
from tests.conftest import ROOT

SPEC = ROOT / "pipelines" / "adult_ctgan.yaml"


def test_shipped_spec_parses():
    spec = load_spec(SPEC)
    assert spec.name == "adult_ctgan"
    assert spec.generator.kind == "ctgan"
    assert spec.target == "income"
    assert spec.source.na_values == ["?"]


def test_misspelt_key_is_rejected_with_its_dotted_name(tmp_path):
    text = SPEC.read_text().replace("  epochs:", "  epocs:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SpecError, match=r"bad\.yaml: generator\.epocs: unknown key"):
        load_spec(bad)


def test_every_problem_is_reported_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: {path: a.csv}\ngenerator: {kind: ctgan, epochs: 0}\nsed: 1\n")
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    message = str(err.value)
    assert "generator.epochs" in message and "sed: unknown key" in message


def test_overrides_are_parsed_as_yaml_values():
    spec = load_spec(SPEC, ["generator.epochs=2", "rows=1000", "generator.generator_dim=[64, 64]",
                            "validation.min_quality=0.5"])
    assert spec.generator.epochs == 2
    assert spec.rows == 1000
    assert spec.generator.generator_dim == (64, 64)
    assert spec.validation.min_quality == 0.5


def test_override_of_unknown_key_names_it():
    with pytest.raises(SpecError, match=r"generator\.epoch: unknown key"):
        load_spec(SPEC, ["generator.epoch=2"])


@pytest.mark.parametrize("override", ["generator.epochs", "=3"])
def test_malformed_override(override):
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        load_spec(SPEC, [override])


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(bad)


def test_batch_size_must_divide_by_pac():
    with pytest.raises(SpecError, match=r"batch_size \(505\) must be a multiple of pac \(10\)"):
        load_spec(SPEC, ["generator.batch_size=505"])


def test_headerless_csv_needs_column_names():
    with pytest.raises(SpecError, match="'columns' must list the column names"):
        load_spec(SPEC, ["source.columns=null"])


@pytest.mark.parametrize("kind", ["ctgan", "tvae", "tab_ddpm", "gaussian_copula", "ddpm", "dcgan", "conv_vae"])
def test_spec_generator_block_is_the_models_own_config(kind):
    """One source of defaults: a spec's generator block is the model's config class, and a model built from a
    spec's block has exactly the spec's hyperparameters (nothing is copied by hand between them)."""
    from synth.models import build_generator, generator_class
    from synth.models.configs import CONFIGS
    from synth.spec import GeneratorSpec

    assert CONFIGS[kind] in typing.get_args(typing.get_args(GeneratorSpec)[0])
    assert generator_class(kind).config_class is CONFIGS[kind]
    block = CONFIGS[kind]()  # the spec's defaults
    model = build_generator(kind, block.hyperparameters(), device="cpu")
    assert model.config == block and model.hyperparameters() == block.hyperparameters()
    # the model's own defaults (no hyperparameters given) are those same defaults
    assert build_generator(kind, device="cpu").hyperparameters() == block.hyperparameters()


def test_generator_classes_declare_no_hyperparameter_of_their_own():
    """Constructors take a config (or keyword arguments for it), never their own defaults."""
    from synth.models import GENERATORS, IMAGE_GENERATORS, PRIVATE_GENERATORS, generator_class
    from synth.models.configs import CONFIGS

    assert set(CONFIGS) == {*GENERATORS, *PRIVATE_GENERATORS, *IMAGE_GENERATORS}
    for kind in CONFIGS:
        params = inspect.signature(generator_class(kind).__init__).parameters
        assert set(params) == {"self", "config", "device", "seed", "verbose", "hyperparameters"}, kind


def test_spec_names_are_the_configs():
    assert (CTGANSpec, TVAESpec, GaussianCopulaSpec) == (CTGANConfig, TVAEConfig, GaussianCopulaConfig)


def test_spec_and_build_generator_refuse_the_same_values():
    from synth.models import build_generator

    with pytest.raises(SpecError, match=r"generator\.epochs: Input should be greater than or equal to 1"):
        load_spec(SPEC, ["generator.epochs=0"])
    with pytest.raises(GeneratorInputError,
                       match=r"ctgan hyperparameters: epochs: Input should be greater than or equal to 1"):
        build_generator("ctgan", {"epochs": 0}, device="cpu")


# -- bounded YAML and bounded echo (issue 13, item 11) ----------------------------------------------

def test_a_few_aliases_are_still_fine(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(SPEC.read_text() + "\nconditions:\n  - {values: &rich {income: '>50K'}, rows: 10}\n"
                    "  - {values: *rich, rows: 5}\n")
    spec = load_spec(good, ["schedule={cron: &c '0 2 * * *', timezone: UTC}"])
    assert [c.values for c in spec.conditions] == [{"income": ">50K"}] * 2 and spec.schedule.cron == "0 2 * * *"


def test_expanded_size_counts_every_use_of_an_alias():
    from synth.spec import MAX_SPEC_NODES, parse_yaml

    width = 10
    levels = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, 5)]  # 10^5 leaves
    assert 10**5 > MAX_SPEC_NODES / 2
    with pytest.raises(ValueError, match="expands to more than"):
        parse_yaml("\n".join(levels))
    assert parse_yaml("\n".join(levels[:3]))["a2"][9][9] == ["x"] * width  # 10^3 leaves: fine


def test_echo_cuts_long_and_nested_values():
    from synth.spec import ECHO_CHARS, echo

    assert len(echo("x" * 10_000)) <= ECHO_CHARS
    huge = [[list(range(1000))] * 1000] * 1000  # a billion elements; never rendered in full
    assert len(echo(huge)) <= ECHO_CHARS


def test_many_problems_make_one_bounded_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: {path: a.csv}\ngenerator: {kind: ctgan}\n"
                   + "".join(f"k{i}: 1\n" for i in range(50)))
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    message = str(err.value)
    assert "\n" not in message and "k0: unknown key" in message and "and 40 more problems" in message


def test_duplicate_source_columns_and_long_sep_are_spec_errors():
    with pytest.raises(SpecError, match=r"columns lists \['a'\] more than once"):
        load_spec(SPEC, ["source.columns=[a, b, a]"])
    with pytest.raises(SpecError, match="sep ', ' must be exactly one character"):
        load_spec(SPEC, ["source.sep=', '"])
