"""CTGAN: a conditional GAN for mixed-type tables (Xu et al., NeurIPS 2019).

The network shapes, the conditional vector and training-by-sampling follow
the paper and the reference `ctgan` package; the loop is ours so it can be
made fast and, later, private. What differs from the reference, all of it
for speed, and none of it changing the objective (the reuse of fake rows
changes which noise each step draws):

- the encoded table, the per-category row index and the conditional-vector
  sampler live as tensors on the training device, so a training step never
  goes back to pandas or NumPy (the reference draws each real row with
  `np.random.choice` in a Python loop);
- all one-hot blocks are activated at once (`BlockLayout`: one Gumbel draw,
  one segmented softmax), and the conditional loss is computed for every
  row's chosen column at once;
- the sampler draws categories by `searchsorted` on cumulative tables
  instead of `torch.multinomial`, and Gumbel noise comes from `torch.rand`
  (on a CPU both of `multinomial`'s and `gumbel_softmax`'s `exponential_`
  draws cost more than the rest of the sampler and activation);
- the discriminator scores fake and real rows in one forward pass, and the
  generator step does not compute discriminator weight gradients;
- the generator step reuses the last discriminator step's fake rows and
  cond vectors (scored again by the just-updated discriminator, as
  PyTorch's DCGAN example does) instead of generating a second batch, so
  each step runs the generator forward once, not twice (the reference
  even back-propagates into the generator in the discriminator step and
  throws those gradients away). Same objective, one draw of noise fewer:
  on Adult at 100 epochs an epoch took 12% less time, with quality 0.910
  against 0.873-0.904 and efficacy 0.59 against 0.59;
- the transformer fits its mixtures on a bounded subsample (see
  `synth.transformer`), and training flushes denormal floats to zero
  (`synth.models.training`). (Plain Adam, not torch's fused one: with
  fused Adam the demo's TVAE scored detection AUC 0.96 instead of 0.85.
  Flushing denormals later did the same, and both were traced to
  capital-gain's zeros coming back smeared, which any change of rounding
  could expose; since point masses are encoded exactly (`synth.transformer`)
  that failure is gone, but fused Adam was not tried again.)

`precision="bf16"` runs the networks' matrix products in bfloat16
(mixed precision, `synth.models.training.autocast`); on this project's
2-core CPU (AVX-512 BF16) a CTGAN epoch on Adult took 0.82 of the float32
time at the same quality (100 epochs: 0.914 vs 0.873-0.904).

One addition that does change what is learned (`marginal_weight`, 0 turns
it off): the generator's loss also has the KL divergence from the one-hot
blocks' distribution over the real rows the sampler feeds the discriminator
(categories, modes, missing flags) to the generated batch's mean softmax.
On Adult at 30 epochs it raises the sdmetrics quality score from 0.83 to
0.88 and the machine-learning efficacy from 0.53 to 0.58.

Sampling runs in seeded blocks (`synth.models.base.TabularGenerator`), so
the same seed gives the same rows however the output is chunked; this file
holds only how CTGAN proposes one block's rows (`_proposer`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import CTGANConfig
from synth.models.io import load_module
from synth.models.tabular import Conditions, EncodedTabularGenerator, MarginalLoss, Proposer
from synth.models.training import autocast, training
from synth.transformer import DataTransformer

WEIGHTS_NAME = "generator.safetensors"
#: Real rows drawn through the sampler to estimate the block distribution the marginal loss aims at.
MARGINAL_ROWS = 200_000


class Residual(nn.Module):
    """Linear → BatchNorm → ReLU, concatenated with its input (CTGAN's generator block)."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    def __init__(self, input_dim: int, hidden: tuple[int, ...], data_dim: int):
        super().__init__()
        layers, dim = [], input_dim
        for width in hidden:
            layers.append(Residual(dim, width))
            dim += width
        layers.append(nn.Linear(dim, data_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise+cond) -> (B, data_dim)
        return self.net(z)


class Discriminator(nn.Module):
    """Scores `pac` rows at once (PacGAN), which discourages mode collapse."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        layers, dim = [], input_dim * pac
        for width in hidden:
            layers += [nn.Linear(dim, width), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = width
        layers.append(nn.Linear(dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B/pac, 1)
        return self.net(x.reshape(-1, x.shape[1] * self.pac))

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
        """WGAN-GP: weight * (‖∇ₓ D(x)‖ - 1)² at points x between real and fake pac groups (one mixing weight per
        group).

        The input gradient of this LeakyReLU MLP is written out layer by
        layer instead of asking autograd for it with `create_graph=True`:
        ∇ₓ = W₁ᵀ (s₁ ⊙ W₂ᵀ (s₂ ⊙ w₃)), where sₗ is layer l's LeakyReLU slope
        (1 or 0.2) times its dropout mask. The slopes are constants almost
        everywhere, so the penalty and its parameter gradients are exactly
        autograd's double backward, but without a graph through the mixed
        rows' forward pass, whose second-order terms are all zero and still
        cost autograd three passes over the widest layer.
        """
        alpha = torch.rand(real.shape[0] // self.pac, 1, device=real.device).repeat_interleave(self.pac, dim=0)
        x = torch.lerp(fake.detach(), real.detach(), alpha).reshape(-1, real.shape[1] * self.pac)  # (B/pac, pac*D)
        layers = list(self.net)
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        # 1. forward through the hidden layers, keeping only each unit's slope
        slopes = []
        with torch.no_grad():
            h = x
            for i in range(0, len(layers) - 1, 3):
                linear, leaky, dropout = layers[i : i + 3]
                h = linear(h)
                keep = 1.0  # dropout's mask, scaled as nn.Dropout scales it
                if dropout.training and dropout.p > 0:
                    keep = torch.bernoulli(torch.full_like(h, 1 - dropout.p)) / (1 - dropout.p)
                slopes.append(torch.where(h > 0, 1.0, leaky.negative_slope) * keep)
                h = F.leaky_relu(h, leaky.negative_slope) * keep
        # 2. back from the output: g ← (g ⊙ s) W, with a graph through the weights only
        g = linears[-1].weight.expand(len(x), -1)  # (B/pac, H_last)
        for linear, slope in zip(reversed(linears[:-1]), reversed(slopes), strict=True):
            g = (g * slope) @ linear.weight
        return ((g.float().norm(2, dim=1) - 1) ** 2).mean() * weight


def _padded_cdf(weights: list[torch.Tensor], width: int, device) -> torch.Tensor:
    """(n_blocks, width) table: row b is the cumulative distribution of block b's weights, padded with 1.0.

    Drawing a category is then one `searchsorted` of a uniform number for all
    rows at once; `torch.multinomial` would draw through `exponential_`,
    which costs more than the rest of the sampler on a CPU.
    """
    table = torch.ones(len(weights), width, device=device)
    for b, w in enumerate(weights):
        cdf = torch.cumsum(w.double(), 0)
        table[b, : len(w)] = (cdf / cdf[-1]).float()  # exactly 1.0 from the last category with weight on
    return table


def _draw(cdf: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) category indices, row i drawn from the distribution whose cumulative table is cdf[i] (B, width)."""
    uniform = torch.rand(len(cdf), 1, device=cdf.device, generator=generator)
    # right=True: the first index whose cumulative value exceeds u, so categories of weight 0 are never drawn
    return torch.searchsorted(cdf, uniform, right=True).squeeze(1).clamp_(max=cdf.shape[1] - 1)


class CondSampler:
    """Training-by-sampling on the device: pick a categorical column uniformly,
    a category by log-frequency, then a real row holding that category.

    It also draws the conditional vectors used when sampling (category by
    its real frequency, as the reference does); a loaded model rebuilds it
    from the saved category counts (`from_counts`), without any rows.
    """

    def __init__(self, data: torch.Tensor | None, blocks: list[tuple[str, int, int]],
                 counts: list[torch.Tensor] | None = None, device: torch.device | str | None = None):
        device = data.device if data is not None else torch.device(device or "cpu")
        self.n_blocks = len(blocks)
        self.cond_dim = sum(width for _, _, width in blocks)
        widths = torch.tensor([w for _, _, w in blocks], dtype=torch.long, device=device)
        self.block_width = widths
        self.block_start = torch.cumsum(widths, 0) - widths  # offset of each block in the cond vector
        if not self.n_blocks:
            self.row_index = None
            return
        rows_by_category = []
        if data is not None:
            counts = []
            for _, offset, width in blocks:
                category = data[:, offset : offset + width].argmax(dim=1)
                rows_by_category.append(torch.argsort(category, stable=True))
                counts.append(torch.bincount(category, minlength=width))
        counts = [c.to(device).float() for c in counts]
        self.count = torch.cat(counts)  # (cond_dim,)
        # Row ids grouped by (column, category): rows of global category g are
        # row_index[column of g][start[g] : start[g] + count[g]].
        self.row_index = torch.stack(rows_by_category) if rows_by_category else None  # (n_blocks, n_rows)
        self.start = torch.cat([torch.cumsum(c, 0) - c for c in counts]).long()
        width = int(widths.max())
        self.log_freq_cdf = _padded_cdf([torch.log1p(c) for c in counts], width, device)  # training: log-frequency
        self.real_cdf = _padded_cdf(counts, width, device)  # sampling: real frequency

    @classmethod
    def from_counts(cls, transformer: DataTransformer, device: torch.device | str) -> CondSampler:
        """What sampling needs, from the category counts the transformer's state holds."""
        blocks = transformer.categorical_blocks()
        by_name = {c.name: c for c in transformer.columns_}
        counts = [torch.tensor(by_name[name].state["frequencies"], dtype=torch.float32) for name, _, _ in blocks]
        return cls(None, blocks, counts, device=device)

    def sample_indices(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training draw: (column (B,), category within the column (B,), real row ids holding it (B,))."""
        device = self.log_freq_cdf.device
        column = torch.randint(self.n_blocks, (batch,), device=device)
        category = _draw(self.log_freq_cdf[column])
        global_cat = self.block_start[column] + category
        offset = (torch.rand(batch, device=device) * self.count[global_cat]).long()
        rows = self.row_index[column, self.start[global_cat] + offset]
        return column, category, rows

    def cond_vector(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """(B, cond_dim) one-hot of each row's (column, category)."""
        cond = torch.zeros(len(column), self.cond_dim, device=column.device)
        cond[torch.arange(len(column), device=column.device), self.block_start[column] + category] = 1.0
        return cond

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cond vector (B, cond_dim), chosen-column mask (B, n_blocks), real row ids (B,))."""
        column, category, rows = self.sample_indices(batch)
        return self.cond_vector(column, category), F.one_hot(column, self.n_blocks).float(), rows

    def sampling_cond(self, size: int, generator: torch.Generator,
                      fixed: tuple[int, int] | None = None) -> torch.Tensor:
        """Cond vectors for generation: a uniform column and a category by its real frequency, or a fixed
        (block, index)."""
        device = self.block_start.device
        if not self.n_blocks:
            return torch.zeros(size, 0, device=device)
        if fixed is not None:
            column = torch.full((size,), fixed[0], device=device, dtype=torch.long)
            category = torch.full((size,), fixed[1], device=device, dtype=torch.long)
        else:
            column = torch.randint(self.n_blocks, (size,), device=device, generator=generator)
            category = _draw(self.real_cdf[column], generator)
        return self.cond_vector(column, category)


class CTGAN(EncodedTabularGenerator):
    """Conditional tabular GAN; hyperparameters in `CTGANConfig`, learned state ends in `_`."""

    kind = "ctgan"
    config_class = CTGANConfig
    fitted_attribute = "generator_"

    # -- the conditional loss ----------------------------------------------------------
    def _cond_loss(self, raw: torch.Tensor, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between the generated category of each row's chosen column and the one asked for."""
        block = self.layout_.categorical_block[column]  # (B,) block number of each row's chosen column
        rows = torch.arange(len(raw), device=raw.device)
        chosen = raw[rows, self.layout_.block_offset[block] + category]  # logit of the category asked for
        return (self.layout_.block_logsumexp(raw)[rows, block] - chosen).sum() / len(raw)

    # -- training --------------------------------------------------------------
    def _fit(self, table: pd.DataFrame, checkpoint: TrainingCheckpoint | None = None) -> None:
        """Train on `table`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        self._check_batch_fits(len(table), pac=self.pac)
        device = torch.device(self.device)
        with training(device, self.seed):
            # 1. encode the table once; from here on everything is a tensor on `device`
            data = self._public_encode(table, device)
            self.sampler_ = CondSampler(data, self.transformer_.categorical_blocks())
            data_dim, cond_dim = data.shape[1], self.sampler_.cond_dim
            conditional = self.sampler_.n_blocks > 0

            # 2. networks and optimisers (betas and weight decay as in the paper's code)
            self.generator_ = Generator(self.embedding_dim + cond_dim, self.generator_dim, data_dim).to(device)
            discriminator = Discriminator(data_dim + cond_dim, self.discriminator_dim, self.pac).to(device)
            adam = dict(betas=(0.5, 0.9), weight_decay=1e-6)  # plain, not fused Adam: see the module docstring
            opt_g = torch.optim.Adam(self.generator_.parameters(), lr=self.generator_lr, **adam)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.discriminator_lr, **adam)

            # the one-hot blocks' distribution over the real rows the sampler hands the discriminator
            # (training-by-sampling skews the conditioned columns, so not the plain column frequencies)
            marginal_loss = None
            if self.marginal_weight:
                with torch.no_grad():
                    rows = (self.sampler_.sample_indices(MARGINAL_ROWS)[2] if conditional
                            else torch.arange(len(data), device=device))
                    marginal_loss = MarginalLoss(self.layout_,
                                                 data[rows].index_select(1, self.layout_.soft_cols).mean(0))

            B = self.batch_size
            mixed = autocast(device, self.precision)  # re-entered every step; a no-op at fp32
            steps_per_epoch = max(len(data) // B, 1)
            # resuming: the last checkpoint's weights, optimiser state, RNG state and losses (a fresh start: epoch 0);
            # everything above is rebuilt from the seed and the data, so it is not stored
            parts = {"generator": self.generator_, "discriminator": discriminator, "opt_g": opt_g, "opt_d": opt_d}
            checkpoint, bar = self._epochs(checkpoint, parts, device)
            for epoch in bar:
                for _ in range(steps_per_epoch):
                    # 3. discriminator step(s): real rows drawn to match a random cond vector
                    for step in range(self.discriminator_steps):
                        if conditional:
                            column, category, rows = self.sampler_.sample_indices(B)
                            cond = self.sampler_.cond_vector(column, category)
                        else:
                            rows, cond = torch.randint(len(data), (B,), device=device), data.new_zeros(B, 0)
                        # the last step's fake rows are the generator step's too, so only their graph is kept
                        with mixed:
                            with torch.set_grad_enabled(step == self.discriminator_steps - 1):
                                raw = self.generator_(
                                    torch.cat([torch.randn(B, self.embedding_dim, device=device), cond], 1)).float()
                                fake = self.layout_.gumbel_softmax(raw, 0.2)
                            # the real rows are paired with their own cond vector, shuffled like ctgan does
                            perm = torch.randperm(B, device=device)
                            fake_in = torch.cat([fake.detach(), cond], 1)
                            real_in = torch.cat([data[rows[perm]], cond[perm]], 1)
                            scores = discriminator(torch.cat([fake_in, real_in])).float()  # one pass: (2B/pac, 1)
                            loss_d = scores[: B // self.pac].mean() - scores[B // self.pac :].mean()
                            penalty = discriminator.gradient_penalty(real_in, fake_in)
                        opt_d.zero_grad(set_to_none=True)
                        (loss_d + penalty).backward()
                        opt_d.step()

                    # 4. generator step on the same fake rows (scored by the updated discriminator):
                    #    fool the discriminator and honour the cond vector
                    with mixed:
                        discriminator.requires_grad_(False)  # only the gradient w.r.t. its input is needed
                        loss_g = -discriminator(torch.cat([fake, cond], 1)).float().mean()
                        discriminator.requires_grad_(True)
                        if conditional:
                            loss_g = loss_g + self._cond_loss(raw, column, category)
                        if marginal_loss is not None:
                            loss_g = loss_g + self.marginal_weight * marginal_loss(raw)
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                losses = {"generator": loss_g.item(), "discriminator": loss_d.item()}
                self.loss_history_.append(losses)
                bar.set_postfix(loss_g=f"{losses['generator']:.3f}", loss_d=f"{losses['discriminator']:.3f}")
                # 5. a checkpoint when one is due (every few minutes, and after the last epoch)
                checkpoint.end_of_epoch(epoch + 1, self.epochs, parts, self.loss_history_)
        self.generator_.eval()

    # -- one block of sampling ------------------------------------------------------
    def _proposer(self, fixed: Conditions | None) -> Proposer:
        """Raw rows: a cond vector (a random column and category by its real frequency, or the rarest
        condition's) and noise, through the generator. The rest (`EncodedTabularGenerator`) is shared."""
        device = torch.device(self.device)
        primary = None if fixed is None else (fixed.primary.block, fixed.primary.index)

        def propose(m: int, g: torch.Generator) -> torch.Tensor:
            cond = self.sampler_.sampling_cond(m, g, primary)
            z = torch.randn(m, self.embedding_dim, device=device, generator=g)
            return self.generator_(torch.cat([z, cond], 1))

        return propose

    # -- persistence: config.json holds the transformer's state, which also gives the sampler its counts --------
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.generator_.state_dict()}

    def _restore_networks(self, folder: Path) -> None:
        # sampling needs only the category counts, which the transformer's state holds
        self.sampler_ = CondSampler.from_counts(self.transformer_, self.device)
        self.generator_ = Generator(self.embedding_dim + self.sampler_.cond_dim, self.generator_dim,
                                    self.transformer_.output_dim)
        load_module(self.generator_, folder, WEIGHTS_NAME).to(self.device).eval()
