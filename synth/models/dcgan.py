"""DCGAN: a class-conditional deep convolutional GAN (Radford et al. 2016).

The DCGAN recipe: transposed convolutions with batch norm and ReLU in the
generator, strided convolutions with LeakyReLU(0.2) in the discriminator,
tanh output in [-1, 1], Adam with beta1 = 0.5. Two resolution levels, so the
image size must be divisible by 4 (8×8 digits: 2 → 4 → 8; Fashion-MNIST:
7 → 14 → 28).

Conditioning: the generator gets a learned class embedding concatenated to
its noise vector; the discriminator is a *projection discriminator* (Miyato
& Koyama 2018): its logit is a linear score of its features plus the inner
product of those features with an embedding of the class, so it judges
"is this a real image of class y", not only "is this real". Loss: the
non-saturating GAN loss (binary cross-entropy on logits).

Saved: `config.json` and the generator's weights; the discriminator is only
needed to train. Training images are never stored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from synth.images import ImageSet
from synth.models.base import ImageGenerator
from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import DCGANConfig
from synth.models.io import load_module
from synth.models.training import training

WEIGHTS_NAME = "generator.safetensors"


class Generator(nn.Module):
    """(noise z, class y) → image (C, S, S) in [-1, 1]."""

    def __init__(self, latent_dim: int, num_classes: int, embedding_dim: int, width: int, channels: int, size: int):
        super().__init__()
        self.base = size // 4
        self.embed = nn.Embedding(num_classes, embedding_dim)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + embedding_dim, 2 * width * self.base * self.base, bias=False),
            nn.BatchNorm1d(2 * width * self.base * self.base),
            nn.ReLU(True),
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),  # S/4 → S/2
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),  # S/2 → S
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (B, latent), (B,) -> (B, C, S, S)
        h = self.project(torch.cat([z, self.embed(y)], dim=1))
        return self.net(h.view(len(z), -1, self.base, self.base))


class Discriminator(nn.Module):
    """(image, class) → logit of "a real image of this class" (projection discriminator)."""

    def __init__(self, num_classes: int, width: int, channels: int, size: int):
        super().__init__()
        features = 2 * width * (size // 4) ** 2
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),  # S → S/2
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),  # S/2 → S/4
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        self.score = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # -> (B,)
        h = self.net(x)
        return self.score(h).squeeze(1) + (self.embed(y) * h).sum(1)


class DCGAN(ImageGenerator):
    """Class-conditional DCGAN; hyperparameters in `DCGANConfig`, learned state ends in `_`."""

    kind = "dcgan"
    config_class = DCGANConfig
    fitted_attribute = "generator_"

    def _build_generator(self) -> Generator:
        height, _, channels = self.image_shape_
        return Generator(self.latent_dim, len(self.class_names_), self.embedding_dim, self.width, channels, height)

    # -- training --------------------------------------------------------------
    def fit(self, images: ImageSet, checkpoint: TrainingCheckpoint | None = None) -> DCGAN:
        """Train on `images`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        self._start_fit(images, divisor=4)
        height, _, channels = images.shape
        device = torch.device(self.device)
        with training(device, self.seed):
            # 1. data once on the device in [-1, 1]; networks with DCGAN's N(0, 0.02) initialisation
            started = time.perf_counter()
            real_all = images.to_tensor(device)
            y_all = torch.from_numpy(images.labels).to(device)
            self.transform_seconds_ = time.perf_counter() - started
            generator = self._build_generator().to(device)
            discriminator = Discriminator(images.num_classes, self.width, channels, height).to(device)
            for module in (*generator.modules(), *discriminator.modules()):
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    nn.init.normal_(module.weight, 0.0, 0.02)
            betas = (self.beta1, 0.999)
            opt_g = torch.optim.Adam(generator.parameters(), lr=self.generator_lr, betas=betas)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.discriminator_lr, betas=betas)

            # resuming: the last checkpoint's weights, batch-norm statistics, optimiser state, RNG state and losses
            parts = {"generator": generator, "discriminator": discriminator, "opt_g": opt_g, "opt_d": opt_d}
            checkpoint, bar = self._epochs(checkpoint, parts, device)
            for epoch in bar:
                sums, steps = torch.zeros(2, device=device), 0
                # whole batches only: batch norm statistics of a tiny last batch are noise
                order = torch.randperm(len(real_all), device=device)
                for rows in order[: len(order) // self.batch_size * self.batch_size].split(self.batch_size):
                    real, y = real_all[rows], y_all[rows]
                    B = len(rows)
                    # 2. discriminator: real images of their class → 1, generated images of the same classes → 0
                    fake = generator(torch.randn(B, self.latent_dim, device=device), y)
                    d_real, d_fake = discriminator(real, y), discriminator(fake.detach(), y)
                    loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                    # 3. generator: the non-saturating loss, make the discriminator call its images real
                    d_fake = discriminator(fake, y)
                    loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                    sums += torch.stack([loss_d.detach(), loss_g.detach()])
                    steps += 1
                loss_d_mean, loss_g_mean = (sums / max(steps, 1)).tolist()
                losses = {"discriminator": loss_d_mean, "generator": loss_g_mean}
                self.loss_history_.append(losses)
                bar.set_postfix(d=f"{loss_d_mean:.3f}", g=f"{loss_g_mean:.3f}")
                # 4. a checkpoint when one is due (every few minutes, and after the last epoch)
                checkpoint.end_of_epoch(epoch + 1, self.epochs, parts, self.loss_history_)
        self.generator_ = generator.eval()
        return self

    # -- one batch of sampling ------------------------------------------------------
    def _draw_images(self, y: torch.Tensor) -> torch.Tensor:
        return self.generator_(torch.randn(len(y), self.latent_dim, device=y.device), y)

    # -- persistence: the generator (the discriminator only trains) ---------------------------------------------
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.generator_.state_dict()}

    def _restore_networks(self, folder: Path, config: dict[str, Any]) -> None:
        self.generator_ = load_module(self._build_generator(), folder, WEIGHTS_NAME).to(self.device).eval()
