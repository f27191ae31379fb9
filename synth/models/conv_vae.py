"""ConvVAE: a class-conditional convolutional variational autoencoder (Kingma & Welling 2014;
conditional as in Sohn et al. 2015).

Encoder: the image, with its class as one-hot feature maps, through two
strided convolutions to the mean and log-variance of a diagonal Gaussian
q(z | x, y). Decoder: the latent code and the one-hot class through a linear
layer and two transposed convolutions to pixel logits. Pixels in [0, 1] are
scored with a Bernoulli likelihood (binary cross-entropy, the usual choice
for MNIST-like data) plus `beta` × KL(q(z | x, y) ‖ N(0, I)). The image size
must be divisible by 4.

Sampling decodes prior codes z ~ N(0, I) with the requested class and
returns the mean image (sigmoid of the logits): smooth, a little blurry,
as VAE samples are. Because the latent space is smooth, `interpolate` walks
in a straight line between two sampled codes (and, if asked, between two
classes' one-hot vectors) and decodes every step: the report's
interpolation grid.

Saved: `config.json` and the decoder's weights (the encoder is only needed
to train). Training images are never stored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synth.errors import GeneratorInputError
from synth.images import ImageSet, label_index, to_uint8
from synth.models.base import ImageGenerator
from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import ConvVAEConfig
from synth.models.io import load_module
from synth.models.stopping import Validation, validation_seed
from synth.models.training import seeded, training
from synth.sampling import fresh_seed

WEIGHTS_NAME = "decoder.safetensors"


class Encoder(nn.Module):
    """(image in [0, 1], one-hot class) → (mu, logvar), each (B, latent_dim)."""

    def __init__(self, channels: int, num_classes: int, width: int, size: int, latent_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels + num_classes, width, 4, 2, 1),  # S → S/2
            nn.ReLU(True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # S/2 → S/4
            nn.ReLU(True),
            nn.Flatten(),
        )
        self.out = nn.Linear(2 * width * (size // 4) ** 2, 2 * latent_dim)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.out(self.net(torch.cat([x, maps], dim=1))).chunk(2, dim=1)


class Decoder(nn.Module):
    """(latent code, class vector) → pixel logits (B, C, S, S). The class vector may be a mix of one-hots."""

    def __init__(self, channels: int, num_classes: int, width: int, size: int, latent_dim: int):
        super().__init__()
        self.base, self.width = size // 4, width
        self.project = nn.Sequential(nn.Linear(latent_dim + num_classes, 2 * width * self.base**2), nn.ReLU(True))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),  # S/4 → S/2
            nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),  # S/2 → S
        )

    def forward(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, onehot], dim=1)).view(len(z), 2 * self.width, self.base, self.base)
        return self.net(h)


class ConvVAE(ImageGenerator):
    """Class-conditional convolutional VAE; hyperparameters in `ConvVAEConfig`, learned state ends in `_`."""

    kind = "conv_vae"
    config_class = ConvVAEConfig
    fitted_attribute = "decoder_"

    def _networks(self) -> tuple[int, int, int]:
        height, _, channels = self.image_shape_
        return channels, len(self.class_names_), height

    # -- training --------------------------------------------------------------
    def fit(self, images: ImageSet, checkpoint: TrainingCheckpoint | None = None) -> ConvVAE:
        """Train on `images`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        images = self._start_fit(images, divisor=4)  # with early stopping, less a held-out slice
        device = torch.device(self.device)
        channels, classes, size = self._networks()
        with training(device, self.seed):
            # 1. data once on the device, pixels in [0, 1] (the Bernoulli likelihood's range)
            started = time.perf_counter()
            x_all = (images.to_tensor(device) + 1) / 2
            onehot_all = F.one_hot(torch.from_numpy(images.labels).to(device), classes).float()
            self.transform_seconds_ = time.perf_counter() - started
            encoder = Encoder(channels, classes, self.width, size, self.latent_dim).to(device)
            decoder = Decoder(channels, classes, self.width, size, self.latent_dim).to(device)
            optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=self.lr)

            # resuming: the last checkpoint's weights, optimiser state, RNG state and losses (a fresh start: epoch 0)
            parts = {"encoder": encoder, "decoder": decoder, "optimiser": optimiser}
            checkpoint, bar = self._epochs(checkpoint, parts, device)
            for epoch in bar:
                sums = torch.zeros(2, device=device)  # reconstruction, KL; summed over the epoch's images
                for rows in torch.randperm(len(x_all), device=device).split(self.batch_size):
                    x, onehot = x_all[rows], onehot_all[rows]
                    # 2. encode, and draw a code with the reparameterisation trick
                    mu, logvar = encoder(x, onehot)
                    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                    # 3. negative ELBO per image: Bernoulli reconstruction + beta · KL to the prior
                    reconstruction = F.binary_cross_entropy_with_logits(decoder(z, onehot), x, reduction="sum")
                    kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
                    loss = (reconstruction + self.beta * kl) / len(x)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    sums += torch.stack([reconstruction.detach(), kl.detach()])
                reconstruction_mean, kl_mean = (sums / len(x_all)).tolist()
                losses = {"loss": reconstruction_mean + self.beta * kl_mean, "reconstruction": reconstruction_mean,
                          "kl": kl_mean}
                self.loss_history_.append(losses)
                bar.set_postfix(loss=f"{losses['loss']:.2f}", kl=f"{kl_mean:.2f}")
                # 4. a checkpoint when one is due (every few minutes, and after the last epoch)
                checkpoint.end_of_epoch(epoch + 1, self.epochs, parts, self.loss_history_)
        self.decoder_ = decoder.eval()
        return self

    def _validation(self, parts: dict[str, Any], device: torch.device, held_out: ImageSet) -> Validation:
        """Early stopping's score: the loss on the held-out images (negative β-ELBO per image), with one fixed
        draw of the reparameterisation noise, so scores differ only by the weights."""
        encoder, decoder = parts["encoder"], parts["decoder"]
        x_all = (held_out.to_tensor(device) + 1) / 2
        onehot_all = F.one_hot(torch.from_numpy(held_out.labels).to(device), len(self.class_names_)).float()
        generator = torch.Generator(device=device).manual_seed(validation_seed(self.seed))
        noise_all = torch.randn(len(x_all), self.latent_dim, device=device, generator=generator)

        def measure() -> float:
            total = 0.0
            for rows in torch.arange(len(x_all), device=device).split(self.batch_size):
                x, onehot = x_all[rows], onehot_all[rows]
                mu, logvar = encoder(x, onehot)
                z = mu + noise_all[rows] * torch.exp(0.5 * logvar)
                reconstruction = F.binary_cross_entropy_with_logits(decoder(z, onehot), x, reduction="sum")
                kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
                total += float(reconstruction + self.beta * kl)
            return total / len(x_all)

        return Validation("held-out loss (reconstruction + beta·KL per image)", measure, higher_is_better=False)

    # -- one batch of sampling ------------------------------------------------------
    def _mean_image(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Codes and class vectors → the decoder's mean images, in [-1, 1]."""
        return torch.sigmoid(self.decoder_(z, classes)) * 2 - 1

    def _draw_images(self, y: torch.Tensor) -> torch.Tensor:
        """Prior codes decoded with their class."""
        onehot = F.one_hot(y, len(self.class_names_)).float()
        return self._mean_image(torch.randn(len(y), self.latent_dim, device=y.device), onehot)

    @torch.no_grad()
    def interpolate(self, label: Any, to_label: Any | None = None, steps: int = 8,
                    seed: int | None = None) -> np.ndarray:
        """Decode `steps` points on the straight line between two sampled latent codes, uint8 (steps, H, W, C).

        Both ends are samples of class `label`; with `to_label` the class vector
        also moves linearly from `label`'s one-hot to `to_label`'s, so the row
        morphs one class into the other.
        """
        self._check_fitted()
        if steps < 2:
            raise GeneratorInputError(f"steps must be at least 2 (the two end points), got {steps}")
        start = label_index(label, self.class_names_)
        end = start if to_label is None else label_index(to_label, self.class_names_)
        seed = fresh_seed() if seed is None else seed
        device = torch.device(self.device)
        with seeded(device, seed):
            z0, z1 = torch.randn(2, self.latent_dim, device=device)
        w = torch.linspace(0, 1, steps, device=device)[:, None]  # (steps, 1)
        eye = torch.eye(len(self.class_names_), device=device)
        return to_uint8(self._mean_image((1 - w) * z0 + w * z1, (1 - w) * eye[start] + w * eye[end]))

    # -- persistence: the decoder (the encoder only trains) -------------------------------------------------
    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.decoder_.state_dict()}

    def _restore_networks(self, folder: Path, config: dict[str, Any]) -> None:
        channels, classes, size = self._networks()
        decoder = Decoder(channels, classes, self.width, size, self.latent_dim)
        self.decoder_ = load_module(decoder, folder, WEIGHTS_NAME).to(self.device).eval()
