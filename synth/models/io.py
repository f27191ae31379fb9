"""Saving and loading a generator folder: `config.json` + safetensors, never pickle.

Shared by every generator because it is the same logic for all of them: the
config names the kind and holds the hyperparameters and learned statistics
(plain JSON), the weights are tensors in safetensors files.

A model folder is untrusted input (it may come from someone else's catalog),
so loading checks before it builds anything:

- `config.json` is a regular file inside the folder (a symlink may not lead
  out of it), at most `MAX_CONFIG_BYTES`, and a JSON object;
- its `kind` is a known generator, and the whole config matches that kind's
  schema (`CONFIG_SCHEMAS`): exactly the keys that kind's `save` writes,
  each of the right type; the hyperparameters are checked, strictly, by the
  kind's config (`synth.models.configs`), the one a spec is checked by;
- the config names no file: weights files have fixed names, chosen by the
  generator class, and `model_file` checks each is a regular file inside
  the folder. DDPM's UNet config is stored inline and holds only the keys
  `synth.models.ddpm.unet_config` writes, so diffusers never reads a path
  or asks a hub;
- the network sizes it declares fit the weights it comes with
  (`_check_network_sizes`): a config edited to declare a huge layer is
  refused before any network is built, from the safetensors headers alone.

Anything wrong is a `ModelError` naming the file and saying the folder is
damaged (re-publish or re-train), as one line.
"""

from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth.errors import ModelError

CONFIG_NAME = "config.json"
FORMAT_VERSION = 1
#: A config larger than this is not one synth wrote (the largest real ones, wide tables with pooled
#: high-cardinality columns, are a few MB); refusing it keeps a hostile folder from filling memory.
MAX_CONFIG_BYTES = 64 * 2**20
#: What every damaged-folder message ends with: how to get a good folder back.
DAMAGED = "the model folder is damaged or was edited; re-publish the version or re-train the model"


def write_config(folder: Path, kind: str, **fields: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"kind": kind, "format_version": FORMAT_VERSION, **fields}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))


def model_file(folder: Path, name: str) -> Path:
    """`folder / name`, checked to be a regular file that stays inside `folder` (a symlink may not lead out).

    `name` is always one of the generator classes' fixed file names, never
    read from the config; the check is about what is on disk.
    """
    folder = Path(folder)
    path = folder / name
    if not path.exists() and not path.is_symlink():
        raise ModelError(f"{folder}: {name} is missing; the model folder is incomplete; "
                         "re-publish the version or re-train the model")
    try:
        inside = path.resolve(strict=True).parent == folder.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling or looping symlink
        inside = False
    if not inside:
        raise ModelError(f"{path}: a link to a file outside the model folder; "
                         f"a model folder may only hold its own files; {DAMAGED}")
    if not path.is_file():
        raise ModelError(f"{path}: not a regular file; {DAMAGED}")
    return path


def read_config(folder: Path, kind: str | None = None) -> dict[str, Any]:
    """The folder's config, checked against its kind's schema; with `kind`, also check the folder holds that kind.

    Returns the config as parsed (plain JSON data), only once it has passed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: model folder not found; pass the model/ folder of a published version")
    path = folder / CONFIG_NAME
    if not path.exists() and not path.is_symlink():
        raise ModelError(f"{folder}: no {CONFIG_NAME}; this is not a model saved by synth")
    model_file(folder, CONFIG_NAME)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelError(f"{path}: {path.stat().st_size:,} bytes, more than a model config can be "
                         f"({MAX_CONFIG_BYTES:,}); {DAMAGED}")
    try:
        text = path.read_text(encoding="utf-8")
        config = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ModelError(f"{path}: not valid JSON ({reason}); {DAMAGED}") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot be read ({err.strerror or err}); check its permissions") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: holds a JSON {type(config).__name__}, not an object with a 'kind'; {DAMAGED}")
    found = config.get("kind")
    if not isinstance(found, str) or found not in CONFIG_SCHEMAS:
        raise ModelError(f"{path}: kind {_short(found)} is not a generator synth knows "
                         f"(one of {sorted(CONFIG_SCHEMAS)}); {DAMAGED}")
    if kind is not None and found != kind:
        raise ModelError(f"{path}: holds a {found!r} model, not {kind!r}; load it with synth.models.load_generator")
    problems = _schema_problems(found, config)
    if problems:
        raise ModelError(f"{path}: does not match a saved {found!r} model ({problems}); {DAMAGED}")
    _check_network_sizes(folder, found, config)
    return config


def save_tensors(folder: Path, name: str, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(folder / name))


def load_tensors(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """The tensors of `folder / name` (safetensors, on the CPU); a missing, linked-out or unreadable file is a
    `ModelError`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = model_file(folder, name)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, ValueError, EOFError) as err:  # a truncated or corrupt file: header or data do not parse
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path}: not a readable safetensors file ({reason}); {DAMAGED}") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot be read ({err.strerror or err}); check its permissions") from None


def load_module(module: torch.nn.Module, folder: Path, name: str) -> torch.nn.Module:
    """Load safetensors weights into `module` (on the CPU first, so GPU-saved models load anywhere)."""
    tensors = load_tensors(folder, name)
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:  # "Error(s) in loading state_dict for X:" and then the first mismatch
        detail = " ".join(line.strip() for line in str(err).splitlines()[:2])
        raise ModelError(f"{Path(folder) / name}: weights do not match {CONFIG_NAME} ({detail[:240]}); "
                         f"{DAMAGED}") from None
    return module


# -- the network sizes a config declares, against its weights ------------------------------------------------------

#: No layer synth builds is wider than this (the largest defaults are a few hundred).
MAX_NETWORK_WIDTH = 65_536
#: kind → (the weights file, chains of hyperparameters): each chain lists the sizes of consecutive layers of the
#: network `load` builds and fills from that file (a tuple hyperparameter stands for its widths in order). For each
#: neighbouring pair (a, b) the network holds a weight of at least a × b elements, all read from that file, so
#: a × b can be no more than the elements the file's header declares. This bounds what loading allocates by the
#: size of the weights on disk, whatever the config says. (Networks only training builds, like CTGAN's
#: discriminator, are not built at load and not listed; DDPM's UNet sizes are capped by its schema.)
_NETWORK_CHAINS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "ctgan": ("generator.safetensors", (("embedding_dim", "generator_dim"),)),
    "dp_ctgan": ("generator.safetensors", (("embedding_dim", "generator_dim"),)),
    "tvae": ("decoder.safetensors", (("embedding_dim", "decompress_dims"),)),
    "tab_ddpm": ("denoiser.safetensors", (("hidden_dims",),)),
    "dp_tvae": ("decoder.safetensors", (("embedding_dim", "decompress_dims"),)),
    "dcgan": ("generator.safetensors", (("latent_dim", "width", "width"), ("embedding_dim", "width"))),
    "conv_vae": ("decoder.safetensors", (("latent_dim", "width", "width"),)),
}


def _check_network_sizes(folder: Path, kind: str, config: dict[str, Any]) -> None:
    """Refuse a config whose declared layer sizes its weights cannot fill (before anything is allocated)."""
    if kind not in _NETWORK_CHAINS:
        return
    weights, chains = _NETWORK_CHAINS[kind]
    hyperparameters = config["hyperparameters"]
    path = folder / CONFIG_NAME
    elements = None  # read from the header only when a pair needs it
    for chain in chains:
        sizes: list[tuple[str, int]] = []
        for key in chain:
            if key not in hyperparameters:
                continue  # the class default: a size synth chose
            value = hyperparameters[key]
            sizes += [(f"{key}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else [(key, value)]
        for key, value in sizes:
            if value > MAX_NETWORK_WIDTH:
                raise ModelError(f"{path}: hyperparameters.{key} is {value:,}, wider than any network synth builds "
                                 f"(at most {MAX_NETWORK_WIDTH:,}); {DAMAGED}")
        if not (folder / weights).exists() and not (folder / weights).is_symlink():
            continue  # loading names the missing file
        for (key_a, a), (key_b, b) in zip(sizes, sizes[1:], strict=False):
            if elements is None:
                elements = _weight_elements(model_file(folder, weights))
            if a * b > elements:
                raise ModelError(f"{path}: hyperparameters.{key_a} ({a:,}) and {key_b} ({b:,}) make a layer of "
                                 f"{a * b:,} weights, more than {weights} holds ({elements:,}); {DAMAGED}")


def _weight_elements(path: Path) -> int:
    """How many numbers a safetensors file holds, read from its header (no tensor is loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    except (SafetensorError, ValueError, EOFError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path}: not a readable safetensors file ({reason}); {DAMAGED}") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot be read ({err.strerror or err}); check its permissions") from None


# -- the schema of each kind's config.json -------------------------------------------------------------------------


class _Plain(BaseModel):
    """Exactly these keys, each of exactly its JSON type (no "3" for 3, no true for 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Stopped(_Plain):
    """Why training stopped (`Generator.stopped_`, synth.models.stopping)."""

    reason: Literal["epochs", "max_minutes", "early_stopping"]
    epoch: Annotated[int, Field(ge=0)]
    epochs: Annotated[int, Field(ge=1)]
    best_epoch: Annotated[int, Field(ge=0)] | None = None
    metric: Annotated[str, Field(max_length=200)] | None = None
    score: float | None = None


class _Header(_Plain):
    kind: str
    format_version: Literal[1] = FORMAT_VERSION
    seed: int = 0
    #: Checked separately, strictly, by the kind's config in synth.models.configs (`_hyperparameter_schema`).
    hyperparameters: dict[str, Any]
    #: Absent in models saved before it was recorded, and in those not trained in epochs (the copula).
    stopped: _Stopped | None = None


class _ColumnState(_Plain):
    """One column of a fitted `DataTransformer` / `DPDataTransformer` (its `state_dict()["columns"]` entries)."""

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    spans: list[tuple[Annotated[int, Field(ge=1)], Literal["tanh", "softmax"]]] = Field(min_length=1)
    state: dict[str, Any]


class _TransformerState(BaseModel):
    """A transformer's `state_dict()`: its columns are checked; its settings differ between the two transformers."""

    model_config = ConfigDict(extra="allow", strict=True)
    columns: list[_ColumnState] = Field(min_length=1)


class _PlanRule(_Plain):
    """One entry of `column_plan` (synth.column_plan.ColumnRule)."""

    name: str
    kind: Literal["identifier", "discrete", "continuous", "keep"]
    dtype: str
    reason: str
    grid: Annotated[float, Field(gt=0)] | None = None
    transform: Literal["log", "quantile", "category", "nearest"] | None = None
    low: float | None = None
    high: float | None = None
    values: list[float] = Field(default_factory=list, max_length=10_000)
    knots: list[float] = Field(default_factory=list, max_length=10_000)
    pattern: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=200)


class _ConstraintEntry(_Plain):
    text: Annotated[str, Field(max_length=2_000)]
    combinations: list[str] | None = None


class _Constraints(_Plain):
    columns: list[str]
    rules: list[_ConstraintEntry]


class _TableHeader(_Header):
    """What every table generator writes around its model (absent in models saved before: defaults)."""

    columns: dict[str, str] | None = None
    column_plan: list[_PlanRule] | None = None
    constraints: _Constraints | None = None


class _TabularConfig(_TableHeader):
    """CTGAN, TVAE: what `_config()` writes."""

    transformer: _TransformerState


class _PrivateTabularConfig(_TabularConfig):
    """DP-CTGAN, DP-TVAE: the same plus the privacy ledger."""

    privacy: dict[str, Any]


class _CopulaConfig(_TableHeader):
    marginals: list[dict[str, Any]] = Field(min_length=1)


class _ImageConfig(_Header):
    """DCGAN, ConvVAE: the image shape (H, W, C) and the classes they were trained on."""

    image_shape: tuple[Annotated[int, Field(ge=1, le=4096)], Annotated[int, Field(ge=1, le=4096)], Literal[1, 3]]
    class_names: list[str] = Field(min_length=1)
    class_counts: list[Annotated[int, Field(ge=0)]]

    @model_validator(mode="after")
    def _one_count_per_class(self) -> _ImageConfig:
        if len(self.class_counts) != len(self.class_names):
            raise ValueError(f"{len(self.class_names)} class_names but {len(self.class_counts)} class_counts")
        return self


class _UNetConfig(_Plain):
    """The keys `synth.models.ddpm.unet_config` writes, and no others: plain values for `UNet2DModel(**config)`.

    Nothing here can name a file or a hub repository (diffusers' `from_config`
    reads one when handed a string instead of a dict).
    """

    sample_size: Annotated[int, Field(ge=1, le=4096)]
    in_channels: Literal[1, 3]
    out_channels: Literal[1, 3]
    block_out_channels: list[Annotated[int, Field(ge=1, le=4096)]] = Field(min_length=1, max_length=8)
    layers_per_block: Annotated[int, Field(ge=1, le=16)]
    down_block_types: list[Literal["DownBlock2D", "AttnDownBlock2D"]]
    up_block_types: list[Literal["UpBlock2D", "AttnUpBlock2D"]]
    norm_num_groups: Annotated[int, Field(ge=1)]
    attention_head_dim: Annotated[int, Field(ge=1)]
    add_attention: bool
    num_class_embeds: Annotated[int, Field(ge=2)]

    @model_validator(mode="after")
    def _one_block_type_per_level(self) -> _UNetConfig:
        levels = len(self.block_out_channels)
        if len(self.down_block_types) != levels or len(self.up_block_types) != levels:
            raise ValueError(f"{levels} block_out_channels but {len(self.down_block_types)} down and "
                             f"{len(self.up_block_types)} up block types")
        return self


class _SchedulerConfig(_Plain):
    num_train_timesteps: Annotated[int, Field(ge=1)]
    beta_schedule: Literal["linear", "squaredcos_cap_v2"]
    prediction_type: Literal["epsilon"]
    clip_sample: bool


class _DDPMConfig(_ImageConfig):
    unet: _UNetConfig
    scheduler: _SchedulerConfig

    @model_validator(mode="after")
    def _unet_fits_the_images(self) -> _DDPMConfig:
        height, _, channels = self.image_shape
        unet = self.unet
        if (unet.sample_size, unet.in_channels, unet.out_channels) != (height, channels, channels):
            raise ValueError(f"unet is for {unet.sample_size}px images with {unet.in_channels} channels, "
                             f"image_shape says {list(self.image_shape)}")
        if unet.num_class_embeds != len(self.class_names) + 1:
            raise ValueError(f"unet has {unet.num_class_embeds} class embeddings for {len(self.class_names)} classes "
                             "(expected one per class plus the null class)")
        # sampling builds its scheduler from the hyperparameters: they must be the ones the model was trained with
        for key in ("num_train_timesteps", "beta_schedule"):
            if self.hyperparameters.get(key) != getattr(self.scheduler, key):
                raise ValueError(f"hyperparameters.{key} is {_short(self.hyperparameters.get(key))}, "
                                 f"scheduler.{key} is {_short(getattr(self.scheduler, key))}")
        return self


#: kind → the schema its `save` writes. Every kind in synth.models' registries has one.
CONFIG_SCHEMAS: dict[str, type[_Header]] = {
    "ctgan": _TabularConfig,
    "tvae": _TabularConfig,
    "tab_ddpm": _TabularConfig,
    "dp_ctgan": _PrivateTabularConfig,
    "dp_tvae": _PrivateTabularConfig,
    "gaussian_copula": _CopulaConfig,
    "ddpm": _DDPMConfig,
    "dcgan": _ImageConfig,
    "conv_vae": _ImageConfig,
}
def _hyperparameter_schema(kind: str) -> type[BaseModel]:
    """The kind's config (`synth.models.configs`): the same names, bounds and rules a spec and `build_generator`
    apply. A key left out takes the config's default (models saved before a hyperparameter existed still load)."""
    from synth.models.configs import CONFIGS

    return CONFIGS[kind]


def _schema_problems(kind: str, config: dict[str, Any]) -> str:
    """'' when `config` matches `kind`'s schema; otherwise up to three problems, each naming its key."""
    problems: list[str] = []
    hyperparameters = config.get("hyperparameters")
    if isinstance(hyperparameters, dict) and "kind" in hyperparameters:  # the config's own field, never saved
        problems.append("hyperparameters.kind: unexpected key")
        hyperparameters = {k: v for k, v in hyperparameters.items() if k != "kind"}
    for schema, data, prefix in (
        (CONFIG_SCHEMAS[kind], config, ""),
        (_hyperparameter_schema(kind), hyperparameters, "hyperparameters."),
    ):
        if not isinstance(data, dict):
            continue  # the first schema has already said what is wrong with it
        try:
            # through JSON and strict, where lists read as tuples and nothing else as anything ("3" is not 3)
            schema.model_validate_json(json.dumps(data), strict=True)
        except ValidationError as err:
            problems += [_describe(error, prefix) for error in err.errors(include_url=False)]
        except (ValueError, RecursionError) as err:  # too deep to serialise again
            problems.append(f"{prefix or 'config'}: {type(err).__name__}")
    if len(problems) > 3:
        problems = [*problems[:3], f"and {len(problems) - 3} more"]
    return "; ".join(problems)


def _describe(error: dict[str, Any], prefix: str) -> str:
    key = prefix + ".".join(str(part) for part in error["loc"]) if error["loc"] else (prefix.rstrip(".") or "config")
    if error["type"] == "extra_forbidden":
        return f"{key}: unexpected key"
    if error["type"] == "missing":
        return f"{key}: missing"
    return f"{key}: {error['msg']}, got {_short(error.get('input'))}"


def _short(value: Any, limit: int = 60) -> str:
    """A value for a message, cut to `limit` characters (a hostile config must not make a long line)."""
    text = reprlib.repr(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
