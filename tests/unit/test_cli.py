"""Bad input: exit code 2 and one clear line, never a traceback; and a fast --help."""

import subprocess
import sys

import pytest

from synth.cli import main
from tests.conftest import ROOT

SPEC = str(ROOT / "pipelines" / "adult_ctgan.yaml")


def _run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def test_help_imports_nothing_heavy():
    """`synth --help` stays instant because the CLI imports no heavy library at start-up."""
    probe = (
        "import sys, contextlib, io\n"
        "from synth.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(sorted(m for m in ('torch', 'pandas', 'prefect', 'great_expectations', 'sdmetrics', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "synth.cli", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    assert "run" in out and "generate" in out


def test_missing_data_file(capsys, tmp_path):
    code, err = _run(capsys, "run", SPEC, "--set", f"source.path={tmp_path / 'nope.data'}")
    assert code == 2
    assert "nope.data: source file not found" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_empty_csv(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, err = _run(capsys, "run", SPEC, "--set", f"source.path={empty}")
    assert code == 2 and "empty.csv: the file is empty" in err


def test_bad_spec(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(SPEC).read().replace("holdout_fraction", "holdout_fracton"))
    code, err = _run(capsys, "run", str(bad))
    assert code == 2 and "holdout_fracton: unknown key" in err and "Traceback" not in err


def test_missing_spec(capsys, tmp_path):
    code, err = _run(capsys, "run", str(tmp_path / "none.yaml"))
    assert code == 2 and "spec file not found" in err


def test_unknown_target_column(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "target=salary")
    assert code == 2 and "target names column 'salary', which is not in the table" in err


def test_generate_from_a_folder_that_is_not_a_model(capsys, tmp_path):
    code, err = _run(capsys, "generate", str(tmp_path), "--rows", "5", "--out", str(tmp_path / "o.parquet"))
    assert code == 2 and "no config.json" in err


@pytest.mark.parametrize("out,message", [("o.txt", "use a .parquet or .csv"), ("missing/o.csv", "does not exist")])
def test_generate_bad_output(capsys, tmp_path, out, message):
    from synth.models import build_generator
    from tests.conftest import mixed_table

    model = build_generator("gaussian_copula", {}, device="cpu", seed=0)
    model.fit(mixed_table(100))
    model.save(tmp_path / "model")
    code, err = _run(capsys, "generate", str(tmp_path / "model"), "--rows", "5", "--out", str(tmp_path / out))
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / out).exists()


def test_generate_names_a_folder_that_is_not_a_model_first(capsys, tmp_path):
    code, err = _run(capsys, "generate", str(tmp_path), "--rows", "5", "--out", str(tmp_path / "o.txt"))
    assert code == 2 and "no config.json" in err and len(err.splitlines()) == 1


def test_constraint_with_bad_syntax_is_a_spec_error(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "constraints=['age => 17']")
    assert code == 2 and "constraints.0" in err and "'age => 17'" in err and "not a rule this project knows" in err


def test_constraint_on_unknown_column(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "constraints=['salary >= 0']")
    assert code == 2 and "constraints[0] 'salary >= 0': column 'salary' is not in the table" in err


def test_constraints_in_their_old_place_say_where_they_moved(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "validation.constraints=['age >= 17']")
    assert code == 2 and "constraints moved to the top level of the spec" in err and len(err.splitlines()) == 1


def test_a_constraint_the_real_rows_break_is_refused_before_training(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "constraints=['age >= 30']")
    assert code == 2 and "constraints[0] 'age >= 30': the real data breaks it" in err and len(err.splitlines()) == 1


def test_a_condition_against_a_constraint_is_refused_before_training(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "constraints=['fixed combinations of education, education-num']",
                     "--set", "conditions=[{values: {education: Doctorate, education-num: 9}, rows: 10}]")
    assert code == 2 and "conditions[0]: the condition education='Doctorate', education-num=" in err
    assert "is not one of the combinations" in err and len(err.splitlines()) == 1


def test_condition_on_a_value_that_never_occurs(capsys):
    code, err = _run(capsys, "run", SPEC, "--set", "conditions=[{values: {income: '>60K'}, rows: 10}]")
    assert code == 2 and "conditions[0].values.income: '>60K' never occurs in column 'income'" in err
