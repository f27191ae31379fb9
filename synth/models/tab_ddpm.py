"""TabDDPM: a denoising diffusion model for mixed-type tables (after Kotelnikov et al., ICML 2023).

The row is the one every neural tabular generator here learns
(`synth.transformer.DataTransformer`): per numeric column an `alpha` in
[-1, 1] and a one-hot of its mode (point masses and missing values are
slots of that block), per categorical column a one-hot block. Both parts
are diffused with one Gaussian forward process on a cosine schedule, the
numbers as `ALPHA_SCALE * alpha` (about unit variance inside a mode) and
each one-hot block as ±1. The denoiser is an MLP with a sinusoidal
timestep embedding, as in TabDDPM; it predicts

- the noise of each numeric value (the usual ε-prediction, squared error),
- the clean category of each one-hot block, as logits (cross-entropy, the
  same per-block loss as TVAE's: `BlockLayout.block_nll`).

Why not TabDDPM's multinomial diffusion for the categories: predicting a
block's clean category and diffusing its ±1 code keeps one process, one
sampler and one schedule for every column, and a conditioned block is then
fixed exactly by replacing its prediction with the requested category at
every step (inpainting): any categorical column, or several at once, can
be a condition without a second model or classifier-free guidance.

Sampling is deterministic DDIM (η = 0) over `sampling_steps` of the
`num_timesteps` training steps (fresh noise at every step, η = 1, measured no
better on Adult at 25, 50 or 100 steps): at each step the clean row is
estimated (numbers from the predicted noise, each one-hot block as the
expectation of its predicted softmax, conditioned blocks as their category)
and moved to the next noise level. The last step's logits are sampled per block (not their
argmax, as for CTGAN and TVAE), so categories keep their spread. Sampling
runs in the seeded blocks of `synth.models.base`: block j's starting noise
comes from its own generator, so rows do not depend on how output is
chunked. The weights sampled from are an exponential moving average of the
trained ones (`ema_decay`).

Training length is set in optimiser steps (`steps`), not epochs: as many
whole epochs run as give at least that many batches, so a small table is
not undertrained and a large one does not take hours.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from synth.errors import GeneratorInputError
from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import TabDDPMConfig
from synth.models.io import load_module
from synth.models.tabular import Conditions, EncodedTabularGenerator, Proposer
from synth.models.training import autocast, ema_update, training

WEIGHTS_NAME = "denoiser.safetensors"
#: A numeric value is diffused as ALPHA_SCALE * alpha: alpha = (x - mode mean) / (4 * mode std), so this is the
#: value's distance from its mode's mean in standard deviations (unit variance, like the noise).
ALPHA_SCALE = 4.0
#: Sinusoidal features of the timestep fed to the denoiser.
TIME_FEATURES = 128
#: The logit gap that makes a conditioned block's category certain in the proposed row (exp(-30) ≈ 1e-13).
CERTAIN = 30.0


def cosine_alphas_cumprod(timesteps: int) -> torch.Tensor:
    """ᾱ_t for t = 0 .. timesteps-1 of the cosine schedule (Nichol & Dhariwal 2021; diffusers' squaredcos_cap_v2):
    β_t = min(1 - f(t+1)/f(t), 0.999) with f(t) = cos²((t/T + 0.008) / 1.008 · π/2)."""
    f = lambda t: math.cos((t / timesteps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = torch.tensor([min(1 - f(t + 1) / f(t), 0.999) for t in range(timesteps)], dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0).float()


class Denoiser(nn.Module):
    """(noisy row, timestep) → per numeric value its predicted noise, per one-hot block its clean-category logits.

    TabDDPM's MLP: the row is projected to the first hidden width and added to an embedding of the timestep,
    then Linear+SiLU layers (with dropout) and a linear head as wide as the row.
    """

    def __init__(self, data_dim: int, hidden_dims: tuple[int, ...], dropout: float):
        super().__init__()
        width = hidden_dims[0]
        self.project = nn.Linear(data_dim, width)
        self.time = nn.Sequential(nn.Linear(TIME_FEATURES, width), nn.SiLU(), nn.Linear(width, width))
        layers, dim = [], width
        for next_width in hidden_dims[1:]:
            layers += [nn.SiLU(), nn.Dropout(dropout), nn.Linear(dim, next_width)]
            dim = next_width
        layers += [nn.SiLU(), nn.Linear(dim, data_dim)]
        self.net = nn.Sequential(*layers)
        half = TIME_FEATURES // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10_000) * torch.arange(half) / half),
                             persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # (B, D), (B,) or (1,) -> (B, D)
        angles = t.float()[:, None] * self.frequencies[None, :]
        embedding = self.time(torch.cat([angles.cos(), angles.sin()], dim=1))  # (B or 1, width)
        return self.net(self.project(x) + embedding)


class TabDDPM(EncodedTabularGenerator):
    """Tabular diffusion; hyperparameters in `TabDDPMConfig`, learned state ends in `_`."""

    kind = "tab_ddpm"
    config_class = TabDDPMConfig
    fitted_attribute = "denoiser_"

    @property
    def _alphas_cumprod(self) -> torch.Tensor:
        if getattr(self, "_abar", None) is None or self._abar.device != torch.device(self.device):
            self._abar = cosine_alphas_cumprod(self.num_timesteps).to(self.device)
        return self._abar

    def _diffusion_space(self, data: torch.Tensor) -> torch.Tensor:
        """Encoded rows (alphas in [-1, 1], one-hots) → the values diffused: ALPHA_SCALE·alpha and ±1 codes."""
        x = data * 2 - 1
        x[:, self.layout_.tanh_cols] = data[:, self.layout_.tanh_cols] * ALPHA_SCALE
        return x

    # -- training --------------------------------------------------------------
    def _fit(self, table: pd.DataFrame, checkpoint: TrainingCheckpoint | None = None) -> None:
        """Train on `table`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        if len(table) < 2:
            raise GeneratorInputError(f"{self.title} needs at least 2 training rows, got {len(table)}")
        device = torch.device(self.device)
        with training(device, self.seed):
            # 1. encode the table once; from here on everything is a tensor on `device`
            data = self._public_encode(table, device)
            x0_all = self._diffusion_space(data)
            targets = self.layout_.padded(data).argmax(dim=-1)  # (N, n_blocks): each block's category
            numeric = self.layout_.tanh_cols
            abar = self._alphas_cumprod

            # 2. the denoiser, its moving average and the optimiser (AdamW, as TabDDPM)
            denoiser = Denoiser(data.shape[1], self.hidden_dims, self.dropout).to(device)
            ema = copy.deepcopy(denoiser).requires_grad_(False) if self.ema_decay else None
            optimiser = torch.optim.AdamW(denoiser.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            batch = min(self.batch_size, len(data))
            steps_per_epoch = math.ceil(len(data) / batch)
            epochs = math.ceil(self.steps / steps_per_epoch)
            mixed = autocast(device, self.precision)  # re-entered every step; a no-op at fp32

            self.denoiser_ = ema if ema is not None else denoiser  # early stopping samples through it
            parts = {"denoiser": denoiser, "optimiser": optimiser, **({"ema": ema} if ema is not None else {})}
            checkpoint, bar = self._epochs(checkpoint, parts, device, total=epochs)
            for epoch in bar:
                sums = torch.zeros(2, device=device)  # squared error, cross-entropy; summed over the epoch's batches
                for i, rows in enumerate(torch.randperm(len(data), device=device).split(batch)):
                    x0, y = x0_all[rows], targets[rows]
                    # 3. noise each row to a random timestep: x_t = √ᾱ x0 + √(1-ᾱ) ε
                    t = torch.randint(self.num_timesteps, (len(rows),), device=device)
                    noise = torch.randn_like(x0)
                    a = abar[t][:, None]
                    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
                    with mixed:
                        out = denoiser(xt, t).float()
                        # 4. ε-prediction for the numbers, the clean category of every block
                        mse = ((out[:, numeric] - noise[:, numeric]) ** 2).mean() if len(numeric) else out.new_zeros(())
                        ce = self.layout_.block_nll(out, y).mean()
                        loss = mse + ce
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    # 5. EMA of the weights (warmed up: synth.models.training.ema_update)
                    if ema is not None:
                        ema_update(ema, denoiser, self.ema_decay, epoch * steps_per_epoch + i)
                    sums += torch.stack([mse.detach(), ce.detach()])
                mse_mean, ce_mean = (sums / steps_per_epoch).tolist()
                losses = {"loss": mse_mean + ce_mean, "noise_mse": mse_mean, "category_ce": ce_mean}
                self.loss_history_.append(losses)
                bar.set_postfix(mse=f"{mse_mean:.3f}", ce=f"{ce_mean:.3f}")
                checkpoint.end_of_epoch(epoch + 1, epochs, parts, self.loss_history_)
        self.denoiser_ = (ema if ema is not None else denoiser).eval()

    # -- one block of sampling ------------------------------------------------------
    def _proposer(self, fixed: Conditions | None) -> Proposer:
        """Raw rows by DDIM from noise; every conditioned block is inpainted (its clean value is the requested
        category at every step), so all conditions hold in the proposal and the shared rejection step accepts
        it at once."""
        device = torch.device(self.device)
        layout = self.layout_
        numeric = layout.tanh_cols
        abar = self._alphas_cumprod
        timesteps = torch.linspace(self.num_timesteps - 1, 0, self.sampling_steps).round().long().unique_consecutive()
        known = None
        if fixed is not None:
            dims = torch.tensor([c.offset + i for c in fixed.items for i in range(c.width)], device=device)
            values = torch.tensor([1.0 if i == c.index else -1.0 for c in fixed.items for i in range(c.width)],
                                  device=device)
            known = (dims, values)

        def propose(m: int, g: torch.Generator) -> torch.Tensor:
            x = torch.randn(m, layout.data_dim, device=device, generator=g)
            for i, t in enumerate(timesteps.tolist()):
                out = self.denoiser_(x, torch.tensor([t], device=device)).float()
                a = abar[t]
                a_next = abar[int(timesteps[i + 1])] if i + 1 < len(timesteps) else torch.ones((), device=device)
                x0 = torch.empty_like(x)
                x0[:, numeric] = ((x[:, numeric] - (1 - a).sqrt() * out[:, numeric]) / a.sqrt()).clamp(
                    -ALPHA_SCALE, ALPHA_SCALE)
                x0[:, layout.soft_cols] = layout.block_softmax(out) * 2 - 1
                if known is not None:
                    x0[:, known[0]] = known[1]
                eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
                x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps  # DDIM with η = 0: no fresh noise
            # the raw row `BlockLayout.sample` activates: atanh of the alphas, the last step's logits
            raw = out.clone()
            raw[:, numeric] = torch.atanh((x0[:, numeric] / ALPHA_SCALE).clamp(-1 + 1e-6, 1 - 1e-6))
            if known is not None:
                raw[:, known[0]] = (known[1] - 1) * CERTAIN / 2  # 0 for the category, -CERTAIN elsewhere
            return raw

        return propose

    # -- persistence: the (EMA) denoiser; the schedule follows from the hyperparameters ------------------------
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.denoiser_.state_dict()}

    def _restore_networks(self, folder: Path) -> None:
        self.denoiser_ = Denoiser(self.transformer_.output_dim, self.hidden_dims, self.dropout)
        load_module(self.denoiser_, folder, WEIGHTS_NAME).to(self.device).eval()
