import inspect

import pytest

from synth.errors import SpecError
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
    spec = load_spec(SPEC, ["generator.epochs=2", "rows=1000", "generator.generator_dim=[64, 64]", "validation.min_quality=0.5"])
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


@pytest.mark.parametrize("spec_class", [CTGANSpec, TVAESpec, GaussianCopulaSpec])
def test_generator_spec_mirrors_the_generator_signature(spec_class):
    """A spec and its generator's __init__ must not drift apart: same names, same defaults."""
    from synth.models import generator_class

    kind = spec_class.model_fields["kind"].default
    params = inspect.signature(generator_class(kind).__init__).parameters
    for name, field in spec_class.model_fields.items():
        if name == "kind":
            continue
        assert name in params, f"spec field {name} is not a {kind} argument"
        default = params[name].default
        assert (tuple(default) == field.default) if isinstance(default, tuple) else (default == field.default), name


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
    bad.write_text("name: x\nsource: {path: a.csv}\ngenerator: {kind: ctgan}\n" + "".join(f"k{i}: 1\n" for i in range(50)))
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    message = str(err.value)
    assert "\n" not in message and "k0: unknown key" in message and "and 40 more problems" in message


def test_duplicate_source_columns_and_long_sep_are_spec_errors():
    with pytest.raises(SpecError, match=r"columns lists \['a'\] more than once"):
        load_spec(SPEC, ["source.columns=[a, b, a]"])
    with pytest.raises(SpecError, match="sep ', ' must be exactly one character"):
        load_spec(SPEC, ["source.sep=', '"])
