"""Who may import whom (CONVENTIONS.md): synth/ without Prefect or GX, validation/ without training code."""

import subprocess
import sys

from tests.conftest import ROOT


def _imported(statement: str, modules: tuple[str, ...]) -> list[str]:
    probe = f"import sys\n{statement}\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return eval(out.stdout.strip())


def test_synth_library_imports_neither_prefect_nor_gx():
    statement = "import synth.data, synth.spec, synth.transformer, synth.catalog, synth.models.ctgan, synth.models"
    assert _imported(statement, ("prefect", "great_expectations")) == []


def test_validation_imports_no_training_code():
    statement = "import validation.gate, validation.fidelity, validation.privacy, validation.expectations"
    assert _imported(statement, ("torch", "synth.models", "synth.transformer", "prefect")) == []
