"""DP-TVAE: TVAE trained with differential privacy end to end.

- **Preprocessing** is `synth.privacy.DPDataTransformer` (public bounds and
  category lists, everything else Gaussian-noised counts charged to ε).
- **Encoder and decoder** are trained together as one private module with
  DP-SGD through Opacus: each row's loss (its reconstruction and its KL
  term) gives one gradient, clipped to `max_grad_norm`; Gaussian noise is
  added to the sum; batches are Poisson samples; the accountant counts every
  step and the noise is calibrated for the planned steps beforehand.
  The decoder's learned likelihood scale `sigma` is applied per row by a
  small module so that Opacus sees, and clips, its per-row gradient too.
- **Released marginals** (`marginal_weight`): after each DP-SGD step the
  decoder takes one more step of its own on codes from the prior, towards
  the noisy per-column distributions the preprocessing released (the KL
  divergence from each to the batch's mean softmax). That step reads no
  real row, only already-private values, so it is post-processing.
- **Conditional sampling** cannot pool the encoder's posteriors per category
  as TVAE does: that reads every real row again, outside the budget.
  Instead each category's latent Gaussian is fitted to prior codes whose
  *decoded* row has that category: generated rows only, so post-processing.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from synth.models.configs import DPTVAEConfig
from synth.models.tabular import MarginalLoss, PrivateTraining
from synth.models.training import training
from synth.models.tvae import TVAE, CategoryLatents, Decoder, Encoder
from synth.privacy.transformer import DPDataTransformer

#: Prior codes decoded to fit the per-category latent Gaussians after training.
LATENT_PROBE_ROWS = 50_000


class RowScale(nn.Module):
    """The decoder's learned likelihood scale, expanded to one copy per row (B, D).

    TVAE uses `sigma` directly in the loss, where Opacus cannot see it; as a
    module's output, its per-row gradient is just that row's backprop.
    """

    def __init__(self, data_dim: int):
        super().__init__()
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma.expand(len(x), -1)


def _row_scale_grad_sampler(layer: RowScale, activations, backprops: torch.Tensor) -> dict:
    return {layer.sigma: backprops}


class PrivateVAE(nn.Module):
    """Encoder, decoder and likelihood scale as one module, so one DP-SGD step trains them all."""

    def __init__(self, encoder: Encoder, decoder: Decoder, scale: RowScale):
        super().__init__()
        self.encoder, self.decoder, self.scale = encoder, decoder, scale

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        mu, logvar = self.encoder(x)
        z = mu + noise * torch.exp(0.5 * logvar)  # the reparameterisation trick
        return mu, logvar, self.decoder(z), self.scale(x)


class DPTVAE(PrivateTraining, TVAE):
    """TVAE with DP-SGD on encoder and decoder and private preprocessing (see the module docstring)."""

    kind = "dp_tvae"
    config_class = DPTVAEConfig
    transformer_class = DPDataTransformer

    # -- training --------------------------------------------------------------
    def _fit(self, table: pd.DataFrame, checkpoint=None) -> None:
        budget = self._private_budget(checkpoint)
        from opacus.grad_sample import register_grad_sampler

        register_grad_sampler(RowScale)(_row_scale_grad_sampler)
        device = torch.device(self.device)
        with training(device, self.seed):
            # 1. preprocessing inside the budget: noisy counts only; then encode every row with them
            data = self._private_encode(table, budget, device)
            alphas = self.layout_.tanh_cols
            targets = self.layout_.padded(data).argmax(dim=-1)  # (N, n_blocks): each row's class in each block

            # 2. the DP-SGD plan: sampling rate from the noisy row count, noise for exactly the planned steps
            budget.plan_training(self.batch_size, self.epochs)

            # 3. one private module: encoder, decoder (its own sigma unused) and the per-row likelihood scale
            data_dim = data.shape[1]
            encoder = Encoder(data_dim, self.compress_dims, self.embedding_dim)
            self.decoder_ = Decoder(self.embedding_dim, self.decompress_dims, data_dim)
            self.decoder_.sigma.requires_grad_(False)
            vae, optimiser = budget.make_private(
                PrivateVAE(encoder, self.decoder_, RowScale(data_dim)).to(device),
                lambda params: torch.optim.Adam(params, lr=self.lr, weight_decay=self.l2scale),
                seed=self.seed,
            )
            scale = vae._module.scale
            # released noisy marginals
            marginal_loss = MarginalLoss.from_released(self.layout_, self.transformer_, device)
            public = [p for p in self.decoder_.parameters() if p.requires_grad]
            public_optimiser = torch.optim.Adam(public, lr=self.lr, weight_decay=self.l2scale)

            # The losses are averages over real rows, statistics of the training data outside ε: they are shown on the
            # progress bar (the operator holds the data anyway) but not kept, so no card publishes them.
            with self._dp_sgd_epochs(budget, len(data)) as bar:
                for epoch in bar:
                    sums, seen = torch.zeros(2, device=device), 0
                    for rows in epoch:
                        rows = torch.as_tensor(rows, dtype=torch.long, device=device)
                        x, y = data[rows], targets[rows]
                        # 4. each row's loss: Gaussian NLL of its alphas, cross-entropy of its blocks, its KL term
                        mu, logvar, raw, sigma = vae(x, torch.randn(len(rows), self.embedding_dim, device=device))
                        sigma = sigma[:, alphas]
                        error = x[:, alphas] - torch.tanh(raw[:, alphas])
                        reconstruction = (error**2 / (2 * sigma**2)).sum(1) + torch.log(sigma).sum(1)
                        reconstruction = (reconstruction
                                          - self.layout_.log_probs(raw).gather(2, y[:, :, None]).sum((1, 2)))
                        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
                        # 5. DP-SGD step: clip each row's gradient, add noise, count the step; sigma stays in [0.01, 1]
                        optimiser.zero_grad(set_to_none=True)
                        budget.backward(self.loss_factor * reconstruction + kl)
                        optimiser.step()
                        with torch.no_grad():
                            scale.sigma.clamp_(0.01, 1.0)
                        if self.marginal_weight:
                            # 6. post-processing step: the decoder's prior samples towards the released marginals
                            vae.disable_hooks()
                            raw = self.decoder_(torch.randn(self.batch_size, self.embedding_dim, device=device))
                            public_optimiser.zero_grad(set_to_none=True)
                            (self.marginal_weight * marginal_loss(raw)).backward()
                            public_optimiser.step()
                            for p in public:  # the DP optimiser must never see these gradients
                                p.grad = None
                            vae.enable_hooks()
                        sums += torch.stack([reconstruction.detach().sum(), kl.detach().sum()])
                        seen += len(rows)
                    reconstruction_mean, kl_mean = (sums / max(seen, 1)).tolist()
                    bar.set_postfix(loss=f"{self.loss_factor * reconstruction_mean + kl_mean:.3f}", kl=f"{kl_mean:.3f}")

            # 7. the ledger, from the accountant's actual history
            self._close_ledger(budget, "encoder and decoder", [
                "conditional sampling: each category's latent Gaussian is fitted to prior codes "
                "whose decoded row has it",
                "decoder steps on prior codes towards the released noisy marginals (marginal_weight)",
            ])
            with torch.no_grad():
                self.decoder_.sigma.copy_(scale.sigma)
            vae.remove_hooks()
            self.decoder_.eval()
            self.latents_ = self._latents_from_prior()

    @torch.no_grad()
    def _latents_from_prior(self) -> CategoryLatents:
        """Per category, the Gaussian of prior codes whose decoded row has that category (shrunk to N(0, I)).

        Generated rows only, so it costs no privacy; `PRIOR_ROWS` pseudo-rows
        of the prior keep a rarely generated category's Gaussian sensible.
        """
        device = torch.device(self.device)
        blocks = self.transformer_.categorical_blocks()
        n_categories = sum(width for _, _, width in blocks)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        z = torch.randn(LATENT_PROBE_ROWS, self.embedding_dim, device=device, generator=generator)
        rows = self.layout_.sample(self.decoder_(z), generator)
        count = torch.zeros(n_categories, device=device)
        first = torch.zeros(n_categories, self.embedding_dim, device=device)
        second = torch.zeros(n_categories, self.embedding_dim, device=device)
        for start, (_, offset, width) in zip(self._block_starts(), blocks, strict=True):
            category = start + rows[:, offset : offset + width].argmax(dim=1)
            count.index_add_(0, category, torch.ones(len(z), device=device))
            first.index_add_(0, category, z)
            second.index_add_(0, category, z**2)
        return CategoryLatents.from_moments(count, first, second)
