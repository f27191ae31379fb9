"""The generator contract, as code: what every generator does the same way lives here, once.

- `Generator`: the root. A model is built from its config
  (`synth.models.configs`; hyperparameters read as attributes,
  `hyperparameters()` is the config's dump), plus `device`, `seed` and
  `verbose`. It saves as `config.json` + safetensors (`synth.models.io`)
  and is rebuilt by `load` from that config and the weights alone. The
  learned state every caller may read (`loss_history_`,
  `transform_seconds_`, `train_seconds_`, `privacy_`, `private_row_count_`,
  `stopped_`) is declared here with the value a loaded model has, so `load`
  never has to fake a training run.
- `Generator._epochs`: the epochs loop every neural `fit` runs: resuming from
  a checkpoint, and stopping on `max_minutes` or early stopping
  (`synth.models.stopping`), each family scoring on data `fit` held out
  (`_validation`).
- `TabularGenerator`: seeded block sampling of tables. `sample(n,
  conditions, seed, start)` draws fixed blocks of `SAMPLE_BLOCK_ROWS` rows,
  block j from its own RNG seeded by (seed, j), so row i never depends on
  how the output is chunked; a model implements `_conditions` (check the
  conditions once) and `_sample_block` (one block of rows).
- `ImageGenerator`: the image models' fit preamble (shape and batch checks,
  the classes), label planning for `sample` / `sample_counts`, the seeded
  batch loop of `sample_labels`, and their save/load; a model implements
  `_draw_images` (one batch of images for given labels) and
  `_restore_networks`.

A model file keeps its networks, its training loop (`fit`) and one block of
sampling; adding a generator is one file, one config in
`synth.models.configs` and one registry entry in `synth.models`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from synth.column_plan import ColumnPlan
from synth.constraints import MAX_REJECTION_ROUNDS, ConstraintSet
from synth.errors import GeneratorInputError
from synth.images import ImageSet, label_index, plan_labels, to_uint8
from synth.models.checkpoint import NO_CHECKPOINT, TrainingCheckpoint
from synth.models.configs import GeneratorConfig
from synth.models.io import read_config, save_tensors, write_config
from synth.models.stopping import (
    HELD_OUT_MAX_IMAGES,
    HELD_OUT_MAX_ROWS,
    VALIDATION_ROWS,
    EpochBar,
    FidelityProxy,
    StoppingCheckpoint,
    TrainingStop,
    Validation,
    held_out_split,
    validation_seed,
)
from synth.models.training import seeded
from synth.sampling import fresh_seed

#: Rows drawn per seeded block when sampling a table (row i belongs to block i // SAMPLE_BLOCK_ROWS).
SAMPLE_BLOCK_ROWS = 4096


class Generator(ABC):
    """A generator: `fit(data) -> self`, `sample(n, conditions=None, seed=None)`, `save(folder)`, `load(folder)`.

    Subclasses set `kind` and `config_class`, and implement `fit`, `sample`,
    `_weights` (what safetensors files `save` writes), `_restore` (learned
    state back from config.json and those files) and, if config.json holds
    more than the hyperparameters, `_learned_config`.
    """

    kind: ClassVar[str]
    config_class: ClassVar[type[GeneratorConfig]]
    #: The learned attribute that exists once the model is fitted or loaded.
    fitted_attribute: ClassVar[str]
    #: What `fit` takes, for the not-fitted message: "table" or "images".
    data_name: ClassVar[str] = "table"

    # -- learned state every caller may read; the class values are what a loaded model reports --------------
    #: Per-epoch training losses (empty for a loaded model, or one not trained by gradient descent).
    loss_history_: Sequence[dict[str, float]] = ()
    #: Seconds spent encoding the training data (0 for a loaded model).
    transform_seconds_: float = 0.0
    #: Seconds of the training loop alone, where a model measures it (the private ones), else None.
    train_seconds_: float | None = None
    #: The privacy ledger of a private generator (saved and loaded with it); None for the others.
    privacy_: dict[str, Any] | None = None
    #: A private generator's noisy count of training rows (the default output size), else None.
    private_row_count_: int | None = None
    #: Why training stopped (synth.models.stopping: reason, epochs trained and planned, and with early stopping the
    #: epoch whose weights were kept and their score); None for a model not trained in epochs by `_epochs`, or one
    #: saved before it was recorded.
    stopped_: dict[str, Any] | None = None

    def __init__(self, config: GeneratorConfig | None = None, *, device: str = "cpu", seed: int = 0,
                 verbose: bool = True, **hyperparameters: Any):
        """`Model(config)` or `Model(epochs=10, ...)`; the keyword arguments are checked by the model's config."""
        if config is None:
            config = self.config_class.parse(hyperparameters)
        elif hyperparameters or not isinstance(config, self.config_class):
            raise GeneratorInputError(f"{type(self).__name__} takes a {self.config_class.__name__} or keyword "
                                      f"hyperparameters, not {type(config).__name__}"
                                      + (f" and {sorted(hyperparameters)}" if hyperparameters else ""))
        self.config = config
        self.device = device
        self.seed = seed
        self.verbose = verbose

    def __getattr__(self, name: str) -> Any:
        """Hyperparameters read as attributes: `model.epochs` is `model.config.epochs` (read-only)."""
        config = self.__dict__.get("config")
        if config is not None and name in type(config).model_fields:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        config = self.__dict__.get("config")
        if config is not None and name in type(config).model_fields:
            raise AttributeError(f"{name} is a hyperparameter, fixed by the model's config; build a new model "
                                 f"with it, e.g. build_generator({self.kind!r}, {{{name!r}: ...}})")
        super().__setattr__(name, value)

    @property
    def title(self) -> str:
        """The model's name in messages and progress bars ("DP-CTGAN")."""
        return self.config_class.title

    def hyperparameters(self) -> dict[str, Any]:
        """The config as plain JSON values: what `config.json` stores and the card shows."""
        return self.config.hyperparameters()

    def _check_fitted(self) -> None:
        if not hasattr(self, self.fitted_attribute):
            raise GeneratorInputError(f"this {self.title} is not fitted yet; call fit({self.data_name}) or "
                                      f"{type(self).__name__}.load(folder) first")

    @abstractmethod
    def fit(self, data: Any, checkpoint: Any = None) -> Generator:
        """Train on `data` (a DataFrame or an `ImageSet`); returns self."""

    @abstractmethod
    def sample(self, n: int, conditions: dict[str, Any] | None = None, seed: int | None = None) -> Any:
        """`n` rows (a DataFrame) or images (an `ImageSet`); the same seed gives the same output."""

    def _epochs(self, checkpoint: TrainingCheckpoint | None, parts: dict[str, Any],
                device: torch.device, total: int | None = None) -> tuple[StoppingCheckpoint, EpochBar]:
        """For `fit`: (the checkpoint, or one that never saves; the epochs left of `total` (default: the
        `epochs` hyperparameter) to train, as a progress bar).

        Resuming restores `parts` (networks, optimisers), the RNG state and
        `loss_history_` from the checkpoint's last save and skips the epochs
        it covers; a fresh start begins at epoch 0 with no losses. `fit`
        calls `checkpoint.end_of_epoch` after each epoch.

        The bar ends early when `max_minutes` run out or early stopping
        stops (synth.models.stopping); once it ends, the networks in `parts`
        hold the best-scoring weights (with early stopping) and `stopped_`
        says why training stopped. Call it once everything the score reads
        exists (a table model samples through `_sample_block`).
        """
        from tqdm.auto import tqdm

        self.loss_history_: list[dict[str, float]] = []
        total = self.epochs if total is None else total
        held_out = self.__dict__.pop("_held_out", None)  # what `fit` held out of training for early stopping
        validation = None
        if getattr(self.config, "early_stopping", False):
            if held_out is None:
                raise GeneratorInputError(f"{self.title}: early_stopping found no held-out data to score on")
            validation = self._validation(parts, device, held_out)
        modules = {name: part for name, part in parts.items() if isinstance(part, torch.nn.Module)}
        config = self.config  # a private or copula config has no budget keys: no limit, no early stopping
        stop = TrainingStop(epochs=total, max_minutes=getattr(config, "max_minutes", None), validation=validation,
                            patience=getattr(config, "patience", 1), eval_every=getattr(config, "eval_every", None),
                            modules=modules, device=device, seed=self.seed)
        checkpoint = checkpoint or NO_CHECKPOINT
        # the best weights first: a checkpoint saved without early stopping is refused for lacking them
        first = checkpoint.start({**stop.best_parts, **parts}, self.loss_history_, device)
        stop.resume(checkpoint.carried, first)
        bar = tqdm(range(first, total), initial=first, total=total, desc=self.title, unit="epoch",
                   disable=not self.verbose)

        def finished(record: dict[str, Any]) -> None:
            self.stopped_ = record

        return StoppingCheckpoint(checkpoint, stop), EpochBar(bar, stop, finished)

    def _validation(self, parts: dict[str, Any], device: torch.device, held_out: Any) -> Validation:
        """How early stopping scores this model on `held_out` (what `fit` held out of training), given the
        training loop's `parts`; a family that offers early stopping implements it."""
        raise GeneratorInputError(f"{self.title} cannot score itself on held-out data; set early_stopping: false")

    # -- persistence -----------------------------------------------------------
    def _learned_config(self) -> dict[str, Any]:
        """What config.json holds besides kind, hyperparameters and seed (plain JSON, never training rows)."""
        return {}

    @abstractmethod
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """safetensors file name → the tensors `save` writes there (fixed names, chosen by the class)."""

    @abstractmethod
    def _restore(self, folder: Path, config: dict[str, Any]) -> None:
        """Rebuild the learned state from a checked config.json and the folder's weights, on `self.device`."""

    def save(self, folder: str | Path) -> Path:
        """Write `config.json` (hyperparameters, seed, learned statistics) and the weights as safetensors."""
        self._check_fitted()
        folder = Path(folder)
        stopped = {"stopped": self.stopped_} if self.stopped_ is not None else {}
        write_config(folder, self.kind, hyperparameters=self.hyperparameters(), seed=self.seed, **stopped,
                     **self._learned_config(), **self._table_config())
        for name, tensors in self._weights().items():
            save_tensors(folder, name, tensors)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> Generator:
        """The saved model, rebuilt from its config (checked as untrusted input first) and its weights."""
        folder = Path(folder)
        config = read_config(folder, cls.kind)
        model = cls(cls.config_class.parse(config["hyperparameters"]), device=device, seed=config.get("seed", 0),
                    verbose=False)
        model._restore(folder, config)
        model._restore_table(folder, config)
        model.stopped_ = config.get("stopped")
        return model

    def _table_config(self) -> dict[str, Any]:
        """What a table generator adds to config.json around its model (column rules, constraints); none here."""
        return {}

    def _restore_table(self, folder: Path, config: dict[str, Any]) -> None:  # noqa: B027 (optional hook, no-op here)
        """Read back what `_table_config` wrote."""


class TabularGenerator(Generator):
    """A table generator: column rules and constraints around the model, seeded block sampling, conditions checked
    once (see the module docstring).

    `fit(table, constraints=...)` checks the constraints against the table (`synth.constraints`), learns the
    column rules (`synth.column_plan`: identifiers, integer codes, heavy tails, grids) and hands the model the
    table as those make it (`_fit`). Sampling undoes both per block and keeps the rules enforced by rejection
    within the block (`_finished_block`), so the output is exactly `n` rows and row i still depends only on
    (seed, i).
    """

    #: Which column rules this kind takes (`ColumnPlan.fit` options); None: none at all (the private kinds,
    #: whose every look at the rows must be paid for from the privacy budget).
    column_rules: ClassVar[dict[str, Any] | None] = {"discrete": "category", "transforms": True, "identifiers": True}

    #: The column rules learned by `fit` (None: none; a model saved before they existed).
    plan_: ColumnPlan | None = None
    #: The constraints kept while sampling (empty: none), with their rejection counts.
    constraints_: ConstraintSet = ConstraintSet([])
    #: The real table's columns and dtypes, in order (empty for a model saved before they were recorded).
    columns_: dict[str, str] = {}

    def fit(self, table: pd.DataFrame, checkpoint: Any = None, *, constraints: Sequence[Any] = ()) -> TabularGenerator:
        """Train on `table`; `constraints` (strings as in a spec, see synth.constraints) hold in every sampled row.

        With `checkpoint` (synth.models.checkpoint), the kinds that can save their training state as they go
        do, or continue from its last save.
        """
        if not isinstance(table, pd.DataFrame):
            raise GeneratorInputError(f"{self.title} trains on a pandas DataFrame, not {type(table).__name__}")
        try:
            rules = ConstraintSet.from_spec(constraints)
        except ValueError as err:
            raise GeneratorInputError(str(err)) from None
        rules.check(table)
        if self.column_rules is None and any(c.kind == "fixed" for c in rules.constraints):
            raise GeneratorInputError(f"{self.title}: fixed combinations are learned from the training rows "
                                      "outside the privacy budget; remove them or train a non-private generator")
        self.constraints_ = rules.fit(table)
        self.columns_ = {str(name): str(dtype) for name, dtype in table.dtypes.items()}
        learned = rules.transform(table)
        self.plan_ = ColumnPlan.fit(learned, **self.column_rules) if self.column_rules is not None else None
        if self.plan_ is not None:
            if not self.plan_.learned_columns:
                raise GeneratorInputError(f"every column is an identifier ({', '.join(self.plan_.identifiers)}); "
                                          "nothing is left to learn")
            learned = self.plan_.transform(learned)
        if getattr(self.config, "early_stopping", False):
            # a slice of the training rows the model never trains on, to score it on (`_validation`)
            train, held = held_out_split(len(learned), self.seed, HELD_OUT_MAX_ROWS, "rows")
            self._held_out = learned.iloc[held].reset_index(drop=True)
            learned = learned.iloc[train].reset_index(drop=True)
        try:
            self._fit(learned, checkpoint)
        finally:
            self.__dict__.pop("_held_out", None)  # `_epochs` takes it; never kept past fit
        return self

    def _validation(self, parts: dict[str, Any], device: torch.device, held_out: pd.DataFrame) -> Validation:
        """Early stopping's score: `VALIDATION_ROWS` rows sampled unconditionally through `_sample_block` (from the
        same seed each time) against the held-out rows, by `FidelityProxy`, in the table the model learns."""
        if not hasattr(self, self.fitted_attribute):
            raise GeneratorInputError(f"{self.title}: early stopping samples through {self.fitted_attribute}, which "
                                      "training has not set yet; set it before calling _epochs")
        proxy = FidelityProxy(held_out, seed=self.seed)
        seed = validation_seed(self.seed)
        return Validation("fidelity proxy", lambda: proxy(self._sample_block(seed, 0, None, VALIDATION_ROWS)))

    @abstractmethod
    def _fit(self, table: pd.DataFrame, checkpoint: Any = None) -> None:
        """Train on the table as the column rules and constraints made it (see `fit`)."""

    def sample(self, n: int, conditions: dict[str, Any] | None = None, seed: int | None = None,
               start: int = 0) -> pd.DataFrame:
        """Generate `n` rows; `conditions={"income": ">50K", "sex": "Female"}` fixes categorical columns exactly.

        Rows `start .. start + n` of the seed's stream: `sample(10, seed=s,
        start=5)` is rows 5..14 of `sample(15, seed=s)`. The global RNGs are
        never touched.
        """
        self._check_fitted()
        check_rows(n, start)
        fixed = self._conditions(self._learned_conditions(conditions)) if conditions else None
        seed = fresh_seed() if seed is None else seed
        frames = []
        for block in range(start // SAMPLE_BLOCK_ROWS, (start + n - 1) // SAMPLE_BLOCK_ROWS + 1):
            lo = max(start - block * SAMPLE_BLOCK_ROWS, 0)
            hi = min(start + n - block * SAMPLE_BLOCK_ROWS, SAMPLE_BLOCK_ROWS)
            # the whole block is drawn and decoded before slicing, so its rows do not depend on where a chunk starts
            frames.append(self._finished_block(seed, block, fixed).iloc[lo:hi])
        return frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def _learned_conditions(self, conditions: dict[str, Any]) -> dict[str, Any]:
        """Conditions on the real columns → conditions on the table the model learned."""
        learned = self.constraints_.conditions(conditions)
        return self.plan_.conditions(learned) if self.plan_ is not None else learned

    def _real_rows(self, frame: pd.DataFrame, seed: int, start: int) -> pd.DataFrame:
        """Rows as the model made them → rows of the real table (column rules undone, constraints' columns made)."""
        if self.plan_ is not None:
            frame = self.plan_.inverse(frame, seed=seed, start=start)
        return self.constraints_.inverse(frame, self.columns_) if self.constraints_ else frame

    def _finished_block(self, seed: int, block: int, fixed: Any) -> pd.DataFrame:
        """Block `block` of `seed`'s stream as real rows; rows that break a constraint enforced by rejection are
        replaced by candidates of further rounds, each drawn from (a seed derived from `seed` and the round, the
        same block), so the block depends on nothing but (seed, block)."""
        first = block * SAMPLE_BLOCK_ROWS
        rows = self._real_rows(self._sample_block(seed, block, fixed), seed, first)
        if not self.constraints_.rejecting:
            return rows
        ok = self.constraints_.valid(rows, tally=True)
        kept, have, drawn = [rows[ok]], int(ok.sum()), len(rows)
        for attempt in range(1, MAX_REJECTION_ROUNDS + 1):
            if have >= SAMPLE_BLOCK_ROWS:
                break
            # enough candidates for the rows still missing at the acceptance seen so far, with a margin (a
            # function of this block's own draws only, so the block still depends on nothing but (seed, block))
            acceptance = max(have / drawn, 0.01)
            wanted = min(SAMPLE_BLOCK_ROWS, int((SAMPLE_BLOCK_ROWS - have) / acceptance * 1.25) + 64)
            more = self._real_rows(self._sample_block(_round_seed(seed, attempt), block, fixed, wanted), seed, first)
            ok = self.constraints_.valid(more, tally=True)
            kept.append(more[ok])
            have, drawn = have + int(ok.sum()), drawn + len(more)
        if have < SAMPLE_BLOCK_ROWS:
            worst = max(self.constraints_.rejecting, key=lambda c: int((~self.constraints_.valid_one(c, rows)).sum()))
            raise GeneratorInputError(
                f"{self.title}: the constraints reject {1 - have / drawn:.1%} of generated rows (most often "
                f"{worst.text!r}): {MAX_REJECTION_ROUNDS} rounds of candidates left a block "
                f"{SAMPLE_BLOCK_ROWS - have:,} rows short; the model rarely makes rows that keep it: train longer, "
                "or check the rule")
        out = pd.concat(kept, ignore_index=True).iloc[:SAMPLE_BLOCK_ROWS]
        if self.plan_ is not None:
            for name in self.plan_.identifiers:  # fresh keys by final row position, not candidate position
                out[name] = self.plan_.fresh_keys(name, len(out), seed, first).to_numpy()
        return out

    @abstractmethod
    def _conditions(self, conditions: dict[str, Any]) -> Any:
        """Check `{column: value}` against what the model learned (every problem at once); what `_sample_block`
        takes."""

    @abstractmethod
    def _sample_block(self, seed: int, block: int, fixed: Any, rows: int = SAMPLE_BLOCK_ROWS) -> pd.DataFrame:
        """The `rows` (normally `SAMPLE_BLOCK_ROWS`; fewer for rejection rounds) decoded rows of block `block` of
        `seed`'s stream, from that block's own RNG."""

    def _table_config(self) -> dict[str, Any]:
        return {"columns": self.columns_, "column_plan": self.plan_.to_config() if self.plan_ is not None else None,
                "constraints": self.constraints_.to_config()}

    def _restore_table(self, folder: Path, config: dict[str, Any]) -> None:
        where = str(folder / "config.json")
        self.columns_ = dict(config.get("columns") or {})
        plan = config.get("column_plan")
        self.plan_ = ColumnPlan.from_config(plan, where) if plan is not None else None
        rules = config.get("constraints")
        self.constraints_ = ConstraintSet.from_config(rules, where) if rules else ConstraintSet([])


def _round_seed(seed: int, attempt: int) -> int:
    """The seed of rejection round `attempt` (≥ 1) of a block: derived from the sampling seed, never equal to it."""
    return int(np.random.SeedSequence([seed % 2**63, attempt, 0xC0]).generate_state(1, np.uint64)[0] >> 1)


def check_rows(n: int, start: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GeneratorInputError(f"n must be a positive number of rows, got {n!r}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise GeneratorInputError(f"start must be a row index of at least 0, got {start!r}")


class ImageGenerator(Generator):
    """A class-conditional image generator (see the module docstring)."""

    data_name: ClassVar[str] = "images"
    #: Images generated per forward pass when sampling (DDPM: its `sample_batch_size` hyperparameter).
    sample_batch: int = 1000

    class_names_: list[str]
    class_counts_: list[int]
    image_shape_: tuple[int, int, int]

    def _start_fit(self, images: ImageSet, divisor: int, needs: str | None = None, fix: str = "") -> ImageSet:
        """The fit preamble: square images whose size `divisor` divides, enough of them for a batch; the classes.
        Returns the images to train on: all of them, or with early stopping all but a held-out slice (which
        `_validation` scores the model on).

        `needs` says who needs the divisor (default: the kind), `fix` what
        else the user may change.
        """
        height, width, _ = images.shape
        if height != width or height % divisor:
            raise GeneratorInputError(f"{needs or self.kind} needs square images whose size is divisible by {divisor}; "
                                      f"got {height}×{width}. "
                                      f"Set source.image_size (e.g. {max(8, height // divisor * divisor)}){fix}")
        train = images
        if getattr(self.config, "early_stopping", False):
            kept, held = held_out_split(len(images), self.seed, HELD_OUT_MAX_IMAGES, "images")
            train, self._held_out = images.subset(kept), images.subset(held)
        if len(train) < self.batch_size:
            held_out = f" ({len(images) - len(train)} held out for early stopping)" if len(train) < len(images) else ""
            raise GeneratorInputError(f"{len(train)} training images{held_out}, fewer than batch_size="
                                      f"{self.batch_size}; lower generator.batch_size to at most {len(train)}")
        # the classes and their frequencies, which unconditional sampling follows, from every image given
        self.class_names_ = list(images.class_names)
        self.class_counts_ = images.class_counts().tolist()
        self.image_shape_ = images.shape
        return train

    # -- sampling --------------------------------------------------------------
    def sample(self, n: int, conditions: dict[str, Any] | None = None, seed: int | None = None) -> ImageSet:
        """`n` images; `conditions={"label": 3}` (an index or a class name) makes them all that class,
        otherwise the classes follow the training frequencies."""
        self._check_fitted()
        seed = fresh_seed() if seed is None else seed
        return self.sample_labels(plan_labels(n, conditions, self.class_names_, self.class_counts_, seed), seed=seed)

    def sample_counts(self, counts: dict[Any, int], seed: int | None = None) -> ImageSet:
        """Exactly `counts[c]` images of each class c (index or name), e.g. to rebalance: {"3": 500, "8": 500}."""
        self._check_fitted()
        labels = np.concatenate([np.full(k, label_index(c, self.class_names_)) for c, k in counts.items()])
        return self.sample_labels(labels, seed=seed)

    @torch.no_grad()
    def sample_labels(self, labels: np.ndarray, seed: int | None = None, **options: Any) -> ImageSet:
        """One image per entry of `labels` (class indexes), in batches of `sample_batch`, under `seed` (the global
        RNG state is restored afterwards); `options` are the model's sampling settings (DDPM: `steps`,
        `guidance_scale`)."""
        self._check_fitted()
        seed = fresh_seed() if seed is None else seed
        device = torch.device(self.device)
        out = []
        with seeded(device, seed):
            for y in torch.from_numpy(np.asarray(labels, dtype=np.int64)).split(self.sample_batch):
                out.append(to_uint8(self._draw_images(y.to(device), **options)))
        return ImageSet(np.concatenate(out), np.asarray(labels), list(self.class_names_))

    @abstractmethod
    def _draw_images(self, y: torch.Tensor) -> torch.Tensor:
        """One batch of sampling: class indexes (B,) on the device → images (B, C, H, W) in [-1, 1], drawn from
        the global RNG (seeded by `sample_labels`)."""

    # -- persistence -----------------------------------------------------------
    def _learned_config(self) -> dict[str, Any]:
        return {"image_shape": list(self.image_shape_), "class_names": self.class_names_,
                "class_counts": self.class_counts_}

    def _restore(self, folder: Path, config: dict[str, Any]) -> None:
        self.image_shape_ = tuple(config["image_shape"])
        self.class_names_, self.class_counts_ = config["class_names"], config["class_counts"]
        self._restore_networks(folder, config)

    @abstractmethod
    def _restore_networks(self, folder: Path, config: dict[str, Any]) -> None:
        """The sampling network(s) from the folder's weights (the classes and image shape are already set)."""


__all__ = ["SAMPLE_BLOCK_ROWS", "Generator", "ImageGenerator", "TabularGenerator", "check_rows"]
