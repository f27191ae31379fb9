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

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synth.errors import GeneratorInputError
from synth.images import ClassConditionalSampling, ImageSet, to_uint8
from synth.models.io import load_module, read_config, save_tensors, write_config
from synth.models.checkpoint import NO_CHECKPOINT, TrainingCheckpoint
from synth.models.training import seeded, training
from synth.sampling import fresh_seed

WEIGHTS_NAME = "generator.safetensors"
SAMPLE_BATCH = 1000


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


class DCGAN(ClassConditionalSampling):
    """Class-conditional DCGAN. Hyperparameters are stored unchanged; learned state ends in `_`."""

    kind = "dcgan"

    def __init__(
        self,
        epochs: int = 50,
        batch_size: int = 128,
        latent_dim: int = 100,
        width: int = 64,
        embedding_dim: int = 32,
        generator_lr: float = 2e-4,
        discriminator_lr: float = 2e-4,
        beta1: float = 0.5,
        device: str = "cpu",
        seed: int = 0,
        verbose: bool = True,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.width = width
        self.embedding_dim = embedding_dim
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.beta1 = beta1
        self.device = device
        self.seed = seed
        self.verbose = verbose

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "embedding_dim": self.embedding_dim,
            "generator_lr": self.generator_lr,
            "discriminator_lr": self.discriminator_lr,
            "beta1": self.beta1,
        }

    def _build_generator(self) -> Generator:
        height, _, channels = self.image_shape_
        return Generator(self.latent_dim, len(self.class_names_), self.embedding_dim, self.width, channels, height)

    # -- training --------------------------------------------------------------
    def fit(self, images: ImageSet, checkpoint: TrainingCheckpoint | None = None) -> "DCGAN":
        """Train on `images`; with `checkpoint` (synth.models.checkpoint), save the training state as it goes,
        or continue from its last save (the same model as an uninterrupted run)."""
        height, width, channels = images.shape
        if height != width or height % 4:
            raise GeneratorInputError(f"dcgan needs square images whose size is divisible by 4; got {height}×{width}. "
                                      f"Set source.image_size (e.g. {max(8, height // 4 * 4)})")
        if len(images) < self.batch_size:
            raise GeneratorInputError(f"{len(images)} training images, fewer than batch_size={self.batch_size}; "
                                      f"lower generator.batch_size to at most {len(images)}")
        from tqdm.auto import tqdm

        device = torch.device(self.device)
        self.class_names_ = list(images.class_names)
        self.class_counts_ = images.class_counts().tolist()
        self.image_shape_ = images.shape
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

            self.loss_history_: list[dict[str, float]] = []
            # resuming: the last checkpoint's weights, batch-norm statistics, optimiser state, RNG state and losses
            parts = {"generator": generator, "discriminator": discriminator, "opt_g": opt_g, "opt_d": opt_d}
            checkpoint = checkpoint or NO_CHECKPOINT
            first = checkpoint.start(parts, self.loss_history_, device)
            bar = tqdm(range(first, self.epochs), initial=first, total=self.epochs, desc="DCGAN", unit="epoch",
                       disable=not self.verbose)
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

    # -- sampling --------------------------------------------------------------
    @torch.no_grad()
    def sample_labels(self, labels: np.ndarray, seed: int | None = None) -> ImageSet:
        """One image per entry of `labels`."""
        self._check_fitted()
        seed = fresh_seed() if seed is None else seed
        device = torch.device(self.device)
        out = []
        with seeded(device, seed):
            for y in torch.from_numpy(np.asarray(labels, dtype=np.int64)).split(SAMPLE_BATCH):
                y = y.to(device)
                out.append(to_uint8(self.generator_(torch.randn(len(y), self.latent_dim, device=device), y)))
        return ImageSet(np.concatenate(out), np.asarray(labels), list(self.class_names_))

    # -- persistence -----------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise GeneratorInputError("this DCGAN is not fitted yet; call fit(images) or DCGAN.load(folder) first")

    def save(self, folder: str | Path) -> Path:
        self._check_fitted()
        folder = Path(folder)
        write_config(folder, self.kind, hyperparameters=self.hyperparameters(), seed=self.seed,
                     image_shape=list(self.image_shape_), class_names=self.class_names_, class_counts=self.class_counts_)
        save_tensors(folder, WEIGHTS_NAME, self.generator_.state_dict())
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> "DCGAN":
        folder = Path(folder)
        config = read_config(folder, cls.kind)
        model = cls(**config["hyperparameters"], device=device, seed=config.get("seed", 0), verbose=False)
        model.image_shape_ = tuple(config["image_shape"])
        model.class_names_, model.class_counts_ = config["class_names"], config["class_counts"]
        model.generator_ = load_module(model._build_generator(), folder, WEIGHTS_NAME).to(device).eval()
        model.loss_history_, model.transform_seconds_ = [], 0.0
        return model
