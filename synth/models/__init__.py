"""Generators, one per file, all with the same contract.

The contract is code: `synth.models.base.Generator` (and its families
`TabularGenerator`, `ImageGenerator`) declares it and implements what every
generator does the same way: `fit(data) -> self`, `sample(n,
conditions=None, seed=None)`, `save(folder)` / `load(folder)` (a saved model
is `config.json` + safetensors weights), `hyperparameters()` and the
learned attributes callers may read. Each model's hyperparameters are one
pydantic config in `synth.models.configs` (torch-free: the spec is built
from them).

From Python (see README "Using the generators from Python"):

    model = build_generator("ctgan", {"epochs": 10}).fit(table)
    rows = model.sample(1000, conditions={"income": ">50K"}, seed=0)
    model.save("model/"); same = load_generator("model/")

Adding a generator: one file here (a subclass of a family in `base`), its
config in `configs` and one entry in the registries below.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# kind -> "module:Class"; imported only when used (torch is slow to import).
GENERATORS = {
    "ctgan": "synth.models.ctgan:CTGAN",
    "tvae": "synth.models.tvae:TVAE",
    "tab_ddpm": "synth.models.tab_ddpm:TabDDPM",
    "gaussian_copula": "synth.models.gaussian_copula:GaussianCopula",
}
# Differentially private versions, trained in place of ctgan/tvae when a spec has a `privacy:` block
# (synth.privacy); same contract, plus a privacy ledger in `privacy_` and the saved config.
PRIVATE_GENERATORS = {
    "dp_ctgan": "synth.models.dp_ctgan:DPCTGAN",
    "dp_tvae": "synth.models.dp_tvae:DPTVAE",
}
# Image generators: the same contract, but fit/sample an `ImageSet` (synth.images) instead of a table.
IMAGE_GENERATORS = {
    "ddpm": "synth.models.ddpm:DDPM",
    "dcgan": "synth.models.dcgan:DCGAN",
    "conv_vae": "synth.models.conv_vae:ConvVAE",
}


def generator_class(kind: str) -> type:
    registry = {**GENERATORS, **PRIVATE_GENERATORS, **IMAGE_GENERATORS}
    if kind not in registry:
        from synth.errors import SpecError

        raise SpecError(f"generator.kind {kind!r} is not known; choose one of {sorted(registry)}")
    module, name = registry[kind].split(":")
    return getattr(importlib.import_module(module), name)


def build_generator(kind: str, hyperparameters: dict[str, Any] | None = None, *, device: str = "auto", seed: int = 0,
                    verbose: bool = True):
    """An unfitted generator of `kind` (e.g. "ctgan", "tvae", "gaussian_copula", "ddpm"); `fit` it next.

    `hyperparameters` are checked by the kind's config (`synth.models.configs`)
    as a spec's `generator:` block is: an unknown key or a value out of range
    raises one `GeneratorInputError` naming every such key. `device="auto"`
    trains on CUDA when it is available, else on the CPU; `seed` makes
    training reproducible.
    """
    from synth.models.configs import CONFIGS

    cls = generator_class(kind)
    config = CONFIGS[kind].parse(hyperparameters)
    return cls(config, device=resolve_device(device), seed=seed, verbose=verbose)


def resolve_device(device: str) -> str:
    """"auto" → "cuda" when a GPU is available, else "cpu"; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_generator(folder: str | Path, device: str = "cpu"):
    """Load any saved generator; its kind is read from `config.json`.

    The folder is untrusted input: `read_config` checks the config against
    its kind's schema before anything is built, and the weights' shapes are
    checked against it on load. A config that passes the schema but still
    cannot build its networks (sizes that do not fit together) is the same
    damaged folder, reported as one `ModelError`, not a traceback.
    """
    from synth.errors import ModelError
    from synth.models.io import CONFIG_NAME, DAMAGED, read_config

    config = read_config(Path(folder))
    try:
        return generator_class(config["kind"]).load(folder, device=device)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, RuntimeError,
            MemoryError) as err:
        if type(err).__name__ == "OutOfMemoryError":  # a GPU's (a RuntimeError): the machine, not the folder
            raise
        # MemoryError / "can't allocate memory": layer sizes no saved model has; the weights would not match them
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{Path(folder) / CONFIG_NAME}: the model cannot be rebuilt from it "
                         f"({type(err).__name__}: {reason}); {DAMAGED}") from None
