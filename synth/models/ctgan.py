"""CTGAN: a conditional GAN for mixed-type tables (Xu et al., NeurIPS 2019).

The network shapes, the conditional vector and training-by-sampling follow
the paper and the reference `ctgan` package; the loop is ours so it can be
made fast and, later, private. Differences from the reference, for speed:
the encoded table, the per-category row index and the conditional-vector
sampler all live as tensors on the training device, so a training step
never goes back to pandas or NumPy; the transformer fits its mixtures on a
bounded subsample (see `synth.transformer`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from synth.errors import GeneratorInputError
from synth.models.io import load_module, read_config, save_tensors, write_config
from synth.transformer import DataTransformer

WEIGHTS_NAME = "generator.safetensors"


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
        alpha = torch.rand(real.shape[0] // self.pac, 1, 1, device=real.device)
        alpha = alpha.repeat(1, self.pac, real.shape[1]).reshape(-1, real.shape[1])
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self(mixed).sum(), mixed, create_graph=True)
        norm = grad.reshape(-1, self.pac * real.shape[1]).norm(2, dim=1)
        return ((norm - 1) ** 2).mean() * weight


class CondSampler:
    """Training-by-sampling on the device: pick a categorical column uniformly,
    a category by log-frequency, then a real row holding that category."""

    def __init__(self, data: torch.Tensor, blocks: list[tuple[str, int, int]]):
        device = data.device
        self.n_blocks = len(blocks)
        self.cond_dim = sum(width for _, _, width in blocks)
        if not self.n_blocks:
            return
        widths = torch.tensor([w for _, _, w in blocks], device=device)
        self.block_start = torch.cumsum(widths, 0) - widths  # offset of each block in the cond vector
        self.block_width = widths
        rows_by_category, counts = [], []
        for _, offset, width in blocks:
            category = data[:, offset : offset + width].argmax(dim=1)
            order = torch.argsort(category, stable=True)
            rows_by_category.append(order)
            counts.append(torch.bincount(category, minlength=width))
        self.count = torch.cat(counts).float()  # (cond_dim,)
        # Row ids grouped by (column, category): rows of global category g are
        # row_index[col_of_g][start[g] : start[g] + count[g]].
        self.row_index = torch.stack(rows_by_category)  # (n_blocks, n_rows)
        within = torch.cat([torch.cumsum(c, 0) - c for c in counts])
        self.start = within
        log_freq = torch.log1p(self.count)
        # Per block, a padded table of log-frequency probabilities.
        max_w = int(widths.max())
        probs = torch.zeros(self.n_blocks, max_w, device=device)
        for b in range(self.n_blocks):
            s, w = int(self.block_start[b]), int(widths[b])
            probs[b, :w] = log_freq[s : s + w] / log_freq[s : s + w].sum()
        self.log_probs = probs

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (cond vector (B, cond_dim), chosen-column mask (B, n_blocks), real row ids (B,))."""
        device = self.log_probs.device
        column = torch.randint(self.n_blocks, (batch,), device=device)
        category = torch.multinomial(self.log_probs[column], 1).squeeze(1)
        global_cat = self.block_start[column] + category
        cond = torch.zeros(batch, self.cond_dim, device=device)
        cond[torch.arange(batch, device=device), global_cat] = 1.0
        mask = F.one_hot(column, self.n_blocks).float()
        offset = (torch.rand(batch, device=device) * self.count[global_cat]).long()
        rows = self.row_index[column, self.start[global_cat] + offset]
        return cond, mask, rows


class CTGAN:
    """Conditional tabular GAN. Hyperparameters are stored unchanged; learned state ends in `_`."""

    kind = "ctgan"

    def __init__(
        self,
        epochs: int = 300,
        batch_size: int = 500,
        embedding_dim: int = 128,
        generator_dim: tuple[int, ...] = (256, 256),
        discriminator_dim: tuple[int, ...] = (256, 256),
        generator_lr: float = 2e-4,
        discriminator_lr: float = 2e-4,
        discriminator_steps: int = 1,
        pac: int = 10,
        max_modes: int = 10,
        transformer_sample_size: int = 5_000,
        device: str = "cpu",
        seed: int = 0,
        verbose: bool = True,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dim = tuple(generator_dim)
        self.discriminator_dim = tuple(discriminator_dim)
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.discriminator_steps = discriminator_steps
        self.pac = pac
        self.max_modes = max_modes
        self.transformer_sample_size = transformer_sample_size
        self.device = device
        self.seed = seed
        self.verbose = verbose

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "embedding_dim": self.embedding_dim,
            "generator_dim": list(self.generator_dim),
            "discriminator_dim": list(self.discriminator_dim),
            "generator_lr": self.generator_lr,
            "discriminator_lr": self.discriminator_lr,
            "discriminator_steps": self.discriminator_steps,
            "pac": self.pac,
            "max_modes": self.max_modes,
            "transformer_sample_size": self.transformer_sample_size,
        }

    # -- activations shared by training and sampling -------------------------------
    def _activate(self, raw: torch.Tensor, hard: bool) -> torch.Tensor:
        """tanh for alpha spans; Gumbel-softmax for one-hot blocks.

        `hard=True` (sampling) returns a one-hot *sample* from each block's
        softmax, not its argmax: taking the most likely mode or category every
        time would collapse each column onto its peak.
        """
        out, offset = [], 0
        for width, activation in self.transformer_.spans:
            chunk = raw[:, offset : offset + width]
            if activation == "tanh":
                out.append(torch.tanh(chunk))
            else:
                out.append(F.gumbel_softmax(chunk, tau=0.2, hard=hard))
            offset += width
        return torch.cat(out, dim=1)

    def _cond_loss(self, raw: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between the generated category and the one asked for, chosen column only."""
        losses = []
        for b, (_, offset, width) in enumerate(self.transformer_.categorical_blocks()):
            start = int(self.sampler_.block_start[b])
            target = cond[:, start : start + width].argmax(dim=1)
            losses.append(F.cross_entropy(raw[:, offset : offset + width], target, reduction="none"))
        return (torch.stack(losses, dim=1) * mask).sum() / raw.shape[0]

    # -- training --------------------------------------------------------------
    def fit(self, table: pd.DataFrame) -> "CTGAN":
        if len(table) < self.batch_size:
            raise GeneratorInputError(
                f"the training table has {len(table)} rows, fewer than batch_size={self.batch_size}; "
                f"lower generator.batch_size to at most {len(table) - len(table) % self.pac} (a multiple of pac={self.pac})"
            )
        if self.batch_size % self.pac:
            raise GeneratorInputError(f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})")
        from tqdm.auto import tqdm

        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            # 1. encode the table once; from here on everything is a tensor on `device`
            started = time.perf_counter()
            self.transformer_ = DataTransformer(self.max_modes, self.transformer_sample_size).fit(table, seed=self.seed)
            data = torch.from_numpy(self.transformer_.transform(table, seed=self.seed)).to(device)
            self.sampler_ = CondSampler(data, self.transformer_.categorical_blocks())
            self.transform_seconds_ = time.perf_counter() - started
            data_dim, cond_dim = data.shape[1], self.sampler_.cond_dim

            # 2. networks and optimisers (betas and weight decay as in the paper's code)
            self.generator_ = Generator(self.embedding_dim + cond_dim, self.generator_dim, data_dim).to(device)
            discriminator = Discriminator(data_dim + cond_dim, self.discriminator_dim, self.pac).to(device)
            opt_g = torch.optim.Adam(self.generator_.parameters(), lr=self.generator_lr, betas=(0.5, 0.9), weight_decay=1e-6)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.discriminator_lr, betas=(0.5, 0.9), weight_decay=1e-6)

            B = self.batch_size
            steps_per_epoch = max(len(data) // B, 1)
            self.loss_history_: list[dict[str, float]] = []
            bar = tqdm(range(self.epochs), desc="CTGAN", unit="epoch", disable=not self.verbose)
            for _ in bar:
                for _ in range(steps_per_epoch):
                    # 3. discriminator step(s): real rows drawn to match a random cond vector
                    for _ in range(self.discriminator_steps):
                        cond, _, rows = self._sample_cond(B)
                        z = torch.randn(B, self.embedding_dim, device=device)
                        fake = self._activate(self.generator_(torch.cat([z, cond], 1)), hard=False)
                        real = data[rows] if rows is not None else data[torch.randint(len(data), (B,), device=device)]
                        # the real rows are paired with their own cond vector, shuffled like ctgan does
                        perm = torch.randperm(B, device=device)
                        fake_in, real_in = torch.cat([fake, cond], 1), torch.cat([real[perm], cond[perm]], 1)
                        loss_d = discriminator(fake_in).mean() - discriminator(real_in).mean()
                        penalty = discriminator.gradient_penalty(real_in, fake_in)
                        opt_d.zero_grad(set_to_none=True)
                        (loss_d + penalty).backward()
                        opt_d.step()

                    # 4. generator step: fool the discriminator and honour the cond vector
                    cond, mask, _ = self._sample_cond(B)
                    z = torch.randn(B, self.embedding_dim, device=device)
                    raw = self.generator_(torch.cat([z, cond], 1))
                    fake = self._activate(raw, hard=False)
                    loss_g = -discriminator(torch.cat([fake, cond], 1)).mean()
                    if mask is not None:
                        loss_g = loss_g + self._cond_loss(raw, cond, mask)
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                losses = {"generator": loss_g.item(), "discriminator": loss_d.item()}
                self.loss_history_.append(losses)
                bar.set_postfix(loss_g=f"{losses['generator']:.3f}", loss_d=f"{losses['discriminator']:.3f}")
        self.generator_.eval()
        return self

    def _sample_cond(self, batch: int):
        if not self.sampler_.n_blocks:
            return torch.zeros(batch, 0, device=self.device), None, None
        return self.sampler_.sample(batch)

    # -- sampling --------------------------------------------------------------
    def sample(self, n: int, conditions: dict[str, Any] | None = None, seed: int | None = None) -> pd.DataFrame:
        """Generate `n` rows. `conditions={"income": ">50K"}` fixes one categorical column exactly."""
        self._check_fitted()
        if n < 1:
            raise GeneratorInputError(f"n must be a positive number of rows, got {n}")
        fixed = self._fixed_condition(conditions)
        device = torch.device(self.device)
        seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        chunks, B = [], max(self.batch_size, 1000)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, n, B):
                size = min(B, n - start)
                cond = self._sampling_cond(size, fixed)
                z = torch.randn(size, self.embedding_dim, device=device)
                out = self._activate(self.generator_(torch.cat([z, cond], 1)), hard=True)
                if fixed is not None:  # exact: the conditioned block is the condition
                    _, offset, width, index = fixed
                    out[:, offset : offset + width] = F.one_hot(torch.full((size,), index, device=device), width).float()
                chunks.append(out.cpu().numpy())
        return self.transformer_.inverse_transform(np.concatenate(chunks))

    def _fixed_condition(self, conditions: dict[str, Any] | None):
        if not conditions:
            return None
        blocks = {name: (b, offset, width) for b, (name, offset, width) in enumerate(self.transformer_.categorical_blocks())}
        problems = []
        for column in conditions:
            if column not in blocks:
                problems.append(f"{column!r} is not a categorical column of this model (categorical: {sorted(blocks)})")
        if len(conditions) > 1:
            problems.append("CTGAN conditions on one column at a time; pass a single column")
        if problems:
            raise GeneratorInputError("; ".join(problems))
        column, value = next(iter(conditions.items()))
        b, offset, width = blocks[column]
        categories = next(c for c in self.transformer_.columns_ if c.name == column).state["categories"]
        if value not in categories:
            raise GeneratorInputError(f"condition {column}={value!r}: not a category seen in training; known: {categories}")
        return b, offset, width, categories.index(value)

    def _sampling_cond(self, size: int, fixed) -> torch.Tensor:
        """Cond vectors at sampling time: by the real category frequencies, or the fixed condition."""
        device = torch.device(self.device)
        cond = torch.zeros(size, self.sampler_.cond_dim, device=device)
        if not self.sampler_.n_blocks:
            return cond
        if fixed is not None:
            b, _, _, index = fixed
            cond[:, int(self.sampler_.block_start[b]) + index] = 1.0
            return cond
        column = torch.randint(self.sampler_.n_blocks, (size,), device=device)
        start = self.sampler_.block_start[column]
        width = self.sampler_.block_width[column]
        probs = torch.zeros(size, int(self.sampler_.block_width.max()), device=device)
        counts = self.sampler_.count
        for b in range(self.sampler_.n_blocks):
            s, w = int(self.sampler_.block_start[b]), int(self.sampler_.block_width[b])
            probs[column == b, :w] = counts[s : s + w] / counts[s : s + w].sum()
        category = torch.multinomial(probs, 1).squeeze(1).clamp(max=width - 1)
        cond[torch.arange(size, device=device), start + category] = 1.0
        return cond

    # -- persistence -----------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise GeneratorInputError("this CTGAN is not fitted yet; call fit(table) or CTGAN.load(folder) first")

    def save(self, folder: str | Path) -> Path:
        """Write `config.json` (hyperparameters, transformer and sampler statistics) and safetensors weights."""
        self._check_fitted()
        folder = Path(folder)
        write_config(folder, self.kind, hyperparameters=self.hyperparameters(), seed=self.seed, transformer=self.transformer_.state_dict())
        save_tensors(folder, WEIGHTS_NAME, self.generator_.state_dict())
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> "CTGAN":
        folder = Path(folder)
        config = read_config(folder, cls.kind)
        model = cls(**config["hyperparameters"], device=device, seed=config.get("seed", 0), verbose=False)
        model.transformer_ = DataTransformer.from_state_dict(config["transformer"])
        # Sampling needs only the category counts, which the transformer's state holds.
        model.sampler_ = _CountSampler(model.transformer_, torch.device(device))
        data_dim = model.transformer_.output_dim
        model.generator_ = Generator(model.embedding_dim + model.sampler_.cond_dim, model.generator_dim, data_dim)
        load_module(model.generator_, folder, WEIGHTS_NAME).to(device).eval()
        model.loss_history_, model.transform_seconds_ = [], 0.0
        return model


class _CountSampler:
    """What sampling needs of `CondSampler`, rebuilt from saved category counts."""

    def __init__(self, transformer: DataTransformer, device: torch.device):
        blocks = transformer.categorical_blocks()
        counts = [
            torch.tensor(next(c for c in transformer.columns_ if c.name == name).state["frequencies"], dtype=torch.float32)
            for name, _, _ in blocks
        ]
        self.n_blocks = len(blocks)
        self.cond_dim = sum(w for _, _, w in blocks)
        widths = torch.tensor([w for _, _, w in blocks], dtype=torch.long)
        self.block_width = widths.to(device)
        self.block_start = (torch.cumsum(widths, 0) - widths).to(device)
        self.count = torch.cat(counts).to(device) if counts else torch.zeros(0, device=device)
