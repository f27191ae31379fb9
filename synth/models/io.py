"""Saving and loading a generator folder: `config.json` + safetensors, never pickle.

Shared by every generator because it is the same logic for all of them: the
config names the kind and holds the hyperparameters and learned statistics
(plain JSON), the weights are tensors in safetensors files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from synth.errors import ModelError

CONFIG_NAME = "config.json"
FORMAT_VERSION = 1


def write_config(folder: Path, kind: str, **fields: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"kind": kind, "format_version": FORMAT_VERSION, **fields}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))


def read_config(folder: Path, kind: str | None = None) -> dict[str, Any]:
    """The folder's config; with `kind`, also check the folder holds that kind of model."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not folder.is_dir():
        raise ModelError(f"{folder}: model folder not found; pass the model/ folder of a published version")
    if not path.is_file():
        raise ModelError(f"{folder}: no {CONFIG_NAME}; this is not a model saved by synth")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(f"{path}: not valid JSON ({err})") from None
    if kind is not None and config.get("kind") != kind:
        raise ModelError(f"{folder}: holds a {config.get('kind')!r} model, not {kind!r}")
    return config


def save_tensors(folder: Path, name: str, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(folder / name))


def load_module(module: torch.nn.Module, folder: Path, name: str) -> torch.nn.Module:
    """Load safetensors weights into `module` (on the CPU first, so GPU-saved models load anywhere)."""
    from safetensors.torch import load_file

    try:
        module.load_state_dict(load_file(str(folder / name), device="cpu"))
    except FileNotFoundError:
        raise ModelError(f"{folder}: {name} is missing; the model folder is incomplete") from None
    except RuntimeError as err:
        raise ModelError(f"{folder}: weights in {name} do not match {CONFIG_NAME} ({str(err).splitlines()[0]})") from None
    return module
