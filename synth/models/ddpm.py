"""DDPM: a class-conditional diffusion model on diffusers' `UNet2DModel`.

The network is diffusers' `UNet2DModel`, built from a config we write (never
downloaded: no hub call is made, and `HF_HUB_OFFLINE=1` is set by the flows
and tests). Class conditioning is the UNet's own class embedding
(`num_class_embeds`), added to the timestep embedding; it has one extra
entry, the *null class*, for classifier-free guidance (Ho & Salimans 2022):
during training a `label_dropout` share of labels is replaced by the null
class, so one network learns both p(x | class) and p(x). Training is the
DDPM objective (Ho et al. 2020): predict the noise added at a random
timestep, mean squared error. Sampling uses DDIM (Song et al. 2021) with
`sampling_steps` deterministic steps from the same noise schedule, and at
each step mixes the conditional and unconditional noise predictions,
eps = eps_null + guidance_scale · (eps_class − eps_null). The weights
sampled from are an exponential moving average of the trained ones
(`ema_decay`; null: the trained weights).

Images are modelled in [-1, 1]; a model is saved as `config.json` (our
hyperparameters, the UNet and scheduler configs, the class names and the
training class counts used to draw labels for unconditional samples) and
`unet.safetensors` (the EMA weights when EMA is on). Training images are
never stored.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from synth.images import ImageSet
from synth.models.base import ImageGenerator
from synth.models.checkpoint import TrainingCheckpoint
from synth.models.configs import DDPMConfig
from synth.models.io import load_module
from synth.models.stopping import Validation, validation_seed
from synth.models.training import ema_update, training

WEIGHTS_NAME = "unet.safetensors"


def unet_config(
    image_size: int, channels: int, num_classes: int, block_out_channels: tuple[int, ...], layers_per_block: int,
    attention: bool, norm_num_groups: int,
) -> dict[str, Any]:
    """The `UNet2DModel` config: one resolution level per entry of `block_out_channels`,
    self-attention at the lowest resolution when `attention`, and a class embedding
    with `num_classes + 1` entries (the last is the null class)."""
    levels = len(block_out_channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"  # up blocks run from the lowest resolution
    return {
        "sample_size": image_size,
        "in_channels": channels,
        "out_channels": channels,
        "block_out_channels": list(block_out_channels),
        "layers_per_block": layers_per_block,
        "down_block_types": down,
        "up_block_types": up,
        "norm_num_groups": norm_num_groups,
        "attention_head_dim": 8,
        "add_attention": attention,
        "num_class_embeds": num_classes + 1,
    }


class DDPM(ImageGenerator):
    """Class-conditional diffusion generator; hyperparameters in `DDPMConfig`, learned state ends in `_`."""

    kind = "ddpm"
    config_class = DDPMConfig
    fitted_attribute = "unet_"

    def _scheduler_config(self) -> dict[str, Any]:
        return {"num_train_timesteps": self.num_train_timesteps, "beta_schedule": self.beta_schedule,
                "prediction_type": "epsilon", "clip_sample": True}

    # -- training --------------------------------------------------------------
    def fit(self, images: ImageSet, checkpoint: TrainingCheckpoint | None = None) -> DDPM:
        """Train on `images`; with `checkpoint` (synth.models.checkpoint), save the training state (UNet, EMA copy,
        optimiser, RNG) as it goes, or continue from its last save (the same model as an uninterrupted run)."""
        levels = len(self.block_out_channels)
        # with early stopping, less a held-out slice
        images = self._start_fit(images, divisor=2 ** (levels - 1), needs=f"ddpm with {levels} resolution levels",
                                 fix=" or use fewer block_out_channels")
        from diffusers import DDPMScheduler, UNet2DModel

        height, _, channels = images.shape
        device = torch.device(self.device)
        self.unet_config_ = unet_config(height, channels, images.num_classes, self.block_out_channels,
                                        self.layers_per_block, self.attention, self.norm_num_groups)
        null_class = images.num_classes
        with training(device, self.seed):
            # 1. data once on the device, in [-1, 1]; the UNet built from its config, never from the hub
            started = time.perf_counter()
            x0_all = images.to_tensor(device)  # (N, C, H, W)
            y_all = torch.from_numpy(images.labels).to(device)
            self.transform_seconds_ = time.perf_counter() - started
            unet = UNet2DModel.from_config(self.unet_config_).to(device)
            scheduler = DDPMScheduler.from_config(self._scheduler_config())
            alphas_cumprod = scheduler.alphas_cumprod.to(device)
            optimiser = torch.optim.AdamW(unet.parameters(), lr=self.lr, weight_decay=0.0)
            ema = copy.deepcopy(unet).requires_grad_(False) if self.ema_decay else None

            # resuming: the last checkpoint's weights, EMA copy, optimiser state, RNG state and losses (fresh: epoch 0)
            parts = {"unet": unet, "optimiser": optimiser, **({"ema": ema} if ema is not None else {})}
            checkpoint, bar = self._epochs(checkpoint, parts, device)
            steps_per_epoch = math.ceil(len(x0_all) / self.batch_size)
            for epoch in bar:
                total, count = torch.zeros((), device=device), 0
                for i, rows in enumerate(torch.randperm(len(x0_all), device=device).split(self.batch_size)):
                    x0, y = x0_all[rows], y_all[rows]
                    # 2. classifier-free guidance: some labels become the null class
                    y = torch.where(torch.rand(len(y), device=device) < self.label_dropout, null_class, y)
                    # 3. a random timestep per image, and x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε
                    t = torch.randint(0, self.num_train_timesteps, (len(x0),), device=device)
                    noise = torch.randn_like(x0)
                    a = alphas_cumprod[t].view(-1, 1, 1, 1)
                    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
                    # 4. the DDPM objective: predict ε
                    loss = F.mse_loss(unet(xt, t, class_labels=y).sample, noise)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                    optimiser.step()
                    # 5. EMA of the weights (warmed up: synth.models.training.ema_update)
                    if ema is not None:
                        ema_update(ema, unet, self.ema_decay, epoch * steps_per_epoch + i)
                    total += loss.detach() * len(x0)
                    count += len(x0)
                losses = {"loss": (total / count).item()}
                self.loss_history_.append(losses)
                bar.set_postfix(loss=f"{losses['loss']:.4f}")
                # 6. a checkpoint when one is due (every few minutes, and after the last epoch)
                checkpoint.end_of_epoch(epoch + 1, self.epochs, parts, self.loss_history_)
        self.unet_ = (ema if ema is not None else unet).eval()
        return self

    def _validation(self, parts: dict[str, Any], device: torch.device, held_out: ImageSet) -> Validation:
        """Early stopping's score: the DDPM loss on the held-out images, for the weights that sample (the EMA
        copy, when there is one), at one fixed draw of timesteps and noise per image, so scores differ only by
        the weights. It costs one forward pass per held-out image (at most 1,000), no backward pass."""
        from diffusers import DDPMScheduler

        network = parts.get("ema", parts["unet"])
        x0 = held_out.to_tensor(device)
        y = torch.from_numpy(held_out.labels).to(device)
        generator = torch.Generator(device=device).manual_seed(validation_seed(self.seed))
        t = torch.randint(0, self.num_train_timesteps, (len(x0),), device=device, generator=generator)
        noise = torch.randn(x0.shape, device=device, generator=generator)
        a = DDPMScheduler.from_config(self._scheduler_config()).alphas_cumprod.to(device)[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise

        def measure() -> float:
            total = 0.0
            for rows in torch.arange(len(x0), device=device).split(self.batch_size):
                predicted = network(xt[rows], t[rows], class_labels=y[rows]).sample
                total += float(F.mse_loss(predicted, noise[rows], reduction="sum"))
            return total / noise.numel()

        return Validation("held-out denoising loss (noise MSE)", measure, higher_is_better=False)

    # -- one batch of sampling: DDIM with classifier-free guidance ----------------------------------------------
    @property
    def sample_batch(self) -> int:
        return self.sample_batch_size

    def _draw_images(self, y: torch.Tensor, steps: int | None = None,
                     guidance_scale: float | None = None) -> torch.Tensor:
        """Pure noise x_T denoised by DDIM to images of classes `y`; `steps` and `guidance_scale` (options of
        `sample_labels`) override the model's `sampling_steps` and `guidance_scale`."""
        from diffusers import DDIMScheduler

        scale = self.guidance_scale if guidance_scale is None else guidance_scale
        scheduler = DDIMScheduler.from_config(self._scheduler_config())
        scheduler.set_timesteps(steps or self.sampling_steps)
        height, width, channels = self.image_shape_
        null_class = len(self.class_names_)
        # 1. start from pure noise x_T
        x = torch.randn(len(y), channels, height, width, device=y.device)
        for t in scheduler.timesteps:
            # 2. conditional and null-class predictions in one batch, mixed by the guidance scale
            if scale == 1:
                eps = self.unet_(x, t, class_labels=y).sample
            else:
                both = self.unet_(torch.cat([x, x]), t,
                                  class_labels=torch.cat([y, torch.full_like(y, null_class)])).sample
                eps_class, eps_null = both.chunk(2)
                eps = eps_null + scale * (eps_class - eps_null)
            # 3. one deterministic DDIM step (eta = 0) towards x_0
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample
        return x

    # -- persistence: UNet and scheduler configs in config.json (plain values), the sampled weights --------------
    def _learned_config(self) -> dict[str, Any]:
        return {**super()._learned_config(), "unet": self.unet_config_, "scheduler": self._scheduler_config()}

    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: self.unet_.state_dict()}

    def _restore_networks(self, folder: Path, config: dict[str, Any]) -> None:
        from diffusers import UNet2DModel

        # plain values checked by read_config (synth.models.io): built from keyword arguments, never from a path
        # or hub id
        self.unet_config_ = config["unet"]
        self.unet_ = load_module(UNet2DModel(**self.unet_config_), folder, WEIGHTS_NAME).to(self.device).eval()
