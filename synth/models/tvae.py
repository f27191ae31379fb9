"""TVAE: a variational autoencoder for mixed-type tables (Xu et al., NeurIPS 2019).

The network shapes and the loss follow the paper and the reference `ctgan`
package: an encoder of Linear+ReLU layers gives a diagonal Gaussian posterior
over the latent code; a decoder of Linear+ReLU layers maps a code back to the
encoded row, with a learned per-dimension `sigma` for the Gaussian likelihood
of the `alpha` values (cross-entropy for one-hot blocks). The loop is ours: as
in our CTGAN, the table is encoded once and kept as a tensor on the training
device, so a training step never goes back to pandas or NumPy, and all
one-hot blocks are handled at once (`BlockLayout.block_nll`: one segmented
cross-entropy instead of one per block).

The reference TVAE cannot condition. Ours fixes categorical columns
exactly and keeps the other columns consistent with them: after training,
the encoder's posteriors are pooled per category into a diagonal Gaussian
(the category's aggregate posterior, shrunk towards the N(0, I) prior by
`PRIOR_ROWS` pseudo-rows so a rare category is never the latent of a single
training row). Conditional sampling decodes codes drawn from the rarest
conditioned category's Gaussian, meets any further conditioned columns by
rejection (`synth.models.tabular`), and sets the conditioned blocks to the
requested categories.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import TVAEConfig
from synth.models.io import load_module
from synth.models.tabular import Conditions, EncodedTabularGenerator, Proposer
from synth.models.training import autocast, training

WEIGHTS_NAME = "decoder.safetensors"
LATENTS_NAME = "latent_stats.safetensors"
# Weight of the N(0, I) prior in each category's latent Gaussian, in rows: a
# category seen 1000 times is 99% its own aggregate posterior, one seen once
# is 91% prior, so no stored mean is a single row's latent code.
PRIOR_ROWS = 10


class Encoder(nn.Module):
    """Row → (mu, logvar) of the diagonal Gaussian posterior q(z | row)."""

    def __init__(self, data_dim: int, compress_dims: tuple[int, ...], embedding_dim: int):
        super().__init__()
        layers, dim = [], data_dim
        for width in compress_dims:
            layers += [nn.Linear(dim, width), nn.ReLU()]
            dim = width
        self.net = nn.Sequential(*layers)
        self.mu = nn.Linear(dim, embedding_dim)
        self.logvar = nn.Linear(dim, embedding_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (B, data_dim) -> 2 × (B, E)
        feature = self.net(x)
        return self.mu(feature), self.logvar(feature)


class Decoder(nn.Module):
    """Latent code → raw output (pre-activation) of every span of the encoded row.

    `sigma` is the learned standard deviation of each alpha value's Gaussian
    likelihood; only its entries at tanh spans are used.
    """

    def __init__(self, embedding_dim: int, decompress_dims: tuple[int, ...], data_dim: int):
        super().__init__()
        layers, dim = [], embedding_dim
        for width in decompress_dims:
            layers += [nn.Linear(dim, width), nn.ReLU()]
            dim = width
        layers.append(nn.Linear(dim, data_dim))
        self.net = nn.Sequential(*layers)
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, E) -> (B, data_dim)
        return self.net(z)


class CategoryLatents(nn.Module):
    """Per category of every categorical column, the diagonal Gaussian its rows' codes follow.

    Rows are laid out like CTGAN's cond vector: category `i` of categorical
    block `b` is row `block_start[b] + i`. Buffers only, so the statistics
    are saved and loaded like weights.
    """

    def __init__(self, n_categories: int, embedding_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_categories, embedding_dim))
        self.register_buffer("std", torch.ones(n_categories, embedding_dim))

    @classmethod
    def from_moments(cls, count: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> CategoryLatents:
        """Each category's diagonal Gaussian from its codes' count (n_categories,), Σ z and Σ z² (n_categories, dim),
        shrunk towards N(0, I) by `PRIOR_ROWS` pseudo-rows of the prior."""
        total = (count + PRIOR_ROWS)[:, None]
        latents = cls(*first.shape).to(first.device)
        latents.mean.copy_(first / total)
        latents.std.copy_(((second + PRIOR_ROWS) / total - latents.mean**2).clamp(min=1e-8).sqrt())
        return latents


class TVAE(EncodedTabularGenerator):
    """Tabular variational autoencoder; hyperparameters in `TVAEConfig`, learned state ends in `_`."""

    kind = "tvae"
    config_class = TVAEConfig
    fitted_attribute = "decoder_"

    # -- layout of the encoded row ----------------------------------------------------
    def _block_starts(self) -> list[int]:
        """Row of each categorical block's first category in `latents_`."""
        starts, total = [], 0
        for _, _, width in self.transformer_.categorical_blocks():
            starts.append(total)
            total += width
        return starts

    # -- training --------------------------------------------------------------
    def _fit(self, table: pd.DataFrame, checkpoint: TrainingCheckpoint | None = None) -> None:
        """Train on `table`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        self._check_batch_fits(len(table))
        device = torch.device(self.device)
        with training(device, self.seed):
            # 1. encode the table once; from here on everything is a tensor on `device`
            data = self._public_encode(table, device)
            alphas = self.layout_.tanh_cols
            # the class index of every one-hot block, once, instead of an argmax per step
            targets = self.layout_.padded(data).argmax(dim=-1)  # (N, n_blocks)

            # 2. networks and optimiser (Adam with L2 weight decay, as in the paper's code)
            data_dim = data.shape[1]
            encoder = Encoder(data_dim, self.compress_dims, self.embedding_dim).to(device)
            self.decoder_ = Decoder(self.embedding_dim, self.decompress_dims, data_dim).to(device)
            optimiser = torch.optim.Adam(
                [*encoder.parameters(), *self.decoder_.parameters()], lr=self.lr, weight_decay=self.l2scale
            )  # plain, not fused Adam: see synth.models.ctgan

            mixed = autocast(device, self.precision)  # re-entered every step; a no-op at fp32
            # resuming: the last checkpoint's weights, optimiser state, RNG state and losses (a fresh start: epoch 0)
            parts = {"encoder": encoder, "decoder": self.decoder_, "optimiser": optimiser}
            checkpoint, bar = self._epochs(checkpoint, parts, device)
            for epoch in bar:
                sums = torch.zeros(2, device=device)  # reconstruction, KL; summed over the epoch's rows
                # every row once per epoch; the last, smaller batch is kept (as the reference does)
                for rows in torch.randperm(len(data), device=device).split(self.batch_size):
                    x, y, B = data[rows], targets[rows], len(rows)
                    with mixed:
                        # 3. encode and draw a code with the reparameterisation trick
                        mu, logvar = (t.float() for t in encoder(x))
                        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                        raw = self.decoder_(z).float()
                        # 4. reconstruction: Gaussian NLL of the alphas (learned sigma), cross-entropy of the one-hots
                        sigma = self.decoder_.sigma[alphas]
                        error = x[:, alphas] - torch.tanh(raw[:, alphas])
                        reconstruction = (error**2 / (2 * sigma**2)).sum() + B * torch.log(sigma).sum()
                        # every block's cross-entropy at once: -log p(true class)
                        reconstruction = reconstruction + self.layout_.block_nll(raw, y).sum()
                        kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
                        loss = (self.loss_factor * reconstruction + kl) / B
                    # 5. one step for both networks; sigma stays in [0.01, 1] as in the reference
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    with torch.no_grad():
                        self.decoder_.sigma.clamp_(0.01, 1.0)
                    sums += torch.stack([reconstruction.detach(), kl.detach()])
                reconstruction_mean, kl_mean = (sums / len(data)).tolist()
                losses = {"loss": self.loss_factor * reconstruction_mean + kl_mean,
                          "reconstruction": reconstruction_mean, "kl": kl_mean}
                self.loss_history_.append(losses)
                bar.set_postfix(loss=f"{losses['loss']:.3f}", kl=f"{kl_mean:.3f}")
                # a checkpoint when one is due (every few minutes, and after the last epoch)
                checkpoint.end_of_epoch(epoch + 1, self.epochs, parts, self.loss_history_)

            # 6. the latent Gaussian of each category, for exact conditional sampling
            encoder.eval()
            self.latents_ = self._category_latents(encoder, data)
        self.decoder_.eval()

    @torch.no_grad()
    def _category_latents(self, encoder: Encoder, data: torch.Tensor) -> CategoryLatents:
        """Moment-match, per category, the mixture of its rows' posteriors and `PRIOR_ROWS` of the prior.

        The aggregate posterior of category c is the average of q(z | row)
        over its rows; with the prior N(0, I) mixed in, its diagonal moments
        are mean = Σ mu / (n + k) and E[z²] = (Σ (mu² + var) + k) / (n + k).
        Only these per-category sums are accumulated, batch by batch; no
        row's code is kept. Keeping the posteriors' variance (not only the
        spread of their means) matters: on Adult (30 epochs) rows sampled
        with income=">50K" score 0.89 sdmetrics quality against the real
        ">50K" rows, 0.85 with the mean and std of `mu` alone, and 0.71 when
        prior codes are decoded and only the income block is overwritten.
        """
        blocks = self.transformer_.categorical_blocks()
        n_categories = sum(width for _, _, width in blocks)
        device = data.device
        count = torch.zeros(n_categories, device=device)
        first = torch.zeros(n_categories, self.embedding_dim, device=device)  # Σ mu
        second = torch.zeros(n_categories, self.embedding_dim, device=device)  # Σ mu² + var
        for x in data.split(max(self.batch_size, 4096)):
            mu, logvar = encoder(x)
            for start, (_, offset, width) in zip(self._block_starts(), blocks, strict=True):
                category = start + x[:, offset : offset + width].argmax(dim=1)
                count.index_add_(0, category, torch.ones(len(x), device=device))
                first.index_add_(0, category, mu)
                second.index_add_(0, category, mu**2 + logvar.exp())
        return CategoryLatents.from_moments(count, first, second)

    # -- one block of sampling ------------------------------------------------------
    def _proposer(self, fixed: Conditions | None) -> Proposer:
        """Raw rows: codes from the prior, or from the rarest conditioned category's latent Gaussian, decoded.
        The rest (`EncodedTabularGenerator`) is shared: a one-hot *sample* per block, not the reference's argmax
        (on Adult, 30 epochs, sampling raises sdmetrics quality from 0.82 to 0.92), then the conditions set exactly."""
        device = torch.device(self.device)
        row = None if fixed is None else self._block_starts()[fixed.primary.block] + fixed.primary.index

        def propose(m: int, g: torch.Generator) -> torch.Tensor:
            z = torch.randn(m, self.embedding_dim, device=device, generator=g)
            if row is not None:
                z = self.latents_.mean[row] + z * self.latents_.std[row]
            return self.decoder_(z)

        return propose

    # -- persistence: the decoder and the category latents (the encoder only trains and pools the latents) ------
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.decoder_.state_dict(), LATENTS_NAME: self.latents_.state_dict()}

    def _restore_networks(self, folder: Path) -> None:
        self.decoder_ = Decoder(self.embedding_dim, self.decompress_dims, self.transformer_.output_dim)
        load_module(self.decoder_, folder, WEIGHTS_NAME).to(self.device).eval()
        n_categories = sum(width for _, _, width in self.transformer_.categorical_blocks())
        self.latents_ = CategoryLatents(n_categories, self.embedding_dim)
        load_module(self.latents_, folder, LATENTS_NAME).to(self.device)
