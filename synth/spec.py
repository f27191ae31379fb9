"""The pipeline spec: one pydantic model, parsed from `pipelines/*.yaml`.

Unknown keys are rejected everywhere (`extra="forbid"`), so a misspelt key
fails loudly with its dotted path instead of being silently ignored. The same
model is the Prefect flow's parameter type. Any value can be overridden with
`--set dotted.key=value` (the value is parsed as YAML: `2`, `true`, `[a, b]`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_serializer, model_validator,
)

from synth.errors import SpecError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Strict):
    """Where the real table comes from and how to read it."""

    path: Path
    #: "csv" also covers gzip-compressed CSV and UCI's `.data`/`.test` files.
    #: Left out, it is inferred: `.parquet`/`.pq` is Parquet, anything else CSV.
    format: Literal["csv", "parquet"] | None = None
    #: CSV only: whether the first (non-skipped) line holds column names.
    header: bool = True
    #: CSV only: column names, required when `header` is false.
    columns: list[str] | None = None
    #: CSV only: extra strings that mean "missing" (UCI uses "?").
    na_values: list[str] = Field(default_factory=list)
    #: CSV only: field separator; spaces after it are always skipped.
    sep: str = ","
    #: CSV only: lines to skip before the header/data (adult.test has one).
    skip_rows: int = Field(default=0, ge=0)
    #: Replace values per column after loading, e.g. {income: {"<=50K.": "<=50K"}}.
    recode: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> "SourceSpec":
        if not self.header and not self.columns:
            raise ValueError("header is false, so 'columns' must list the column names")
        return self

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return "parquet" if self.path.suffix.lower() in {".parquet", ".pq"} else "csv"


#: `source.format` values that read labelled images instead of a table.
IMAGE_FORMATS = ("image_folder", "npz", "idx", "sklearn_digits")


class ImageSourceSpec(_Strict):
    """Where the real labelled images come from and how to read them (see `synth.images.sources`)."""

    #: image_folder: one subfolder of PNG/JPEG files per class (the folder name is the class);
    #: npz: arrays `images` (uint8, N×H×W or N×H×W×C) and `labels` (integers), optional `class_names`;
    #: idx: MNIST-style IDX files, optionally gzipped (`path` images, `labels_path` labels);
    #: sklearn_digits: scikit-learn's bundled 8×8 handwritten digits (no path).
    format: Literal["image_folder", "npz", "idx", "sklearn_digits"]
    path: Path | None = None
    #: idx only: the labels file that goes with `path`.
    labels_path: Path | None = None
    #: Optional real test set in the same format, never trained on by anything; TSTR accuracy is scored on it.
    #: Left out, on the holdout.
    test_path: Path | None = None
    #: idx only: the labels file that goes with `test_path`.
    test_labels_path: Path | None = None
    #: Resize every image to image_size × image_size; left out, the images' own size (then all must agree).
    image_size: int | None = Field(default=None, ge=4, le=1024)
    #: How to resize: bilinear, lanczos or nearest interpolation, or pad (centre on a black canvas; never shrinks).
    resize: Literal["bilinear", "lanczos", "nearest", "pad"] = "bilinear"
    #: grayscale or rgb; left out, grayscale when every image is, else rgb.
    color: Literal["grayscale", "rgb"] | None = None
    #: Class names by label index; left out, the folder names, the npz's `class_names`, or the label numbers.
    class_names: list[str] | None = None
    #: An unreadable image file: error (list every bad file and stop) or skip (leave it out; listed in the card).
    on_bad_file: Literal["error", "skip"] = "error"
    #: Use a seeded, class-stratified subset of at most this many images (for quick runs).
    max_images: int | None = Field(default=None, ge=10)

    @model_validator(mode="after")
    def _paths_for_format(self) -> "ImageSourceSpec":
        problems = []
        if self.format == "sklearn_digits":
            given = [k for k in ("path", "labels_path", "test_path", "test_labels_path") if getattr(self, k) is not None]
            if given:
                problems.append(f"format sklearn_digits reads scikit-learn's bundled digits; remove {given}")
        elif self.path is None:
            problems.append(f"format {self.format} needs 'path'")
        if self.format == "idx":
            if self.path is not None and self.labels_path is None:
                problems.append("format idx needs 'labels_path' (e.g. train-labels-idx1-ubyte.gz)")
            if (self.test_path is None) != (self.test_labels_path is None):
                problems.append("format idx: give both test_path and test_labels_path, or neither")
        elif self.format != "sklearn_digits" and (self.labels_path or self.test_labels_path):
            problems.append(f"labels_path/test_labels_path are for format idx; format {self.format} keeps labels with the images")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CTGANSpec(_Strict):
    """Hyperparameters of `synth.models.ctgan.CTGAN` (same names, same defaults)."""

    kind: Literal["ctgan"] = "ctgan"
    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    generator_dim: tuple[int, ...] = (256, 256)
    discriminator_dim: tuple[int, ...] = (256, 256)
    generator_lr: float = Field(default=2e-4, gt=0)
    discriminator_lr: float = Field(default=2e-4, gt=0)
    discriminator_steps: int = Field(default=1, ge=1)
    pac: int = Field(default=10, ge=1)
    max_modes: int = Field(default=10, ge=1)
    transformer_sample_size: int = Field(default=5_000, ge=100)
    #: A categorical column with more distinct values keeps this many most frequent ones and pools the rest.
    max_categories: int = Field(default=100, ge=2)
    #: Weight of the generator's pull towards the real one-hot block frequencies (KL of the batch's mean softmax);
    #: 0 is the paper's CTGAN.
    marginal_weight: float = Field(default=1.0, ge=0)
    #: "bf16": the networks' matrix products in bfloat16 (mixed precision, for GPUs; see synth.models.training).
    precision: Literal["fp32", "bf16"] = "fp32"

    @model_validator(mode="after")
    def _batch_divisible_by_pac(self) -> "CTGANSpec":
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac}); "
                f"try batch_size: {self.batch_size - self.batch_size % self.pac or self.pac}"
            )
        return self

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class TVAESpec(_Strict):
    """Hyperparameters of `synth.models.tvae.TVAE` (same names, same defaults)."""

    kind: Literal["tvae"] = "tvae"
    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    compress_dims: tuple[int, ...] = (128, 128)
    decompress_dims: tuple[int, ...] = (128, 128)
    lr: float = Field(default=1e-3, gt=0)
    l2scale: float = Field(default=1e-5, ge=0)
    loss_factor: float = Field(default=2.0, gt=0)
    max_modes: int = Field(default=10, ge=1)
    transformer_sample_size: int = Field(default=5_000, ge=100)
    #: A categorical column with more distinct values keeps this many most frequent ones and pools the rest.
    max_categories: int = Field(default=100, ge=2)
    #: "bf16": the networks' matrix products in bfloat16 (mixed precision, for GPUs; see synth.models.training).
    precision: Literal["fp32", "bf16"] = "fp32"

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class GaussianCopulaSpec(_Strict):
    """Hyperparameters of `synth.models.gaussian_copula.GaussianCopula` (same names, same defaults)."""

    kind: Literal["gaussian_copula"] = "gaussian_copula"
    #: Points kept of each numeric column's empirical distribution (quantiles).
    n_quantiles: int = Field(default=200, ge=2)
    #: A categorical column with more distinct values keeps this many most frequent ones and pools the rest.
    max_categories: int = Field(default=100, ge=2)

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class DDPMSpec(_Strict):
    """Hyperparameters of `synth.models.ddpm.DDPM`: a class-conditional diffusers UNet2DModel (same names, same defaults)."""

    kind: Literal["ddpm"] = "ddpm"
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=128, ge=2)
    lr: float = Field(default=2e-4, gt=0)
    #: UNet width per resolution level; the image size must be divisible by 2^(levels - 1).
    block_out_channels: tuple[int, ...] = Field(default=(64, 128, 128), min_length=1)
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
    def _groups_divide_channels(self) -> "DDPMSpec":
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"block_out_channels {list(self.block_out_channels)}: {bad} not divisible by "
                             f"norm_num_groups={self.norm_num_groups}; use multiples of it or lower norm_num_groups")
        if self.guidance_scale != 1 and self.label_dropout == 0:
            raise ValueError("guidance_scale other than 1 needs label_dropout > 0 (the null class must be trained)")
        return self

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class DCGANSpec(_Strict):
    """Hyperparameters of `synth.models.dcgan.DCGAN`, a class-conditional DCGAN (same names, same defaults)."""

    kind: Literal["dcgan"] = "dcgan"
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

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class ConvVAESpec(_Strict):
    """Hyperparameters of `synth.models.conv_vae.ConvVAE`, a class-conditional convolutional VAE."""

    kind: Literal["conv_vae"] = "conv_vae"
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=128, ge=2)
    latent_dim: int = Field(default=16, ge=1)
    width: int = Field(default=32, ge=4)
    lr: float = Field(default=1e-3, gt=0)
    #: Weight of the KL term (1 = the ELBO).
    beta: float = Field(default=1.0, gt=0)

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


#: `generator.kind` picks the model; the other keys are its hyperparameters.
GeneratorSpec = Annotated[
    Union[CTGANSpec, TVAESpec, GaussianCopulaSpec, DDPMSpec, DCGANSpec, ConvVAESpec], Field(discriminator="kind")
]
GENERATOR_KINDS = ("ctgan", "tvae", "gaussian_copula", "ddpm", "dcgan", "conv_vae")
#: Kinds that train on images (an image `source.format`); the others train on tables.
IMAGE_GENERATOR_KINDS = ("ddpm", "dcgan", "conv_vae")


_CONSTRAINT = re.compile(r"^\s*(?P<column>\S+)\s*(?P<op>>=|<=|>|<)\s*(?P<right>\S+)\s*$")


class Constraint(_Strict):
    """A rule every synthetic row must keep: a column against a number or another column.

    Written in a spec as a string, `"age >= 17"` or `"capital-loss <= capital-gain"`
    (operators `>=`, `>`, `<=`, `<`; spaces around the operator required when a
    column name contains `-`). Missing values are not judged.
    """

    column: str
    op: Literal[">=", ">", "<=", "<"]
    value: float | None = None
    other: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        match = _CONSTRAINT.match(raw)
        if not match:
            raise ValueError(
                f"constraint {raw!r} is not COLUMN OP NUMBER or COLUMN OP COLUMN with OP one of >=, >, <=, <; "
                "e.g. 'age >= 17' or 'capital-loss <= capital-gain'"
            )
        right: Any = match["right"]
        try:
            return {"column": match["column"], "op": match["op"], "value": float(right)}
        except ValueError:
            return {"column": match["column"], "op": match["op"], "other": right}

    @model_validator(mode="after")
    def _one_right_side(self) -> "Constraint":
        if (self.value is None) == (self.other is None):
            raise ValueError("a constraint compares its column with either a number (value) or a column (other)")
        return self

    def columns(self) -> list[str]:
        return [self.column] + ([self.other] if self.other else [])


#: Default `max_frechet_distance` of the image gate, in standardised judge-feature units.
FRECHET_DEFAULT = 10.0


class ValidationSpec(_Strict):
    """Thresholds of the publishing gate."""

    #: sdmetrics QualityReport score (column shapes + pair trends), 0..1.
    min_quality: float = Field(default=0.75, ge=0, le=1)
    #: sdmetrics per-column shape similarity (KS / total-variation complements), 0..1.
    min_column_shapes: float = Field(default=0.8, ge=0, le=1)
    #: sdmetrics pairwise trend similarity (correlation / contingency), 0..1.
    min_pair_trends: float = Field(default=0.8, ge=0, le=1)
    #: ROC AUC of a classifier telling real from synthetic rows (0.5 = indistinguishable).
    max_detection_auc: float = Field(default=0.95, ge=0.5, le=1)
    #: Largest allowed share of synthetic rows that exactly copy a training row.
    max_exact_copy_rate: float = Field(default=0.01, ge=0, le=1)
    #: Share of synthetic rows closer to training than to holdout rows (0.5 = no memorisation).
    max_dcr_share: float = Field(default=0.6, ge=0, le=1)
    #: ROC AUC of a nearest-synthetic-row membership-inference attack (0.5 = no signal).
    max_membership_auc: float = Field(default=0.6, ge=0.5, le=1)
    #: TSTR / TRTR macro-F1 ratio on the real holdout (needs `target`).
    min_utility_ratio: float = Field(default=0.8, ge=0, le=1)
    #: Synthetic null fraction per column may differ from the real one by this much.
    null_tolerance: float = Field(default=0.05, ge=0, le=1)
    #: Quality is scored on at most this many rows of each table (stated in the card).
    max_rows_scored: int = Field(default=20_000, ge=100)
    #: Rules beyond the real profile, e.g. ["age >= 17", "capital-loss <= capital-gain"].
    constraints: list[Constraint] = Field(default_factory=list)
    #: Publish only if the generator is differentially private with a total ε at most this (needs a `privacy:`
    #: block; checked by the flow from the model's privacy ledger, not by `run_gate`). Left out: no requirement.
    max_epsilon: float | None = Field(default=None, gt=0)

    @model_serializer(mode="wrap")
    def _leave_out_unset_max_epsilon(self, handler: Any) -> dict[str, Any]:
        """Dumps leave out `max_epsilon` when it is not set, so `run_gate(**validation.model_dump())` keeps
        working: the ε requirement is judged by the flow, and callers that pass a set one exclude it."""
        data = handler(self)
        if self.max_epsilon is None:
            data.pop("max_epsilon", None)
        return data


class ImageValidationSpec(_Strict):
    """Thresholds of the image gate (`validation.images`), used when the source holds images.

    A small CNN (the judge) is trained on the real training images; see the
    README's "Image checks" for what each figure means.
    """

    #: Share of synthetic images the judge classifies as the class they were generated for.
    min_label_faithfulness: float = Field(default=0.7, ge=0, le=1)
    #: Fréchet distance between real and synthetic images in the judge's standardised feature space
    #: (not Inception-FID: a CNN trained on this run's real images, so compare figures within one dataset).
    max_frechet_distance: float = Field(default=FRECHET_DEFAULT, gt=0)
    #: Accuracy of the judge's architecture trained on synthetic images / trained on real ones, on real test images.
    min_tstr_ratio: float = Field(default=0.8, ge=0, le=1)
    #: A synthetic image is a near-copy when its nearest training image is closer than this quantile of
    #: real holdout images' nearest-training distances (so about this share of fresh real images would be flagged).
    near_copy_quantile: float = Field(default=0.01, gt=0, lt=0.5)
    #: Largest allowed share of near-copies.
    max_near_copy_rate: float = Field(default=0.05, ge=0, le=1)
    #: Size-adjusted share of synthetic images whose nearest real image is a training image (0.5 = no memorisation).
    max_closer_to_training: float = Field(default=0.6, ge=0, le=1)
    #: Epochs the judge CNN (and its TSTR twin) train for.
    judge_epochs: int = Field(default=5, ge=1)
    #: Images of each set that the distance, Fréchet and TSTR figures use at most (stated in the card).
    max_images_scored: int = Field(default=10_000, ge=100)


class PrivacySpec(_Strict):
    """Differential privacy for everything that reads the training rows (see README "Differential privacy").

    With this block, `ctgan` trains as DP-CTGAN and `tvae` as DP-TVAE
    (`synth.models.dp_ctgan`, `synth.models.dp_tvae`); other generators are refused.
    """

    #: Total ε spent on the training rows: preprocessing counts and DP-SGD, composed by the accountant.
    epsilon: float = Field(gt=0, le=100)
    #: δ; left out, the largest power of ten below 1/n for n training rows (Adult: 1e-5). Must be below 1/n.
    delta: float | None = Field(default=None, gt=0, lt=1)
    #: DP-SGD clips each row's gradient to this L2 norm.
    max_grad_norm: float = Field(default=1.0, gt=0)
    #: ε the preprocessing counts may spend on their own (as a share of `epsilon`); composed jointly with training,
    #: the total stays `epsilon` and training gets the rest.
    preprocessing_share: float = Field(default=0.2, gt=0, lt=1)
    #: Opacus accountant composing every mechanism: rdp (Rényi DP) or prv (privacy loss random variables, tighter).
    accountant: Literal["rdp", "prv"] = "rdp"
    #: Public bounds of numeric (or date) columns, e.g. {age: [17, 90]}: cost no ε; values outside are clipped.
    #: Numeric columns left out get bounds learned privately (charged to ε).
    bounds: dict[str, tuple[Any, Any]] = Field(default_factory=dict)
    #: Public category lists, e.g. {sex: [Female, Male]}: cost no ε. Categorical columns left out keep only values
    #: found privately (noisy count above a threshold). Values not listed or found, or too rare to stand out from the
    #: noise, are trained on as the column's most frequent value and never generated.
    categories: dict[str, list[Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds_and_lists(self) -> "PrivacySpec":
        problems = []
        for column, (low, high) in self.bounds.items():
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and not low < high:
                problems.append(f"bounds.{column}: low ({low}) must be below high ({high})")
        for column, values in self.categories.items():
            if not values:
                problems.append(f"categories.{column}: list at least one value")
            elif len({str(v) for v in values}) < len(values):
                problems.append(f"categories.{column}: a value is listed twice")
        both = sorted(set(self.bounds) & set(self.categories))
        if both:
            problems.append(f"{both}: a column has either bounds (numeric) or categories, not both")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ConditionSpec(_Strict):
    """Extra rows drawn with categorical values fixed, e.g. to rebalance a rare class."""

    #: Column → value every one of these rows takes, e.g. {income: ">50K"}.
    values: dict[str, Any] = Field(min_length=1)
    rows: int = Field(ge=1)


class ScheduleSpec(_Strict):
    """When `synth serve` runs the pipeline: a cron expression or an interval, in a timezone."""

    #: e.g. "0 2 * * *" (every night at 02:00).
    cron: str | None = None
    #: Seconds between runs, e.g. 86400.
    interval: float | None = Field(default=None, gt=0)
    #: IANA timezone the cron expression is read in, e.g. "Europe/Amsterdam".
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_of(self) -> "ScheduleSpec":
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron (e.g. '0 2 * * *') or interval (seconds)")
        if self.cron is not None and len(self.cron.split()) not in (5, 6):
            raise ValueError(f"cron {self.cron!r} should have 5 fields: minute hour day-of-month month day-of-week")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA name such as 'UTC' or 'Europe/Amsterdam'") from None
        return self


class PublishSpec(_Strict):
    #: Catalog root; left out, the SYNTH_CATALOG_ROOT setting (default data/published).
    root: Path | None = None


class PipelineSpec(_Strict):
    """A whole pipeline: load → hold out → train → sample → validate → publish."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    #: A table (format csv/parquet) or labelled images (format image_folder/npz/idx/sklearn_digits).
    source: SourceSpec | ImageSourceSpec
    #: The column a downstream classifier predicts (must exist in the source).
    target: str | None = None
    generator: GeneratorSpec
    #: Synthetic rows to publish; left out, as many as the training rows.
    rows: int | None = Field(default=None, ge=1)
    #: Above this many rows, generation is split into partitions of this size that run as parallel
    #: Prefect tasks on Dask, published as a partitioned Parquet dataset (`data/part-*.parquet`).
    partition_rows: int | None = Field(default=None, ge=1000)
    #: Conditional rows published in addition to `rows`, e.g. [{values: {income: ">50K"}, rows: 5000}].
    conditions: list[ConditionSpec] = Field(default_factory=list)
    seed: int = 0
    #: Share of real rows split off before training, never seen by the generator.
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    #: The gate's thresholds: ValidationSpec for a table source, ImageValidationSpec for images.
    validation: ValidationSpec | ImageValidationSpec = Field(default_factory=ValidationSpec, validate_default=True)
    publish: PublishSpec = Field(default_factory=PublishSpec)
    #: Optional: when `synth serve` runs this pipeline (ignored by `synth run`).
    schedule: ScheduleSpec | None = None
    #: Optional: train with differential privacy (`ctgan` → DP-CTGAN, `tvae` → DP-TVAE) within this budget.
    privacy: PrivacySpec | None = None

    @model_validator(mode="after")
    def _privacy_has_a_private_generator(self) -> "PipelineSpec":
        """Only generators with an honest private version may train under `privacy:`; keys it would ignore are refused."""
        if self.privacy is None:
            return self
        from synth.privacy import NOT_USED_UNDER_PRIVACY, PRIVATE_KINDS

        kind = self.generator.kind
        if kind == "gaussian_copula":
            raise ValueError(
                "privacy: generator.kind gaussian_copula has no private version (it stores every numeric column's "
                "empirical quantiles and the correlations of the raw rows); use kind ctgan (DP-CTGAN) or tvae (DP-TVAE), "
                "or remove the privacy block"
            )
        if kind not in PRIVATE_KINDS:
            raise ValueError(f"privacy: generator.kind {kind!r} has no private version; use kind ctgan or tvae, or remove the privacy block")
        problems = []
        fields = type(self.generator).model_fields
        for key in sorted(set(fields) & set(NOT_USED_UNDER_PRIVACY)):
            # a default value is simply unused (a spec dumped and re-read, as `synth serve` ships it, sets every key)
            if getattr(self.generator, key) == fields[key].default or (key == "pac" and self.generator.pac == 1):
                continue
            fix = "set pac: 1 or remove it" if key == "pac" else "remove it"
            problems.append(f"generator.{key}={getattr(self.generator, key)!r} does not apply with privacy: "
                            f"{NOT_USED_UNDER_PRIVACY[key]}; {fix}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _partitions_without_conditions(self) -> "PipelineSpec":
        if self.partition_rows and self.conditions:
            raise ValueError("conditions cannot be combined with partition_rows yet; drop one of them")
        return self

    @field_validator("source", mode="wrap")
    @classmethod
    def _table_or_images(cls, value: Any, handler: Any) -> Any:
        """`format` tells a table source from an image source, so errors name the keys the user wrote."""
        fmt = value.get("format") if isinstance(value, dict) else getattr(value, "format", None)
        if fmt in IMAGE_FORMATS:
            return ImageSourceSpec.model_validate(value)
        if fmt is not None and fmt not in ("csv", "parquet"):
            raise ValueError(f"format {fmt!r} is not known; tables: csv, parquet; images: {', '.join(IMAGE_FORMATS)}")
        return SourceSpec.model_validate(value)

    @field_validator("validation", mode="wrap")
    @classmethod
    def _thresholds_for_source(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        """Image sources take the image gate's thresholds, table sources the table gate's."""
        model = ImageValidationSpec if isinstance(info.data.get("source"), ImageSourceSpec) else ValidationSpec
        if isinstance(value, (ValidationSpec, ImageValidationSpec)):
            if isinstance(value, model):
                return value
            value = value.model_dump(exclude_unset=True)  # the default of the other kind: {}
        return model.model_validate(value)

    @model_validator(mode="after")
    def _image_generators_on_images(self) -> "PipelineSpec":
        kind = self.generator.kind
        if self.is_image != (kind in IMAGE_GENERATOR_KINDS):
            if self.is_image:
                raise ValueError(f"source.format {self.source.format!r} holds images, but generator.kind {kind!r} "
                                 f"models tables; use one of {list(IMAGE_GENERATOR_KINDS)}")
            raise ValueError(f"generator.kind {kind!r} models images; give an image source "
                             f"(source.format one of {list(IMAGE_FORMATS)}) or a table generator")
        if self.is_image:
            problems = []
            if self.target is not None:
                problems.append("target: image pipelines always predict the class label; remove target")
            if self.partition_rows is not None:
                problems.append("partition_rows is for tables; remove it")
            problems += [f"conditions[{i}].values: image generators condition on 'label' only, e.g. {{label: 3}}"
                         for i, c in enumerate(self.conditions) if set(c.values) != {"label"}]
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def is_image(self) -> bool:
        """Whether this pipeline trains on labelled images (else on a table)."""
        return isinstance(self.source, ImageSourceSpec)

    def check_against(self, table: Any, origin: str) -> None:
        """Every column the spec names (target, constraints, conditions) must be in the loaded table,
        and every conditioned value must occur in its column."""
        columns = list(table.columns)
        named = [("target", self.target)] if self.target else []
        named += [(f"validation.constraints[{i}]", c) for i, rule in enumerate(self.validation.constraints) for c in rule.columns()]
        named += [(f"conditions[{i}].values", c) for i, cond in enumerate(self.conditions) for c in cond.values]
        for key, column in named:
            if column not in columns:
                raise SpecError(f"{origin}: {key} names column {column!r}, which is not in the table; columns: {columns}")
        for i, cond in enumerate(self.conditions):
            for column, value in cond.values.items():
                seen = table[column].dropna().unique()
                if value not in set(seen) and str(value) not in {str(v) for v in seen}:
                    examples = sorted(map(str, seen))[:10]
                    raise SpecError(f"{origin}: conditions[{i}].values.{column}: {value!r} never occurs in column {column!r}; "
                                    f"values include {examples}")
        if self.privacy is not None:  # declared bounds and lists name real columns of the right kind
            from synth.errors import GeneratorInputError
            from synth.privacy.transformer import DPDataTransformer

            try:
                DPDataTransformer(bounds=self.privacy.bounds, categories=self.privacy.categories).plan(table)
            except GeneratorInputError as err:
                raise SpecError(f"{origin}: {err}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (["a", "b"], parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {text!r}: expected KEY=VALUE, e.g. --set generator.epochs=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise SpecError(f"--set {text!r}: the value is not valid YAML ({err.problem})") from None
    return key.strip().split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each dotted key in a nested dict, creating intermediate mappings."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise SpecError(f"--set {text!r}: {where} is {child!r}, not a mapping, so it has no keys")
            node = child
        node[path[-1]] = value
    return raw


def _describe(errors: list[dict[str, Any]], origin: str) -> str:
    lines = []
    for err in errors:
        # pydantic puts the union's tag in the path (generator.ctgan.epochs); users wrote generator.epochs
        loc = [p for i, p in enumerate(err["loc"]) if not (i and err["loc"][i - 1] == "generator" and p in GENERATOR_KINDS)]
        where = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see README 'Pipeline spec')"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        lines.append(f"{origin}: {where}: {msg}")
    return "\n".join(lines)


def spec_from_dict(raw: dict[str, Any], origin: str = "spec") -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_describe(err.errors(), origin)) from None


def load_spec(path: str | Path, overrides: list[str] | None = None) -> PipelineSpec:
    """Read a YAML spec, apply `--set` overrides, validate; every problem in one error."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found (run from the project root, e.g. synth run pipelines/adult_tvae.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name, source, generator, ...), got {type(raw).__name__}")
    return spec_from_dict(apply_overrides(raw, overrides or []), origin=str(path))
