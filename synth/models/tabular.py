"""What the neural tabular generators (CTGAN, TVAE) share about the encoded row.

- `BlockLayout`: every one-hot block of the encoded row at once. A row has
  tanh spans (one `alpha` per numeric column) and softmax spans (modes,
  categories, missing flags) of different widths. Looping over them in
  Python costs a handful of small ops per block per step, so instead all
  blocks are handled by a few whole-batch ops. The training paths (CTGAN's
  Gumbel-softmax, the cross-entropies of TVAE's loss and CTGAN's
  conditional loss) work on the softmax columns as *segments*: a per-block
  max (no gradient; softmax does not depend on it), one `exp`, and per-block
  sums as one small matmul with a 0/1 membership matrix. A padded
  (B, n_blocks, max_width) view with -inf padding is also available
  (`padded`, `log_probs`, used for sampling), but on Adult it is 4.4 times
  wider than the row (the 42-wide native-country block pads every block),
  and its gather and scatter cost more than the arithmetic.
- `Conditions`: checking `sample(..., conditions={...})` against the fitted
  transformer, the same way for every model, and the rejection step that
  makes several conditioned columns exact (see `Conditions.acceptance`).
- `block_generator`: sampling runs in fixed blocks of `SAMPLE_BLOCK_ROWS`
  rows (`synth.models.base.TabularGenerator`), block j drawn from its own
  `torch.Generator` seeded by (seed, j), so row i of `sample(n, seed=s)`
  does not depend on `n` and the same rows come out however a large output
  is chunked (see `sample(start=...)`).
- `EncodedTabularGenerator`: the base of CTGAN and TVAE (and so of their
  private versions): conditions, one seeded block from the model's
  `_proposer`, decoding, and saving the transformer with the weights.
  `PrivateTraining` adds what DP-CTGAN and DP-TVAE share: the budget, the
  private preprocessing, the ledger, and no checkpoints.
"""

from __future__ import annotations

import time
import warnings
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from synth.errors import GeneratorInputError
from synth.models.base import SAMPLE_BLOCK_ROWS, TabularGenerator
from synth.transformer import DataTransformer

#: Rounds of candidates tried per block before the rest of a multi-column condition is importance-resampled.
MAX_REJECTION_ROUNDS = 50


class BlockLayout:
    """Index tensors that map an encoded row (B, D) to its padded one-hot blocks (B, n_blocks, width) and back."""

    def __init__(self, transformer: DataTransformer, device: torch.device | str):
        tanh_cols, blocks, offset = [], [], 0
        for width, activation in transformer.spans:
            if activation == "tanh":
                tanh_cols.extend(range(offset, offset + width))
            else:
                blocks.append((offset, width))
            offset += width
        self.data_dim = offset
        self.n_blocks = len(blocks)
        self.width = max((w for _, w in blocks), default=1)
        pad = offset  # index of the -inf column appended to the row
        gather = np.full((self.n_blocks, self.width), pad, dtype=np.int64)
        for b, (o, w) in enumerate(blocks):
            gather[b, :w] = np.arange(o, o + w)
        valid = (gather != pad).reshape(-1)
        # Where each output column comes from in cat([tanh values, valid block entries]).
        source = np.concatenate([np.asarray(tanh_cols, dtype=np.int64), gather.reshape(-1)[valid]])
        perm = np.empty(offset, dtype=np.int64)
        perm[source] = np.arange(offset)
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
        self.tanh_cols = as_tensor(tanh_cols)
        self.gather_index = as_tensor(gather.reshape(-1))
        self.valid_positions = as_tensor(np.flatnonzero(valid))
        self.perm = as_tensor(perm)
        # Block number of each categorical column's one-hot block, in `categorical_blocks()` order.
        starts = {o: b for b, (o, _) in enumerate(blocks)}
        self.categorical_block = as_tensor([starts[o] for _, o, _ in transformer.categorical_blocks()])
        # Segments: the softmax columns in row order, the block of each, and a (n_soft, n_blocks) 0/1 membership
        # matrix, so that per-block sums are one matmul.
        self.soft_cols = as_tensor(gather.reshape(-1)[valid])
        self.block_of = as_tensor(np.repeat(np.arange(self.n_blocks), [w for _, w in blocks]))
        self.block_offset = as_tensor([o for o, _ in blocks])
        self.member = torch.zeros(len(self.soft_cols), self.n_blocks, device=device)
        self.member[torch.arange(len(self.soft_cols), device=device), self.block_of] = 1.0

    def padded(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, D) → (B, n_blocks, width) logits of every one-hot block, -inf where a block is narrower."""
        return (F.pad(raw, (0, 1), value=float("-inf")).index_select(1, self.gather_index)
                .view(len(raw), self.n_blocks, self.width))

    def assemble(self, tanh_values: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """Inverse of the split: tanh values (B, n_tanh) and padded blocks (B, n_blocks, width) → (B, D)."""
        flat = blocks.reshape(len(blocks), -1).index_select(1, self.valid_positions)
        return torch.cat([tanh_values, flat], dim=1).index_select(1, self.perm)

    def _block_max(self, soft: torch.Tensor) -> torch.Tensor:
        """(B, n_soft) → (B, n_blocks) max of each block; no gradient (softmax and log-sum-exp are shift-invariant)."""
        with torch.no_grad():
            out = torch.full((len(soft), self.n_blocks), float("-inf"), device=soft.device, dtype=soft.dtype)
            return out.scatter_reduce_(1, self.block_of.expand(len(soft), -1), soft, "amax")

    def _join(self, tanh_values: torch.Tensor, soft_values: torch.Tensor) -> torch.Tensor:
        """tanh values (B, n_tanh) and softmax columns (B, n_soft) → rows (B, D) in the transformer's layout."""
        return torch.cat([tanh_values, soft_values], dim=1).index_select(1, self.perm)

    def gumbel_softmax(self, raw: torch.Tensor, tau: float) -> torch.Tensor:
        """tanh on alpha spans; softmax((logits + Gumbel noise) / tau) on every block (CTGAN's training activation).

        The same values as `F.gumbel_softmax` applied block by block (with
        the same noise), computed on segments: exp(x - block max), divided
        by its block's sum.
        """
        logits = raw.index_select(1, self.soft_cols)
        x = (logits + gumbel_noise(logits)) / tau
        e = (x - self._block_max(x).index_select(1, self.block_of)).exp()  # each block's largest entry is exp(0) = 1
        soft = e / (e @ self.member).index_select(1, self.block_of)
        return self._join(torch.tanh(raw.index_select(1, self.tanh_cols)), soft)

    def block_softmax(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, n_soft) softmax of every block's logits, the softmax columns in row order (as `soft_cols`)."""
        logits = raw.index_select(1, self.soft_cols)
        e = (logits - self._block_max(logits).index_select(1, self.block_of)).exp()
        return e / (e @ self.member).index_select(1, self.block_of)

    def block_logsumexp(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, n_blocks) log-sum-exp of each block's logits: log p(class c of block b) = raw[offset_b + c] - this."""
        logits = raw.index_select(1, self.soft_cols)
        shift = self._block_max(logits)
        return ((logits - shift.index_select(1, self.block_of)).exp() @ self.member).log() + shift

    def block_nll(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, n_blocks) cross-entropy of every block: -log softmax(block b)[targets[:, b]] (TVAE's one-hot loss)."""
        return self.block_logsumexp(raw) - raw.gather(1, self.block_offset + targets)

    def sample(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """tanh on alpha spans; a one-hot *sample* from each block's softmax (Gumbel-max trick).

        A sample, not the argmax: the argmax would put every uncertain
        column on its peak (on Adult the reference's argmax decoding costs
        TVAE 0.1 of sdmetrics quality).
        """
        # (B, n_blocks); padding is -inf, never chosen
        choice = self.padded(raw + gumbel_noise(raw, generator)).argmax(dim=-1)
        out = torch.zeros_like(raw).scatter_(1, self.block_offset + choice, 1.0)  # the chosen entry of each block
        return out.index_copy_(1, self.tanh_cols, torch.tanh(raw.index_select(1, self.tanh_cols)))

    def log_probs(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, n_blocks, width) log-softmax of every block (-inf on padding)."""
        return F.log_softmax(self.padded(raw), dim=-1)


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise shaped like `like`: -log(-log U), U uniform.

    The same distribution `F.gumbel_softmax` draws, as -log(Exponential), but
    from `torch.rand`: on a CPU, `exponential_` (which it uses) takes about
    2.5 times as long, and this noise is drawn twice per CTGAN step.
    """
    uniform = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return -(-uniform.clamp_min_(torch.finfo(like.dtype).tiny).log_()).log_()


@dataclass(frozen=True)
class Condition:
    """One conditioned column: its categorical block number, offset and width in the row, and category index."""

    column: str
    value: Any
    block: int  # position in `transformer.categorical_blocks()`
    offset: int
    width: int
    index: int
    frequency: int


class Conditions:
    """`{column: value}` checked against a fitted transformer: every problem found is reported at once."""

    def __init__(self, transformer: DataTransformer, conditions: dict[str, Any], model: str):
        blocks = {name: (b, offset, width) for b, (name, offset, width) in enumerate(transformer.categorical_blocks())}
        infos = {c.name: c for c in transformer.columns_}
        problems, parsed = [], []
        for column, value in conditions.items():
            if column not in blocks:
                problems.append(f"{column!r} is not a categorical column of this model (categorical: {sorted(blocks)})")
                continue
            state = infos[column].state
            categories = state["categories"]
            index = category_position(categories, value)
            if index is None:
                problems.append(unknown_category(column, value, categories, len(categories),
                                                 state.get("rare_values", []), "bucket"))
                continue
            b, offset, width = blocks[column]
            parsed.append(Condition(column, value, b, offset, width, index, int(state["frequencies"][index])))
        if problems:
            raise GeneratorInputError(f"{model}: " + "; ".join(problems))
        # The rarest condition steers the generator; the others are met by rejection.
        self.items = sorted(parsed, key=lambda c: c.frequency)
        self.primary = self.items[0]
        self.secondary = self.items[1:]

    def __str__(self) -> str:
        return str({c.column: c.value for c in self.items})

    def overwrite(self, out: torch.Tensor) -> torch.Tensor:
        """Exact: each conditioned block of the activated rows (B, D) is set to its category."""
        for c in self.items:
            out[:, c.offset : c.offset + c.width] = 0.0
            out[:, c.offset + c.index] = 1.0
        return out

    def acceptance(self, layout: BlockLayout, raw: torch.Tensor) -> torch.Tensor:
        """Probability (B,) that a candidate's sampled blocks meet every secondary condition.

        Accepting a candidate with this probability and then setting those
        blocks is the same as sampling the blocks and rejecting on mismatch,
        only with less variance: the accepted rows follow the model's
        distribution given all the conditions.
        """
        if not self.secondary:
            return torch.ones(len(raw), device=raw.device)
        log_probs = layout.log_probs(raw)
        total = torch.zeros(len(raw), device=raw.device)
        for c in self.secondary:
            total += log_probs[:, int(layout.categorical_block[c.block]), c.index]
        return total.exp()


def draw_conditioned(
    propose, layout: BlockLayout, conditions: Conditions, size: int, generator: torch.Generator, describe: str
) -> torch.Tensor:
    """`size` raw rows that meet every condition: `propose(m, generator)` gives m raw candidates steered by the
    primary one.

    Rejection on the secondary conditions; if a combination is so rare for the
    model that `MAX_REJECTION_ROUNDS` rounds do not fill the block, the rest
    is drawn from the last round's candidates in proportion to their
    acceptance (sampling-importance-resampling) and a warning says so.
    """
    if not conditions.secondary:
        return propose(size, generator)
    kept, have = [], 0
    for _ in range(MAX_REJECTION_ROUNDS):
        raw = propose(size, generator)
        p = conditions.acceptance(layout, raw)
        accepted = raw[torch.rand(size, generator=generator, device=raw.device) < p]
        kept.append(accepted[: size - have])
        have += len(kept[-1])
        if have == size:
            return torch.cat(kept)
    if p.sum() <= 0:
        raise GeneratorInputError(
            f"conditions {describe}: the model gives this combination probability 0; condition on fewer columns"
        )
    rate = have / (size * MAX_REJECTION_ROUNDS)
    warnings.warn(
        f"conditions {describe}: the model rarely generates this combination (acceptance {rate:.2%}); "
        f"{size - have} of {size} rows were importance-resampled from {size} candidates and may repeat",
        stacklevel=3,
    )
    pick = torch.multinomial(p, size - have, replacement=True, generator=generator)
    return torch.cat([*kept, raw[pick]])


class MarginalLoss:
    """Σ over one-hot blocks of KL(target distribution ‖ the batch's mean softmax).

    `target` (n_soft,) holds, for every softmax column of the row (in
    `BlockLayout.soft_cols` order), the share of rows that should have it:
    per block a distribution, or zeros for a block with no target. The
    private generators take it from the released noisy counts
    (`from_released`), which makes a loss built on it post-processing; CTGAN
    from the real rows its sampler feeds the discriminator.
    """

    def __init__(self, layout: BlockLayout, target: torch.Tensor):
        if target.shape != (len(layout.soft_cols),):
            raise ValueError(f"target has shape {tuple(target.shape)}, expected ({len(layout.soft_cols)},)")
        self.layout = layout
        self.target = target
        self.entropy = (target * target.clamp_min(1e-12).log()).sum()

    @classmethod
    def from_released(cls, layout: BlockLayout, transformer, device: torch.device | str) -> MarginalLoss:
        """Targets from a private transformer's `marginal_targets()` (one entry per softmax span, None: no target)."""
        widths = [w for w, activation in transformer.spans if activation == "softmax"]
        targets = transformer.marginal_targets()
        if len(targets) != len(widths):
            raise ValueError(f"{len(targets)} released marginals for {len(widths)} softmax spans")
        target = torch.cat([torch.as_tensor(t, dtype=torch.float32) if t is not None else torch.zeros(w)
                            for t, w in zip(targets, widths, strict=True)] or [torch.zeros(0)]).to(device)
        return cls(layout, target)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        mean = self.layout.block_softmax(raw).mean(0)  # (n_soft,): the batch's distribution of every block
        return self.entropy - (self.target * mean.clamp_min(1e-8).log()).sum()


def block_generator(seed: int, block: int, device: torch.device) -> torch.Generator:
    """The generator of sampling block `block` for `seed`: independent streams, none touching global RNG state."""
    state = np.random.SeedSequence([int(seed) % 2**63, int(block)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def unknown_category(column: str, value: Any, known: list, kept: int, rare_values: list, pool: str) -> str:
    """Why `value` cannot be a condition on `column`: pooled with the rare values (into one `pool`; `kept`
    categories were kept), or never seen (`known`: the categories it could be)."""
    if any(same_value(value, rare) for rare in rare_values):
        return (f"condition {column}={value!r}: this value is one of the {len(rare_values)} rare values the model "
                f"pooled into one {pool} (the column was capped at max_categories={kept}); "
                "condition on a kept category or fit with a larger max_categories")
    return f"condition {column}={value!r}: not a category seen in training; known: {known}"


def same_value(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


def category_position(categories: list, value: Any) -> int | None:
    """Index of `value` in the saved category list; a string '1' also finds the integer category 1 (CLI input)."""
    if value in categories:
        return categories.index(value)
    matches = [i for i, c in enumerate(categories) if c is not None and str(c) == str(value)]
    return matches[0] if len(matches) == 1 else None


#: `propose(m, generator)`: m raw (not yet activated) rows (m, D) from the model's sampling network.
Proposer = Callable[[int, torch.Generator], torch.Tensor]


class EncodedTabularGenerator(TabularGenerator):
    """A generator of rows encoded by a `DataTransformer` (CTGAN, TVAE): a model implements `_proposer`.

    One block of sampling: the model's network proposes raw rows (steered by
    the rarest condition), `BlockLayout.sample` activates them (tanh and a
    one-hot sample per block), any further conditions are met by rejection,
    the conditioned blocks are set exactly, and the transformer decodes.
    """

    #: The private versions read their transformer's state with the private transformer.
    transformer_class: ClassVar[type] = DataTransformer

    transformer_: DataTransformer
    layout_: BlockLayout

    def _conditions(self, conditions: dict[str, Any]) -> Conditions:
        return Conditions(self.transformer_, conditions, self.title)

    @abstractmethod
    def _proposer(self, fixed: Conditions | None) -> Proposer:
        """How this model proposes raw rows, given the checked conditions (None: unconditional)."""

    def _sample_block(self, seed: int, block: int, fixed: Conditions | None,
                      rows: int = SAMPLE_BLOCK_ROWS) -> pd.DataFrame:
        generator = block_generator(seed, block, torch.device(self.device))
        with torch.no_grad():
            propose = self._proposer(fixed)
            if fixed is None:
                out = self.layout_.sample(propose(rows, generator), generator)
            else:
                raw = draw_conditioned(propose, self.layout_, fixed, rows, generator, describe=str(fixed))
                out = fixed.overwrite(self.layout_.sample(raw, generator))
        # decoding draws too (a capped column's pooled values), from the block's own seed
        return self.transformer_.inverse_transform(out.cpu().numpy(),
                                                   rng=np.random.default_rng(generator.initial_seed()))

    def _check_batch_fits(self, rows: int, pac: int | None = None) -> None:
        """Before fitting: one batch (a multiple of `pac` rows, for CTGAN) must fit in the training table."""
        if rows < self.batch_size:
            most = f"{rows - rows % pac} (a multiple of pac={pac})" if pac else f"{rows}"
            raise GeneratorInputError(f"the training table has {rows} rows, fewer than batch_size={self.batch_size}; "
                                      f"lower generator.batch_size to at most {most}")

    def _encode(self, table: pd.DataFrame, fitted_transformer: Callable[[], DataTransformer],
                device: torch.device) -> torch.Tensor:
        """Fit step 1: the transformer is fitted (`fitted_transformer()`) and encodes the table once; from here on
        the rows are a tensor on `device`. Timed as `transform_seconds_`."""
        started = time.perf_counter()
        self.transformer_ = fitted_transformer()
        data = torch.from_numpy(self.transformer_.transform(table, seed=self.seed)).to(device)
        self.layout_ = BlockLayout(self.transformer_, device)
        self.transform_seconds_ = time.perf_counter() - started
        return data

    def _public_encode(self, table: pd.DataFrame, device: torch.device) -> torch.Tensor:
        """`_encode` with the public transformer: Gaussian mixtures on a bounded subsample, capped categories."""
        return self._encode(
            table,
            lambda: DataTransformer(self.max_modes, self.transformer_sample_size,
                                    max_categories=self.max_categories).fit(table, seed=self.seed),
            device,
        )

    # -- persistence -----------------------------------------------------------
    def _learned_config(self) -> dict[str, Any]:
        return {"transformer": self.transformer_.state_dict()}

    def _restore(self, folder: Path, config: dict[str, Any]) -> None:
        self.transformer_ = self.transformer_class.from_state_dict(config["transformer"])
        self.layout_ = BlockLayout(self.transformer_, self.device)
        self._restore_networks(folder)

    @abstractmethod
    def _restore_networks(self, folder: Path) -> None:
        """The sampling network(s) from the folder's weights (`transformer_` and `layout_` are already set)."""


class PrivateTraining:
    """What DP-CTGAN and DP-TVAE add to their public model (a mixin placed before it).

    The budget is spent in `fit`: the private preprocessing first
    (`_private_encode`), then DP-SGD; the ledger (`_close_ledger`) is saved
    in config.json and read back on load. A private fit cannot resume: the
    accountant's history and the noise generators are not checkpointed.
    """

    #: No column rules: each reads the training rows (synth.column_plan), which only the budget may do.
    column_rules = None

    def _private_budget(self, checkpoint: Any):
        """The budget, checked before anything is read; a checkpoint is refused (see synth.resume)."""
        from synth.privacy.budget import PrivacyBudget

        if checkpoint is not None:
            raise GeneratorInputError(f"{self.title} does not checkpoint or resume: the accountant's history and the "
                                      "Poisson-sampling and noise generators are not saved; train without a checkpoint")
        budget = PrivacyBudget(self.epsilon, self.delta, self.max_grad_norm, self.preprocessing_share, self.accountant)
        budget.check()
        return budget

    def _private_encode(self, table: pd.DataFrame, budget, device: torch.device) -> torch.Tensor:
        """Fit step 1 inside the budget: noisy counts only (`DPDataTransformer`), then every row encoded with them."""
        from synth.privacy.transformer import DPDataTransformer

        private = DPDataTransformer(self.max_modes, self.bounds, self.categories)
        return self._encode(table, lambda: budget.preprocess(table, private, self.seed), device)

    @contextmanager
    def _dp_sgd_epochs(self, budget, n_rows: int) -> Iterator[Any]:
        """For `fit`: the planned epochs of Poisson batches as a progress bar; the loop is timed as `train_seconds_`
        (for per-epoch timings). Only post-processing losses go into `loss_history_` (see each model)."""
        from tqdm.auto import tqdm

        self.loss_history_: list[dict[str, float]] = []
        started = time.perf_counter()
        bar = tqdm(budget.batches(n_rows, seed=self.seed), total=self.epochs, desc=self.title, unit="epoch",
                   disable=not self.verbose)
        with warnings.catch_warnings():
            # the input rows need no gradient, so PyTorch notes that Opacus' full backward hooks see outputs only
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            yield bar
        self.train_seconds_ = time.perf_counter() - started

    def _close_ledger(self, budget, private_module: str, post_processing: list[str]) -> None:
        """The ledger, from the accountant's actual history, and the noisy row count (the default output size)."""
        self.privacy_ = budget.ledger(private_module=private_module, post_processing=post_processing)
        self.private_row_count_ = int(round(self.transformer_.noisy_rows_))

    def _learned_config(self) -> dict[str, Any]:
        return {**super()._learned_config(), "privacy": self.privacy_}

    def _restore(self, folder: Path, config: dict[str, Any]) -> None:
        super()._restore(folder, config)
        self.privacy_ = config["privacy"]
        self.private_row_count_ = int(round(self.transformer_.noisy_rows_))
