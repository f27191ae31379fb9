"""Every generator's hyperparameters, declared once: one pydantic config per model.

A config is the single source of a model's hyperparameter names, defaults,
bounds and cross-field rules. Three readers use the same class:

- the model: `CTGAN(config)` (or `CTGAN(epochs=10)`, which builds the
  config) reads its hyperparameters from it, and `hyperparameters()` is its
  dump, which is what `config.json` stores;
- the pipeline spec: a spec's `generator:` block *is* the config of its
  `kind` (`synth.spec.GeneratorSpec` is the union of the spec kinds'
  configs), so `synth run` refuses what a model would refuse, with the
  same message;
- loading: `synth.models.io` checks a saved folder's hyperparameters
  against the same config (strictly: JSON types as written).

Why one module for all of them and not a config in each model file: the
model files import torch, which takes seconds, and spec validation, `synth
--help` and the model-folder checks must stay instant. pydantic only here.
The private configs compose the shared part of their model's config
(`CTGANCore`, `TVAECore`) with `PrivacyConfig`; the knobs a private fit
cannot honour (`pac`, `transformer_sample_size`, `max_categories`,
`precision`, the `TrainingBudget` keys; see
`synth.privacy.NOT_USED_UNDER_PRIVACY`) are only in the public configs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth.errors import GeneratorInputError

#: Layer widths: a tuple of sizes, each at least 1 (written as a list in YAML and JSON).
Widths = tuple[Annotated[int, Field(ge=1)], ...]


class GeneratorConfig(BaseModel):
    """Base of every config: unknown keys are refused, numbers must be finite, and a config never changes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    kind: str
    #: How the model is named in messages and progress bars ("CTGAN").
    title: ClassVar[str] = ""

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as plain JSON values (tuples as lists), without `kind`: what `config.json` stores."""
        return self.model_dump(mode="json", exclude={"kind"})

    @classmethod
    def parse(cls, hyperparameters: dict[str, Any] | None = None) -> GeneratorConfig:
        """The config for these keyword arguments; every unknown key or bad value named in one `GeneratorInputError`."""
        kind = cls.model_fields["kind"].default
        data = dict(hyperparameters or {})
        if data.get("kind", kind) != kind:
            raise GeneratorInputError(f"{kind}: kind {data['kind']!r} does not match; "
                                      f"build a {data['kind']!r} generator with synth.models.build_generator instead")
        try:
            return cls.model_validate({**data, "kind": kind})
        except ValidationError as err:
            raise GeneratorInputError(describe_errors(cls, err)) from None



def describe_errors(cls: type[GeneratorConfig], err: ValidationError) -> str:
    """`ctgan hyperparameters: epocs: unknown key (...); epochs: ...` on one line, every problem named by its key."""
    kind = cls.model_fields["kind"].default
    known = ", ".join(name for name in cls.model_fields if name != "kind")
    problems = []
    for error in err.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key (check the spelling; {kind} takes {known})")
        else:
            message = error["msg"].removeprefix("Value error, ")
            got = error.get("input")
            shown = repr(got) if not isinstance(got, dict) else ""
            got = f" (got {shown[:80]})" if shown and shown not in message else ""
            problems.append(f"{key}: {message}{got}" if key else message)
    return f"{kind} hyperparameters: " + "; ".join(problems)


# -- training length: time budgets and early stopping ------------------------------------------------------------


class TimeBudget(BaseModel):
    """A wall-clock limit on training (`synth.models.stopping`); every public neural generator takes it."""

    #: Minutes of training (the epochs loop; encoding the data before it is not counted). Training stops after the
    #: epoch in which they run out; null: no limit, the epochs decide alone.
    max_minutes: float | None = Field(default=None, gt=0)


class TrainingBudget(TimeBudget):
    """`max_minutes` and early stopping on a slice of the *training* data held out of training (never the gate's
    holdout): the tabular models score generated rows against it (a cheap fidelity proxy), ConvVAE and DDPM their
    own loss on held-out images. Off by default, so a model trains exactly as it always did."""

    #: Hold out 10% of the training rows (at most 5,000 rows or 1,000 images), score the model on them every
    #: `eval_every` epochs, stop after `patience` scores without improvement and keep the best-scoring weights.
    early_stopping: bool = False
    #: Scores in a row without improvement (of more than 0.1%) before training stops.
    patience: int = Field(default=5, ge=1)
    #: Epochs between scores; null: a fiftieth of the planned epochs (at least 1).
    eval_every: int | None = Field(default=None, ge=1)


# -- tabular: CTGAN and DP-CTGAN ---------------------------------------------------------------------------------


class CTGANCore(GeneratorConfig):
    """What CTGAN and DP-CTGAN share: the networks and the training loop."""

    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    generator_dim: Widths = (256, 256)
    discriminator_dim: Widths = (256, 256)
    generator_lr: float = Field(default=2e-4, gt=0)
    discriminator_lr: float = Field(default=2e-4, gt=0)
    discriminator_steps: int = Field(default=1, ge=1)
    max_modes: int = Field(default=10, ge=1)
    #: Weight of the generator's pull towards the real one-hot block frequencies (KL of the batch's mean softmax);
    #: 0 is the paper's CTGAN. The private version pulls towards the released noisy marginals instead.
    marginal_weight: float = Field(default=1.0, ge=0)


class TabularEncoding(BaseModel):
    """The public tabular models' encoder and precision knobs (a private fit encodes from noisy counts in float32)."""

    transformer_sample_size: int = Field(default=5_000, ge=100)
    #: A categorical column with more distinct values keeps this many most frequent ones and pools the rest.
    max_categories: int = Field(default=100, ge=2)
    #: "bf16": the networks' matrix products in bfloat16 (mixed precision, for GPUs; see synth.models.training).
    precision: Literal["fp32", "bf16"] = "fp32"


class CTGANConfig(TabularEncoding, TrainingBudget, CTGANCore):
    """`synth.models.ctgan.CTGAN`: a conditional GAN for tables."""

    kind: Literal["ctgan"] = "ctgan"
    title: ClassVar[str] = "CTGAN"
    #: Rows the discriminator scores together (PacGAN); batch_size must be a multiple of it.
    pac: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _batch_divisible_by_pac(self) -> CTGANConfig:
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac}); "
                f"try batch_size: {self.batch_size - self.batch_size % self.pac or self.pac}"
            )
        return self


# -- tabular: TVAE and DP-TVAE -----------------------------------------------------------------------------------


class TVAECore(GeneratorConfig):
    """What TVAE and DP-TVAE share: the networks and the training loop."""

    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    compress_dims: Widths = (128, 128)
    decompress_dims: Widths = (128, 128)
    lr: float = Field(default=1e-3, gt=0)
    l2scale: float = Field(default=1e-5, ge=0)
    loss_factor: float = Field(default=2.0, gt=0)
    max_modes: int = Field(default=10, ge=1)


class TVAEConfig(TabularEncoding, TrainingBudget, TVAECore):
    """`synth.models.tvae.TVAE`: a variational autoencoder for tables."""

    kind: Literal["tvae"] = "tvae"
    title: ClassVar[str] = "TVAE"


# -- tabular: TabDDPM ----------------------------------------------------------------------------------------------


class TabDDPMConfig(TabularEncoding, TrainingBudget, GeneratorConfig):
    """`synth.models.tab_ddpm.TabDDPM`: a denoising diffusion model for tables (an MLP denoiser)."""

    kind: Literal["tab_ddpm"] = "tab_ddpm"
    title: ClassVar[str] = "TabDDPM"
    #: Optimiser steps (batches). Training runs as many whole epochs as give at least this many steps, so the
    #: training length follows the table: a 1,000-row table gets as many steps as a 100,000-row one.
    steps: int = Field(default=8_000, ge=1)
    #: Rows per step; a table with fewer rows trains on all of them each step.
    batch_size: int = Field(default=1024, ge=2)
    #: The denoiser: widths of its hidden layers (an MLP with a timestep embedding).
    hidden_dims: Widths = Field(default=(512, 512, 512), min_length=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-5, ge=0)
    #: Diffusion timesteps of training (a cosine noise schedule).
    num_timesteps: int = Field(default=1000, ge=10)
    #: Denoising steps when sampling (evenly spaced over the training timesteps).
    sampling_steps: int = Field(default=50, ge=1)
    #: Decay of the exponential moving average of the weights sampled from; null: the last weights.
    ema_decay: float | None = Field(default=0.999, ge=0, lt=1)
    max_modes: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _sampling_within_training(self) -> TabDDPMConfig:
        if self.sampling_steps > self.num_timesteps:
            raise ValueError(f"sampling_steps ({self.sampling_steps}) cannot exceed num_timesteps "
                             f"({self.num_timesteps}); try sampling_steps: {min(50, self.num_timesteps)}")
        return self


# -- differential privacy -----------------------------------------------------------------------------------------


class PrivacyConfig(BaseModel):
    """The privacy budget a private generator trains within (a spec's `privacy:` block; see synth.privacy)."""

    #: Total ε spent on the training rows: preprocessing counts and DP-SGD, composed by the accountant.
    epsilon: float = Field(default=3.0, gt=0, le=100)
    #: δ; None: the largest power of ten below 1/n for n training rows. Must be below 1/n.
    delta: float | None = Field(default=None, gt=0, lt=1)
    #: DP-SGD clips each row's gradient to this L2 norm.
    max_grad_norm: float = Field(default=1.0, gt=0)
    #: Share of ε the preprocessing counts may spend on their own.
    preprocessing_share: float = Field(default=0.2, gt=0, lt=1)
    accountant: Literal["rdp", "prv"] = "rdp"
    #: Public bounds of numeric (or date) columns, e.g. {"age": [17, 90]}: cost no ε.
    bounds: dict[str, tuple[Any, Any]] = Field(default_factory=dict)
    #: Public category lists, e.g. {"sex": ["Female", "Male"]}: cost no ε.
    categories: dict[str, list[Any]] = Field(default_factory=dict)


class DPCTGANConfig(CTGANCore, PrivacyConfig):
    """`synth.models.dp_ctgan.DPCTGAN`: CTGAN's networks and loop, trained within a privacy budget (pac is 1)."""

    kind: Literal["dp_ctgan"] = "dp_ctgan"
    title: ClassVar[str] = "DP-CTGAN"
    epochs: int = Field(default=30, ge=1)


class DPTVAEConfig(TVAECore, PrivacyConfig):
    """`synth.models.dp_tvae.DPTVAE`: TVAE's networks and loop, trained within a privacy budget."""

    kind: Literal["dp_tvae"] = "dp_tvae"
    title: ClassVar[str] = "DP-TVAE"
    epochs: int = Field(default=30, ge=1)
    #: Weight of the decoder's post-processing step towards the released noisy marginals (0: none).
    marginal_weight: float = Field(default=1.0, ge=0)


# -- the statistical baseline ---------------------------------------------------------------------------------------


class GaussianCopulaConfig(GeneratorConfig):
    """`synth.models.gaussian_copula.GaussianCopula`: per-column marginals joined by a Gaussian copula."""

    kind: Literal["gaussian_copula"] = "gaussian_copula"
    title: ClassVar[str] = "GaussianCopula"
    #: Points kept of each numeric column's empirical distribution (quantiles).
    n_quantiles: int = Field(default=200, ge=2)
    #: A categorical column with more distinct values keeps this many most frequent ones and pools the rest.
    max_categories: int = Field(default=100, ge=2)


# -- images ------------------------------------------------------------------------------------------------------


class DDPMConfig(TrainingBudget, GeneratorConfig):
    """`synth.models.ddpm.DDPM`: a class-conditional diffusers UNet2DModel."""

    kind: Literal["ddpm"] = "ddpm"
    title: ClassVar[str] = "DDPM"
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=128, ge=2)
    lr: float = Field(default=2e-4, gt=0)
    #: UNet width per resolution level; the image size must be divisible by 2^(levels - 1).
    block_out_channels: Widths = Field(default=(64, 128, 128), min_length=1)
    layers_per_block: int = Field(default=2, ge=1)
    #: Self-attention at the lowest resolution (and in the middle block).
    attention: bool = True
    #: GroupNorm groups; every entry of block_out_channels must be divisible by it.
    norm_num_groups: int = Field(default=32, ge=1)
    num_train_timesteps: int = Field(default=1000, ge=10)
    beta_schedule: Literal["linear", "squaredcos_cap_v2"] = "squaredcos_cap_v2"
    #: Classifier-free guidance: share of training labels replaced by the null class.
    label_dropout: float = Field(default=0.1, ge=0, lt=1)
    #: Sampling: 1 = plain conditional, > 1 = stronger class guidance (needs label_dropout > 0).
    guidance_scale: float = Field(default=2.0, ge=0)
    #: DDIM steps when sampling.
    sampling_steps: int = Field(default=50, ge=1)
    #: Decay of the exponential moving average of the weights sampled from; null disables EMA.
    ema_decay: float | None = Field(default=0.999, ge=0, lt=1)
    sample_batch_size: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> DDPMConfig:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"block_out_channels {list(self.block_out_channels)}: {bad} not divisible by "
                             f"norm_num_groups={self.norm_num_groups}; use multiples of it or lower norm_num_groups")
        if self.guidance_scale != 1 and self.label_dropout == 0:
            raise ValueError("guidance_scale other than 1 needs label_dropout > 0 (the null class must be trained)")
        return self


class DCGANConfig(TimeBudget, GeneratorConfig):
    """`synth.models.dcgan.DCGAN`: a class-conditional DCGAN."""

    kind: Literal["dcgan"] = "dcgan"
    title: ClassVar[str] = "DCGAN"
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=128, ge=2)
    latent_dim: int = Field(default=100, ge=1)
    #: Feature maps of the first discriminator / last generator layer (doubled once below it).
    width: int = Field(default=64, ge=4)
    #: Size of the learned class embedding fed to the generator.
    embedding_dim: int = Field(default=32, ge=1)
    generator_lr: float = Field(default=2e-4, gt=0)
    discriminator_lr: float = Field(default=2e-4, gt=0)
    beta1: float = Field(default=0.5, ge=0, lt=1)


class ConvVAEConfig(TrainingBudget, GeneratorConfig):
    """`synth.models.conv_vae.ConvVAE`: a class-conditional convolutional VAE."""

    kind: Literal["conv_vae"] = "conv_vae"
    title: ClassVar[str] = "ConvVAE"
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=128, ge=2)
    latent_dim: int = Field(default=16, ge=1)
    width: int = Field(default=32, ge=4)
    lr: float = Field(default=1e-3, gt=0)
    #: Weight of the KL term (1 = the ELBO).
    beta: float = Field(default=1.0, gt=0)


#: kind → its config, for every generator in synth.models' registries.
CONFIGS: dict[str, type[GeneratorConfig]] = {
    cls.model_fields["kind"].default: cls
    for cls in (CTGANConfig, TVAEConfig, TabDDPMConfig, GaussianCopulaConfig, DPCTGANConfig, DPTVAEConfig, DDPMConfig,
                DCGANConfig, ConvVAEConfig)
}
#: Kinds a spec's `generator.kind` may name (the private ones are chosen by a `privacy:` block instead).
SPEC_KINDS = ("ctgan", "tvae", "tab_ddpm", "gaussian_copula", "ddpm", "dcgan", "conv_vae")
#: Kinds that train on images; the others train on tables.
IMAGE_KINDS = ("ddpm", "dcgan", "conv_vae")
