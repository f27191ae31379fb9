"""Who may import whom (CONVENTIONS.md), checked on every import statement in synth/, validation/ and flows/.

An import inside a function counts as much as one at the top of a module:
a lazy import keeps start-up fast, it does not make an edge acceptable. So
the edges are read from the source (ast), not from what a process happens
to have imported; one probe below still checks the import-time weight rule.

The layers, from the bottom up:

    library     synth/ (data, spec, transformers, models, privacy, images, catalog, ...)
    validation  validation/: judges a synthetic dataset; no training code
    flows       flows/: Prefect flows over the library and validation
    cli         synth/commands/ and synth/cli.py: the `synth` command, on top of everything
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("synth", "validation", "flows")

#: Module prefix → layer; the longest matching prefix wins.
LAYERS = {
    "synth": "library",
    "synth.commands": "cli",
    "synth.cli": "cli",
    "validation": "validation",
    "flows": "flows",
}

#: The allowed edges between our own layers: each layer may import itself and the layers listed.
ALLOWED = {
    "library": {"library"},
    "validation": {"validation", "library"},
    "flows": {"flows", "validation", "library"},
    "cli": {"cli", "flows", "validation", "library"},
}

#: Further modules a layer must not import, even inside an allowed layer or from a third party:
#: (importer layer, imported module prefix, "anywhere" or "top level", why). "top level": a lazy import inside
#: the function that needs it is fine (the import-time weight rule); "anywhere": no import at all.
FORBIDDEN = [
    ("library", "prefect", "anywhere", "the library works without Prefect (a notebook, a test)"),
    ("library", "prefect_dask", "anywhere", "the library works without Prefect"),
    ("library", "great_expectations", "anywhere", "the library works without Great Expectations"),
    ("validation", "synth.models", "anywhere", "validation judges data and imports no training code"),
    ("validation", "synth.transformer", "anywhere", "validation has its own encoding (validation/encoding.py)"),
    ("validation", "synth.privacy.transformer", "anywhere", "validation imports no training code"),
    ("validation", "prefect", "anywhere", "the gate runs without Prefect"),
    ("validation", "torch", "top level", "the tabular gate must not load torch just to be imported"),
]

#: Edges that break a rule above and are known, each in a file this change could not edit; the test fails
#: when one disappears, so the list shrinks as they are fixed. (path, imported module prefix) → the suggested fix.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    path: str  # relative to the repository root
    line: int
    importer: str  # module name
    imported: str  # module name (a submodule when `from package import submodule`)
    top_level: bool  # False: inside a function or method (a lazy import)

    def __str__(self) -> str:
        where = "" if self.top_level else " (lazy)"
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}{where}"


def layer(module: str) -> str | None:
    """The layer of a module of ours (None for a third-party module)."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_ours(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[Edge]:
    """Every module `path` imports: import statements anywhere in it, and importlib.import_module("...") calls."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    lazy_nodes = {id(node) for function in ast.walk(tree)
                  if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for node in ast.walk(function) if node is not function}
    edges = []

    def add(node: ast.AST, imported: str) -> None:
        edges.append(Edge(str(path.relative_to(ROOT)), node.lineno, module, imported, id(node) not in lazy_nodes))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = {f"{base}.{alias.name}" for alias in node.names} - {f"{base}.*"}
            # `from synth import commands` is an edge to synth.commands, `from prefect import flow` one to prefect
            for target in sorted({target if _is_ours(target) else base for target in targets} or {base}):
                add(node, target)
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                add(node, name.value)
            elif isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant):
                add(node, str(name.values[0].value).rstrip("."))  # f"synth.commands.{name}": synth.commands
    return edges


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"})


def all_edges() -> list[Edge]:
    return [edge for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py")) for edge in _imports(path)]


def broken_rule(edge: Edge) -> str | None:
    """Why `edge` is not allowed, or None."""
    source, target = layer(edge.importer), layer(edge.imported)
    if target is not None and target not in ALLOWED[source]:
        return f"{source} may import only {sorted(ALLOWED[source])}, not {target}"
    for importer_layer, prefix, where, why in FORBIDDEN:
        if source != importer_layer or not (edge.imported == prefix or edge.imported.startswith(prefix + ".")):
            continue
        if where == "anywhere" or edge.top_level:
            return f"{source} ↛ {prefix} ({why})"
    return None


def known_exception(edge: Edge) -> tuple[str, str] | None:
    return next((key for key in KNOWN_EXCEPTIONS
                 if edge.path == key[0] and (edge.imported == key[1] or edge.imported.startswith(key[1] + "."))), None)


def test_every_import_points_down_the_layers():
    violations = [f"{edge}: {why}" for edge in all_edges() if (why := broken_rule(edge)) and not known_exception(edge)]
    assert violations == [], "imports against the layering:\n" + "\n".join(violations)


def test_known_exceptions_still_exist():
    """A fixed exception must leave KNOWN_EXCEPTIONS, so the list never hides a new edge of the same kind."""
    present = {known_exception(edge) for edge in all_edges() if broken_rule(edge)}
    assert set(KNOWN_EXCEPTIONS) <= present, f"fixed, remove from KNOWN_EXCEPTIONS: {set(KNOWN_EXCEPTIONS) - present}"


def test_the_scan_sees_lazy_relative_and_dynamic_imports(tmp_path, monkeypatch):
    """The scanner itself: a lazy import, `from package import module` and import_module("...") are all edges."""
    (tmp_path / "synth" / "sub").mkdir(parents=True)
    (tmp_path / "synth" / "__init__.py").write_text("")
    (tmp_path / "synth" / "commands.py").write_text("")
    (tmp_path / "synth" / "sub" / "__init__.py").write_text("")
    source = tmp_path / "synth" / "sub" / "lib.py"
    source.write_text("import os\nfrom synth import commands\n\ndef f():\n    from .. import commands\n"
                      "    import importlib\n    importlib.import_module(f'flows.x.{1}')\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    edges = _imports(source)
    assert [(e.imported, e.top_level) for e in edges if e.imported != "importlib"] == [
        ("os", True), ("synth.commands", True), ("synth.commands", False), ("flows.x", False)]
    assert [broken_rule(e) is not None for e in edges if e.imported not in {"os", "importlib"}] == [True, True, True]


@pytest.mark.parametrize(("module", "expected"), [("synth.models.ctgan", "library"), ("synth.commands.run", "cli"),
                                                  ("synth.cli", "cli"), ("synth.columns", "library"),
                                                  ("flows.many", "flows"), ("validation.gate", "validation"),
                                                  ("torch", None)])
def test_layers(module, expected):
    assert layer(module) == expected


def test_import_time_weight():
    """What the AST cannot see: the transitive imports at start-up. The tabular gate loads no torch and no
    training code, and the library neither Prefect nor GX, just by being imported."""
    probe = ("import sys\n"
             "import validation.gate, validation.fidelity, validation.privacy, validation.expectations, "
             "validation.report\n"
             "heavy = sorted(m for m in ('torch', 'synth.models', 'synth.transformer', 'prefect') "
             "if m in sys.modules)\n"
             "import synth.data, synth.spec, synth.columns, synth.transformer, synth.catalog, synth.models.ctgan\n"
             "import synth.privacy.transformer, synth.images.layout, synth.sampling\n"
             "print(heavy, sorted(m for m in ('prefect', 'great_expectations') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[] []"
