"""When training stops: a wall-clock budget and early stopping on held-out training data, shared by every
neural generator (`TimeBudget` / `TrainingBudget` in `synth.models.configs`).

A model's loop does not change: `Generator._epochs` (synth.models.base)
hands it a progress bar that ends early when this module says so, and a
checkpoint whose `end_of_epoch` asks first. After every epoch:

1. `max_minutes`: once that much training time has passed (the epochs loop,
   counted across a resume), this epoch is the last.
2. `early_stopping`: every `eval_every` epochs (and at the last one) the model
   is scored on a slice of the *training* data held out before training
   (`held_out_split`: 10%, at most 5,000 rows or 1,000 images; the gate's
   holdout is a different split the model never sees at all). Networks are
   put in eval mode and scored under `no_grad` and a forked, separately
   seeded RNG, so scoring draws none of the training's random numbers: a run
   that scores every epoch trains exactly like one that scores rarely. After
   `patience` scores in a row without an improvement of more than 0.1%
   (`MIN_IMPROVEMENT`), training stops; whenever it stops, the best-scoring
   weights are put back.

What the score is depends on the family: the table models sample rows and
compare them with the held-out rows (`FidelityProxy`, in the table the model
learns, before the column rules are undone); ConvVAE and DDPM compute their
own loss on held-out images (each model's `_validation`).

The model records why it stopped as `stopped_` (saved in config.json, shown
on the dataset card): `{"reason": "epochs" | "max_minutes" |
"early_stopping", "epoch": epochs trained, "epochs": epochs planned}`, plus
`best_epoch`, `metric` and `score` (the kept weights' score) with early
stopping.

Checkpoints (synth.models.checkpoint) carry all of it: the best weights as
extra parts (`best_<part>`), the counters and the time used as the
checkpoint's `carried` state, so a resumed run stops where the uninterrupted
one would have (with `max_minutes`, where its clock says).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from synth.errors import GeneratorInputError
from synth.models.training import seeded

#: Share of the training data held out for early stopping, and its caps (rows of a table, images).
HELD_OUT_SHARE = 0.1
HELD_OUT_MAX_ROWS = 5_000
HELD_OUT_MAX_IMAGES = 1_000
#: Fewer held-out rows or images than this make a score too noisy to stop on.
HELD_OUT_MIN = 20
#: With `eval_every: null`, the model is scored this many times over the planned epochs.
EVALUATIONS = 50
#: A score counts as an improvement when it beats the best by more than this share of it (0.1%).
MIN_IMPROVEMENT = 1e-3
#: Rows a table model generates for each score (one sampling block; a few thousand keep the proxy's noise low).
VALIDATION_ROWS = 2_000
#: Column pairs the fidelity proxy compares at most (a seeded choice when a table has more), and bins per column.
MAX_PAIRS = 100
PAIR_BINS = 10
#: Reasons `stopped_` records.
REASONS = ("epochs", "max_minutes", "early_stopping")


def validation_seed(seed: int) -> int:
    """The seed every score of a run draws from: derived from the model's seed, never equal to it."""
    return int(np.random.SeedSequence([int(seed) % 2**63, 0x5709]).generate_state(1, np.uint64)[0] >> 1)


def held_out_split(n: int, seed: int, cap: int, what: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """(training positions, held-out positions), both sorted: `HELD_OUT_SHARE` of `n`, at most `cap`, drawn from
    the model's seed (so a resumed run holds out the same ones)."""
    held = min(int(round(n * HELD_OUT_SHARE)), cap)
    if held < HELD_OUT_MIN:
        raise GeneratorInputError(
            f"early_stopping holds out {HELD_OUT_SHARE:.0%} of the training {what} to score the model on, and "
            f"{n} {what} give {held}, fewer than {HELD_OUT_MIN}; train on at least "
            f"{math.ceil(HELD_OUT_MIN / HELD_OUT_SHARE)} {what}, or set early_stopping: false")
    order = np.random.default_rng(validation_seed(seed)).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


@dataclass(frozen=True)
class Validation:
    """How a model is scored during training: `measure()` (networks already in eval mode, no gradients, its own
    seeded RNG) returns one number, better when higher if `higher_is_better`; `metric` names it for the card."""

    metric: str
    measure: Callable[[], float]
    higher_is_better: bool = True


# -- the tabular score --------------------------------------------------------------------------------------------


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing values (dates and durations as nanoseconds)."""
    values = np.full(len(column), np.nan)
    present = column.notna().to_numpy()
    kept = column[present]
    if pd.api.types.is_datetime64_any_dtype(kept) or pd.api.types.is_timedelta64_dtype(kept):
        values[present] = kept.astype("int64").to_numpy(dtype=np.float64)
    else:
        values[present] = pd.to_numeric(kept, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _labels(column: pd.Series) -> np.ndarray:
    """A column's values as text, missing ones as one marker (categories compare by what they print as)."""
    return column.astype(object).where(column.notna(), "\x00missing").astype(str).to_numpy()


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic of two sorted arrays (0 when either is empty)."""
    if not len(a) or not len(b):
        return 0.0
    points = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, points, side="right") / len(a)
                        - np.searchsorted(b, points, side="right") / len(b)).max())


class FidelityProxy:
    """A cheap fidelity score in [0, 1] of generated rows against held-out real rows (1: indistinguishable here).

    The mean of two parts, as sdmetrics' quality score is:
    - column shapes: 1 - KS for numeric (and date) columns (1 - the larger of
      KS and the gap in missing share), 1 - total variation for the others;
    - column pairs: 1 - total variation between the joint histograms of each
      pair, every column cut into at most `PAIR_BINS` bins (numbers at the
      held-out deciles, categories as their 9 most frequent values and the
      rest), for up to `MAX_PAIRS` pairs. Joint histograms see the
      dependence between any two columns, numeric or not, which correlations
      alone would miss on a mostly categorical table.
    Everything real is computed once here; a score costs a few sorts and
    bincounts over a few thousand rows.
    """

    def __init__(self, real: pd.DataFrame, seed: int = 0):
        if not len(real.columns):
            raise ValueError("the held-out table has no columns")
        self.numeric = {name: not pd.api.types.is_bool_dtype(real[name]) and (
            pd.api.types.is_numeric_dtype(real[name]) or pd.api.types.is_datetime64_any_dtype(real[name])
            or pd.api.types.is_timedelta64_dtype(real[name])) for name in real.columns}
        self.columns = list(real.columns)
        self._real_shape: dict[Any, Any] = {}
        self._edges: dict[Any, np.ndarray] = {}
        self._top: dict[Any, np.ndarray] = {}
        codes = {}
        for name in self.columns:
            if self.numeric[name]:
                values = _numbers(real[name])
                kept = np.sort(values[~np.isnan(values)])
                self._real_shape[name] = (kept, float(np.isnan(values).mean()))
                self._edges[name] = (np.unique(np.quantile(kept, np.arange(1, PAIR_BINS - 1) / (PAIR_BINS - 1)))
                                     if len(kept) else np.zeros(0))
            else:
                labels = _labels(real[name])
                found, counts = np.unique(labels, return_counts=True)
                self._real_shape[name] = dict(zip(found, counts / len(labels), strict=True))
                self._top[name] = found[np.argsort(-counts, kind="stable")[: PAIR_BINS - 1]]
            codes[name] = self._codes(name, real[name])
        pairs = [(a, b) for i, a in enumerate(self.columns) for b in self.columns[i + 1:]]
        if len(pairs) > MAX_PAIRS:
            chosen = np.random.default_rng(seed).choice(len(pairs), MAX_PAIRS, replace=False)
            pairs = [pairs[i] for i in sorted(chosen)]
        self.pairs = pairs
        self._real_joint = [self._joint(codes[a], codes[b], a, b) for a, b in pairs]

    def _width(self, name: Any) -> int:
        """Bins of a column: numbers between edges, plus one for missing; categories: the top ones plus the rest."""
        return len(self._edges[name]) + 2 if self.numeric[name] else len(self._top[name]) + 1

    def _codes(self, name: Any, column: pd.Series) -> np.ndarray:
        if self.numeric[name]:
            values = _numbers(column)
            codes = np.searchsorted(self._edges[name], values, side="right")
            return np.where(np.isnan(values), len(self._edges[name]) + 1, codes)
        top = self._top[name]
        labels = _labels(column)
        order = np.argsort(top)
        at = np.searchsorted(top[order], labels).clip(max=len(top) - 1)
        return np.where(top[order][at] == labels, order[at], len(top))

    def _joint(self, a: np.ndarray, b: np.ndarray, name_a: Any, name_b: Any) -> np.ndarray:
        width = self._width(name_b)
        return np.bincount(a * width + b, minlength=self._width(name_a) * width) / len(a)

    def __call__(self, synthetic: pd.DataFrame) -> float:
        shapes = []
        for name in self.columns:
            if self.numeric[name]:
                kept, missing = self._real_shape[name]
                values = _numbers(synthetic[name])
                made = np.sort(values[~np.isnan(values)])
                shapes.append(1 - max(_ks(kept, made), abs(missing - float(np.isnan(values).mean()))))
            else:
                real = self._real_shape[name]
                found, counts = np.unique(_labels(synthetic[name]), return_counts=True)
                made = dict(zip(found, counts / len(synthetic), strict=True))
                shapes.append(1 - 0.5 * sum(abs(real.get(k, 0.0) - made.get(k, 0.0)) for k in real.keys() | made))
        score = float(np.mean(shapes))
        if not self.pairs:
            return score
        codes = {name: self._codes(name, synthetic[name]) for name in {c for pair in self.pairs for c in pair}}
        pairs = [1 - 0.5 * np.abs(real - self._joint(codes[a], codes[b], a, b)).sum()
                 for (a, b), real in zip(self.pairs, self._real_joint, strict=True)]
        return (score + float(np.mean(pairs))) / 2


# -- the stop -----------------------------------------------------------------------------------------------------


class TrainingStop:
    """Decides after each epoch whether training goes on (see the module docstring); keeps the best weights."""

    def __init__(self, *, epochs: int, max_minutes: float | None, validation: Validation | None, patience: int,
                 eval_every: int | None, modules: dict[str, nn.Module], device: torch.device, seed: int):
        self.epochs = epochs
        self.max_minutes = max_minutes
        self.validation = validation
        self.patience = patience
        self.every = eval_every or max(1, round(epochs / EVALUATIONS))
        self.modules = modules
        self.device = device
        self.seed = validation_seed(seed)
        #: A frozen copy of each network holding the best-scoring weights (checkpointed as `best_<name>`).
        self.best_parts = ({f"best_{name}": copy.deepcopy(module).requires_grad_(False)
                            for name, module in modules.items()} if validation is not None else {})
        self.epoch = 0
        self.reason: str | None = None
        self.best_epoch: int | None = None
        self.best: float | None = None
        self.since_best = 0
        self._used = 0.0  # seconds of training before this process's part (a resumed run)
        self._started = monotonic()

    # -- checkpoints ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What a checkpoint carries (plain JSON) besides the best weights."""
        return {"epoch": self.epoch, "reason": self.reason, "best_epoch": self.best_epoch, "best": self.best,
                "since_best": self.since_best, "seconds": round(self.seconds(), 3)}

    def resume(self, carried: dict[str, Any], epoch: int) -> None:
        """Continue after `epoch` from a checkpoint's carried state (absent: a checkpoint of a run without it)."""
        self.epoch = epoch
        state = carried.get("stop") or {}
        self.reason, self.best_epoch, self.best = state.get("reason"), state.get("best_epoch"), state.get("best")
        self.since_best = int(state.get("since_best", 0))
        self._used = float(state.get("seconds", 0.0))
        self._started = monotonic()

    # -- after each epoch --------------------------------------------------------------------------------------
    def seconds(self) -> float:
        """Training time so far, across a resume."""
        return self._used + monotonic() - self._started

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def end_of_epoch(self, epoch: int) -> None:
        """`epoch` epochs are done: score the model if due, and decide whether this was the last one."""
        self.epoch = epoch
        last = epoch >= self.epochs
        out_of_time = self.max_minutes is not None and self.seconds() >= self.max_minutes * 60
        if self.validation is not None and (epoch % self.every == 0 or last or out_of_time):
            self._score(epoch)
            if not last and self.since_best >= self.patience:
                self.reason = "early_stopping"
        if not last and not self.stopped and out_of_time:
            self.reason = "max_minutes"

    def _score(self, epoch: int) -> None:
        modes = [(m, m.training) for module in self.modules.values() for m in module.modules()]
        for module in self.modules.values():
            module.eval()
        try:
            with torch.no_grad(), seeded(self.device, self.seed):
                value = float(self.validation.measure())
        finally:
            for m, training in modes:
                m.training = training
        sign = 1.0 if self.validation.higher_is_better else -1.0
        if not math.isfinite(value):
            improved = False
        elif self.best is None:
            improved = True
        else:
            improved = sign * (value - self.best) > MIN_IMPROVEMENT * abs(self.best)
        if improved:
            self.best, self.best_epoch, self.since_best = value, epoch, 0
            for name, module in self.modules.items():
                self.best_parts[f"best_{name}"].load_state_dict(module.state_dict())
        else:
            self.since_best += 1

    def finish(self) -> dict[str, Any]:
        """Training is over: the best weights back in the networks; what `stopped_` records."""
        if self.best_epoch is not None and self.best_epoch != self.epoch:
            for name, module in self.modules.items():
                module.load_state_dict(self.best_parts[f"best_{name}"].state_dict())
        record: dict[str, Any] = {"reason": self.reason or "epochs", "epoch": self.epoch, "epochs": self.epochs}
        if self.validation is not None:
            record.update(best_epoch=self.best_epoch, metric=self.validation.metric,
                          score=None if self.best is None else round(self.best, 6))
        return record


class StoppingCheckpoint:
    """The checkpoint `fit` sees: asks the `TrainingStop` first, then lets the real checkpoint save (with the
    best weights and the stop's state; at once when this epoch is the last)."""

    def __init__(self, checkpoint: Any, stop: TrainingStop):
        self.checkpoint = checkpoint
        self.stop = stop

    def end_of_epoch(self, epoch: int, total: int, parts: dict[str, Any], history: list) -> None:
        self.stop.end_of_epoch(epoch)
        self.checkpoint.carry({"stop": self.stop.state()})
        # a stopped run's checkpoint is its last: saved now, with the epochs it ended at
        self.checkpoint.end_of_epoch(epoch, epoch if self.stop.stopped else total, {**parts, **self.stop.best_parts},
                                     history)


class EpochBar:
    """The epochs left, as a tqdm progress bar that ends when the `TrainingStop` says so; at the end the best
    weights are restored and `on_finish` gets what `stopped_` records."""

    def __init__(self, bar: Any, stop: TrainingStop, on_finish: Callable[[dict[str, Any]], None]):
        self.bar = bar
        self.stop = stop
        self.on_finish = on_finish

    def __iter__(self) -> Iterator[int]:
        if not self.stop.stopped:  # a resumed run that had already stopped trains no further
            for epoch in self.bar:
                yield epoch
                if self.stop.stopped:
                    break
        self.bar.close()
        self.on_finish(self.stop.finish())

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        self.bar.set_postfix(*args, **kwargs)


__all__ = ["FidelityProxy", "TrainingStop", "Validation", "held_out_split"]
