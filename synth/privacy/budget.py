"""One private fit, from the budget to the ledger: the privacy wrapper DP-CTGAN and DP-TVAE share.

1. `preprocess`: decide δ, calibrate the noise of the preprocessing counts
   to their share of ε, and fit the `DPDataTransformer` with it.
2. `plan_training`: from the *noisy* row count, the Poisson sampling rate
   q = batch_size / n̂ and the planned steps; then the DP-SGD noise
   multiplier so that preprocessing and all planned steps, composed in one
   accountant, spend exactly the budget (never more).
3. `make_private`: wrap the private module and its optimiser in Opacus'
   ghost-clipping `GradSampleModuleFastGradientClipping` and
   `DPOptimizerFastGradientClipping` (clip each row's gradient to
   `max_grad_norm`, add N(0, σ²·C²)), with the accountant counting every
   step through the optimiser's step hook.
4. `batches`: Poisson sampling with Opacus' `UniformWithReplacementSampler`
   (each row joins each batch independently with probability q), for
   exactly the planned number of steps.
5. `ledger`: what was spent and how, recomputed from the accountant's
   history, for the model's config and the dataset card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import torch
from torch import nn

from synth.errors import GeneratorInputError
from synth.privacy.accounting import (
    ACCOUNTANTS,
    BudgetTooSmall,
    calibrate_noise,
    default_delta,
    epsilon,
    selection_threshold,
)
from synth.privacy.ledger import COVERS, NOT_COVERED, package_versions
from synth.privacy.transformer import DPDataTransformer

#: Share of δ given to private category discovery when some column needs it.
SELECTION_DELTA_SHARE = 0.1

class PrivacyBudget:
    """The (ε, δ) budget of one fit and the mechanisms that spend it."""

    def __init__(
        self,
        epsilon: float,
        delta: float | None = None,
        max_grad_norm: float = 1.0,
        preprocessing_share: float = 0.2,
        accountant: str = "rdp",
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.preprocessing_share = preprocessing_share
        self.accountant = accountant

    def check(self) -> None:
        problems = []
        if not (isinstance(self.epsilon, (int, float)) and self.epsilon > 0):
            problems.append(f"privacy.epsilon must be a positive number, got {self.epsilon!r}")
        if self.delta is not None and not 0 < self.delta < 1:
            problems.append(f"privacy.delta must be between 0 and 1 (well below 1/rows), got {self.delta!r}")
        if not self.max_grad_norm > 0:
            problems.append(f"privacy.max_grad_norm must be positive, got {self.max_grad_norm!r}")
        if not 0 < self.preprocessing_share < 1:
            problems.append(f"privacy.preprocessing_share must be between 0 and 1, got {self.preprocessing_share!r}")
        if self.accountant not in ACCOUNTANTS:
            problems.append(f"privacy.accountant must be one of {list(ACCOUNTANTS)}, got {self.accountant!r}")
        if problems:
            raise GeneratorInputError("; ".join(problems))

    # -- 1. preprocessing --------------------------------------------------------------
    def preprocess(self, table: pd.DataFrame, transformer: DPDataTransformer, seed: int) -> DPDataTransformer:
        self.check()
        plan = transformer.plan(table)  # raises on bad declared metadata, before anything is released
        n = len(table)
        if self.delta is not None and self.delta >= 1 / n:
            raise GeneratorInputError(
                f"privacy.delta={self.delta:g} is not below 1/n = 1/{n} for the {n} training rows: such a δ allows "
                f"publishing a row outright; use at most {default_delta(n):g} or leave delta out"
            )
        self.delta_ = self.delta if self.delta is not None else default_delta(n)
        self.delta_rule_ = ("declared in the spec" if self.delta is not None
                            else "default: the largest power of ten below 1/n")
        self.selection_delta_ = SELECTION_DELTA_SHARE * self.delta_ if plan.discovered else 0.0
        self.accountant_delta_ = self.delta_ - self.selection_delta_
        self.plan_ = plan
        try:
            self.preprocessing_sigma_ = calibrate_noise(
                self.preprocessing_share * self.epsilon, self.accountant_delta_, sample_rate=1.0, steps=plan.queries,
                accountant=self.accountant,
            )
        except BudgetTooSmall:  # name the ε the user gave, not the share calibrate_noise was handed
            raise GeneratorInputError(
                f"privacy.epsilon={self.epsilon:g} is too small: its preprocessing share (preprocessing_share="
                f"{self.preprocessing_share:g}, ε={self.preprocessing_share * self.epsilon:.3g}) cannot pay for the "
                f"{plan.queries} noisy counts of the preprocessing (the noise would drown them); raise privacy.epsilon "
                "or privacy.preprocessing_share, or declare bounds and categories (they cost no ε)"
            ) from None
        threshold = None
        if plan.discovered:
            threshold = selection_threshold(self.preprocessing_sigma_, self.selection_delta_ / len(plan.discovered))
        self.selection_threshold_ = threshold
        transformer.fit(table, sigma=self.preprocessing_sigma_, selection_threshold=threshold, seed=seed)
        self.history_ = [(self.preprocessing_sigma_, 1.0, plan.queries)]
        self.transformer_ = transformer
        return transformer

    # -- 2. the DP-SGD plan ----------------------------------------------------------------
    def plan_training(self, batch_size: int, epochs: int) -> None:
        noisy_rows = self.transformer_.noisy_rows_
        if noisy_rows < 2 * batch_size:
            raise GeneratorInputError(
                f"batch_size={batch_size} is too large for about {max(noisy_rows, 0):.0f} training rows under DP-SGD "
                f"(Poisson sampling needs batch_size at most half the rows); lower generator.batch_size"
            )
        self.batch_size_ = batch_size
        self.sample_rate_ = batch_size / noisy_rows
        self.steps_per_epoch_ = int(1 / self.sample_rate_)  # as Opacus' Poisson data loader counts an epoch
        self.epochs_ = epochs
        self.steps_ = epochs * self.steps_per_epoch_
        self.noise_multiplier_ = calibrate_noise(
            self.epsilon, self.accountant_delta_, sample_rate=self.sample_rate_, steps=self.steps_,
            accountant=self.accountant, before=self.history_,
        )

    # -- 3. the private module -----------------------------------------------------------
    def make_private(self, module: nn.Module, optimiser: Callable[[Any], torch.optim.Optimizer], seed: int):
        """(private module, DP optimiser) for `module`; `optimiser(params)` builds the plain optimiser.

        Opacus' ghost clipping: each row's gradient norm is computed from the
        layer inputs and output gradients without materialising per-row
        gradients (for a linear layer, |g_i|·|a_i|), then a second backward
        pass of the loss reweighted by min(1, C / norm_i) gives the sum of
        clipped gradients. Same result as per-sample clipping, a fraction of
        the memory and time. Train with `backward(per_row_loss)` then
        `optimizer.step()` (noise, averaging and accounting happen there).
        """
        from opacus.accountants import create_accountant
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizerFastGradientClipping

        batch_norms = [name for name, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if batch_norms:
            raise GeneratorInputError(
                f"the private module has BatchNorm layers {batch_norms}: they mix rows of a batch, so a row's gradient "
                "is not its own and DP-SGD's bound does not hold; use a module without BatchNorm"
            )
        private = GradSampleModuleFastGradientClipping(
            module, batch_first=True, loss_reduction="sum", strict=True, max_grad_norm=self.max_grad_norm,
            use_ghost_clipping=True,
        )
        device = next(module.parameters()).device
        noise = torch.Generator(device=device).manual_seed(seed)
        # the summed clipped gradients plus noise are divided by the *expected* batch size (Poisson batches vary)
        optimizer = DPOptimizerFastGradientClipping(
            optimiser(private.parameters()), noise_multiplier=self.noise_multiplier_, max_grad_norm=self.max_grad_norm,
            expected_batch_size=self.batch_size_, loss_reduction="mean", generator=noise,
        )
        self.accountant_ = create_accountant(mechanism=self.accountant)
        self.accountant_.history = list(self.history_)
        optimizer.attach_step_hook(self.accountant_.get_optimizer_hook_fn(sample_rate=self.sample_rate_))
        self.private_, self.optimizer_ = private, optimizer
        return private, optimizer

    def backward(self, per_row_loss: torch.Tensor) -> None:
        """Gradients of the sum of per-row losses with each row's gradient clipped to `max_grad_norm` (two passes)."""
        from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

        DPTensorFastGradientClipping(self.private_, self.optimizer_, per_row_loss, loss_reduction="sum").backward()

    # -- 4. Poisson batches ----------------------------------------------------------------
    def batches(self, n_rows: int, seed: int) -> Iterator[Iterator[list[int]]]:
        """One iterator of row-index lists per epoch; `steps_per_epoch_` Poisson batches each."""
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        sampler = UniformWithReplacementSampler(
            num_samples=n_rows, sample_rate=self.sample_rate_, generator=torch.Generator().manual_seed(seed),
            steps=self.steps_per_epoch_,
        )
        for _ in range(self.epochs_):
            yield iter(sampler)

    # -- 5. the ledger -------------------------------------------------------------------
    def steps_taken(self) -> int:
        return sum(t for s, q, t in self.accountant_.history[1:])

    def ledger(self, *, private_module: str, post_processing: list[str]) -> dict[str, Any]:
        """Everything a privacy reviewer needs, with ε recomputed from the accountant's actual history."""
        taken = self.steps_taken()
        if taken != self.steps_:
            raise RuntimeError(f"DP-SGD took {taken} steps, not the {self.steps_} the noise was calibrated for")
        history = self.accountant_.history
        total = epsilon(history, self.accountant_delta_, self.accountant)
        transformer = self.transformer_
        plan = self.plan_
        public_categories = {
            c.name: len(c.state["categories"]) for c in transformer.columns_
            if c.kind == "categorical" and c.state["source"] != "private selection"
        }
        return {
            "epsilon": round(total, 4),
            "delta": self.delta_,
            "accountant_delta": self.accountant_delta_,  # δ the accountant converts at; + selection_delta = delta
            "selection_delta": self.selection_delta_,
            "target_epsilon": self.epsilon,
            "delta_rule": self.delta_rule_,
            "accountant": self.accountant,
            "adjacency": "add or remove one row of the training table",
            "composition": (
                f"all Gaussian mechanisms composed in one {self.accountant.upper()} accountant "
                f"at δ={self.accountant_delta_:.3g}"
                + (f", plus δ={self.selection_delta_:.3g} for private category discovery"
                   if self.selection_delta_ else "")
                + "; the parts' standalone ε add up to more than the total"
            ),
            "parts": [
                {
                    "part": "preprocessing",
                    "mechanism": ("Gaussian noise on histogram counts (each row in one cell per histogram: "
                                  "L2 sensitivity 1)"),
                    "noise_multiplier": round(self.preprocessing_sigma_, 4),
                    "sample_rate": 1.0,
                    "steps": plan.queries,
                    "epsilon": round(epsilon(history[:1], self.accountant_delta_, self.accountant), 4),
                    "share_of_target": self.preprocessing_share,
                    "releases": [r.to_dict() for r in transformer.releases_],
                    "category_selection": (
                        {"columns": plan.discovered, "threshold": round(self.selection_threshold_, 1),
                         "delta": self.selection_delta_}
                        if plan.discovered else None
                    ),
                },
                {
                    "part": "training",
                    "mechanism": ("DP-SGD (Opacus): per-row gradient clipping and Gaussian noise, "
                                  "Poisson-sampled batches"),
                    "private_module": private_module,
                    "noise_multiplier": round(self.noise_multiplier_, 4),
                    "sample_rate": round(self.sample_rate_, 6),
                    "steps": taken,
                    "epochs": self.epochs_,
                    "expected_batch_size": self.batch_size_,
                    "max_grad_norm": self.max_grad_norm,
                    "epsilon": round(epsilon(history[1:], self.accountant_delta_, self.accountant), 4),
                },
            ],
            "history": [list(entry) for entry in history],
            "public": {
                "schema": "column names and types",
                "bounds": {name: list(v) for name, v in transformer.bounds.items()},
                "categories": public_categories,
            },
            "post_processing": post_processing,
            "covers": COVERS,
            "not_covered": NOT_COVERED,
            "noise_source": ("torch / NumPy pseudo-random generators seeded from the spec's seed "
                             "(Opacus secure_mode off)"),
            "versions": package_versions(),
        }
