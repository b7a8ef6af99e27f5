"""Training the feed-forward networks of :mod:`brushwork.realtime.networks`.

``train_fast`` fits a :class:`TransformerNet` to one style with the perceptual loss of
Johnson et al.: the same VGG-19 content, Gram style and TV losses the optimiser uses
(:mod:`brushwork.engine.losses`), averaged over a batch of photos. ``train_adain`` fits the
:class:`Decoder` of an AdaIN network with the paper's losses: content at relu4_1 against
the AdaIN target, style as channel means and deviations at relu1_1..relu4_1, optionally
after ``warmup_steps`` that teach the decoder to invert the encoder with a pixel loss
(cheaper steps, no backward pass through VGG, which settle colours and shapes early).

Both save a checkpoint every ``checkpoint_every`` steps and resume from it, stop after
``max_minutes`` if asked (a time budget rather than a step count), report every step to a
callback, and use bfloat16 autocast where the CPU or GPU has it.
"""

from __future__ import annotations

import functools

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch import Tensor

from brushwork.engine.devices import PRECISIONS, autocast, resolve_device, resolve_precision
from brushwork.errors import BrushworkError, InputError
from brushwork.engine.features import VGGFeatures, check_layers
from brushwork.media.image_io import IMAGE_SUFFIXES, fit_long_side, open_image, pil_to_tensor, resize
from brushwork.engine.losses import StyleTarget, content_loss, total_variation
from brushwork.options import option
from brushwork.realtime.networks import (ADAIN_LAYER, ADAIN_STYLE_LAYERS, WCT_LEVELS, AdaINNet, Decoder, TransformerNet,
                                         UniversalNet, adain, channel_stats, level_layer)


@dataclass(frozen=True)
class TrainingProgress:
    step: int
    total_steps: int
    losses: dict[str, float]
    elapsed: float
    eta: float
    trained_seconds: float = 0.0
    """Training time of the model so far, runs before a ``resume`` included."""


TrainingCallback = Callable[[TrainingProgress], None]


@dataclass(frozen=True)
class TrainingSettings:
    """What every training run has: crops, steps, batch, step size, arithmetic, seed, device,
    checkpoints. The two configs below override the defaults and add their losses."""

    size: int = option(256, "side of the square training crops in pixels")
    steps: int = option(2000, "optimiser steps (batches)")
    batch: int = option(4, "images per step")
    learning_rate: float = option(1e-3, "Adam step size")
    precision: str = option("auto", "auto (bfloat16 where native), float32 or bfloat16", choices=PRECISIONS)
    seed: int = option(0, "random seed for weights and crops")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    checkpoint_every: int = option(100, "write OUTPUT.ckpt every this many steps")
    max_minutes: float = option(0.0, "stop after this many minutes of training (runs before a resume count); 0: no limit")

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 2048:
            raise InputError(f"training size must be 32-2048 px, got {self.size}")
        for name in ("steps", "batch", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive whole number, got {value}")
        if not 0 < self.learning_rate <= 1:
            raise InputError(f"learning rate must be in (0, 1], got {self.learning_rate}")
        if not math.isfinite(self.max_minutes) or self.max_minutes < 0:
            raise InputError(f"max_minutes must be 0 (no limit) or more, got {self.max_minutes}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")


@dataclass(frozen=True)
class FastTrainConfig(TrainingSettings):
    """Settings of ``train_fast`` (see docs/models.md for what the shipped models used)."""

    content_weight: float = option(1.0, "weight of the content loss")
    style_weight: float = option(10.0, "weight of the style loss")
    tv_weight: float = option(1.0, "weight of the total-variation loss")
    content_layers: tuple[str, ...] = option(("relu2_2",), "VGG-19 layers for the content loss (Johnson et al.)")
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           "VGG-19 layers for the style loss (the optimiser's)")
    style_size: int = option(512, "long side of the style image when its Gram matrices are taken: sets the "
                                  "size of the brush strokes, in output pixels")
    width: int = option(16, "channels of the network's first layer (Johnson et al.: 32)")
    blocks: int = option(5, "residual blocks")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= 1e9:
                raise InputError(f"{name} must be between 0 and 1e9, got {value}")
        check_layers(self.content_layers)
        check_layers(self.style_layers)
        if not 4 <= self.width <= 128 or not 1 <= self.blocks <= 16:
            raise InputError(f"width must be 4-128 and blocks 1-16, got {self.width} and {self.blocks}")
        if not 32 <= self.style_size <= 4096:
            raise InputError(f"style_size must be 32-4096 px, got {self.style_size}")


@dataclass(frozen=True)
class AdaINTrainConfig(TrainingSettings):
    """Settings of ``train_adain``. The paper trains on 256 px crops for 160,000 steps of 8;
    the defaults here are sized for two CPU cores (see docs/models.md)."""

    size: int = option(192, "side of the square training crops in pixels")
    steps: int = option(3000, "optimiser steps (batches)")
    learning_rate: float = option(5e-4, "Adam step size")
    style_weight: float = option(10.0, "weight of the style (mean/std) loss; the paper's lambda")
    width: float = option(0.5, "decoder width relative to the paper's (512-256-128-64)")
    warmup_steps: int = option(0, "first train the decoder this many steps to invert the encoder (pixel loss on "
                                  "photos and paintings, as the decoders of Li et al. 2017's WCT): cheap steps that "
                                  "teach it colours and shapes before the paper's losses take over")
    hue_jitter: bool = option(True, "turn the paintings' hues at random, so that the decoder does not learn the "
                                    "palette of a few paintings")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not math.isfinite(self.style_weight) or not 0 <= self.style_weight <= 1e6:
            raise InputError(f"style_weight must be between 0 and 1e6, got {self.style_weight}")
        if not 0.05 <= self.width <= 2:
            raise InputError(f"width must be between 0.05 and 2, got {self.width}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise InputError(f"warmup_steps must be a whole number >= 0, got {self.warmup_steps}")


@dataclass(frozen=True)
class UniversalTrainConfig(TrainingSettings):
    """Settings of ``train_universal``: decoders that invert VGG-19 at relu1_1..relu4_1
    (Li et al. 2017 trained them on COCO with a pixel and a feature loss)."""

    size: int = option(192, "side of the square training crops in pixels")
    steps: int = option(3000, "optimiser steps (batches)")
    batch: int = option(8, "images per step, half photos and half paintings")
    width: float = option(0.5, "decoder width relative to VGG's (512-256-128-64)")
    feature_weight: float = option(0.0, "weight of a feature loss (the decoded picture's features at the decoder's "
                                         "level against the input's, relative to their size) beside the pixel loss; Li "
                                         "et al. used 1, which costs about 2.5x per step on a CPU")
    levels: tuple[int, ...] = option(WCT_LEVELS, "which decoders to train (relu N_1)")
    hue_jitter: bool = option(True, "turn the paintings' hues at random: decoders that give back any colour")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.05 <= self.width <= 2:
            raise InputError(f"width must be between 0.05 and 2, got {self.width}")
        if not math.isfinite(self.feature_weight) or not 0 <= self.feature_weight <= 1e6:
            raise InputError(f"feature_weight must be between 0 and 1e6, got {self.feature_weight}")
        if not self.levels or any(n not in WCT_LEVELS for n in self.levels):
            raise InputError(f"levels must be among {', '.join(map(str, WCT_LEVELS))}, got {self.levels}")


FLAT_STD = 0.03
"""Crops whose pixel standard deviation (in [0, 1]) is below this are drawn again."""


class ImageFolder:
    """Every readable image under a folder (recursively), served as random square crops.

    Each crop takes a random region of at least half the shorter side, resizes it to
    ``size`` and flips it half the time: plenty of variety from a few hundred photos.
    ``rotate`` adds quarter turns and ``hue`` turns half the crops' hues (for paintings).
    """

    def __init__(self, root: str | Path, size: int, *, role: str = "training images", seed: int = 0,
                 rotate: bool = False, hue: bool = False) -> None:
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{role} folder {str(root)!r} does not exist or is not a folder")
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.paths:
            raise InputError(f"{role} folder {str(root)!r} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.size, self.role, self.rotate, self.hue = size, role, rotate, hue
        self.rng = random.Random(seed)
        self.cache: dict[Path, Image.Image] = {}

    def _open(self, path: Path) -> Image.Image | None:
        if path not in self.cache:
            try:
                image = open_image(path, self.role)
            except InputError:
                self.cache[path] = None  # unreadable files are skipped, not fatal
                return None
            image.thumbnail((1024, 1024))  # bounded memory; crops are far smaller anyway
            self.cache[path] = image
        return self.cache[path]

    def crop(self) -> Tensor:
        for _ in range(100):
            image = self._open(self.rng.choice(self.paths))
            if image is None:
                continue
            side = min(image.size)
            crop = self.rng.randint(max(1, side // 2), side)
            x, y = self.rng.randint(0, image.width - crop), self.rng.randint(0, image.height - crop)
            patch = image.crop((x, y, x + crop, y + crop)).resize((self.size, self.size), Image.BICUBIC)
            if self.hue and self.rng.random() < 0.5:
                patch = turn_hue(patch, self.rng.randrange(256))
            # Flat patches (sky, a plain wallpaper) teach nothing and, through instance
            # normalisation of a near-constant image, can blow the gradients up: draw again.
            tensor = pil_to_tensor(patch)
            if float(tensor.std()) >= FLAT_STD:
                break
        else:
            raise InputError(f"{self.role}: no readable images with any detail")
        if self.rng.random() < 0.5:
            tensor = tensor.flip(-1)
        if self.rotate:
            tensor = torch.rot90(tensor, self.rng.randrange(4), dims=(-2, -1))  # square: a quarter turn keeps the size
        return tensor

    def batch(self, n: int) -> Tensor:
        return torch.cat([self.crop() for _ in range(n)])


def turn_hue(image: Image.Image, shift: int) -> Image.Image:
    """The same picture with every hue turned by ``shift``/256 of the colour circle."""
    h, s, v = image.convert("HSV").split()
    h = h.point(lambda value: (value + shift) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


MAX_GRAD_NORM = 10.0
"""Gradients are clipped to this norm: rare outlier batches then nudge instead of wreck."""


def _checkpoint_path(output: Path) -> Path:
    return output.with_name(output.name + ".ckpt")


def _training_loop(
    model: torch.nn.Module, params: Sequence[Tensor], loss_fn: Callable[[int], dict[str, Tensor]], *,
    output: Path, config: TrainingSettings, resume: bool, callback: TrainingCallback | None,
    new_loss_at: int | None = None,
) -> int:
    """Adam over ``params``, ``loss_fn(step)`` a step; checkpoint to ``OUTPUT.ckpt``; stop at
    ``config.steps`` or after ``config.max_minutes``. Returns the last step taken.

    ``new_loss_at``: the step where ``loss_fn`` changes to another loss. Adam's moments are
    started afresh there: moments sized for the old loss's gradients would make the first
    few hundred steps of the new one many times too long (seen as a decoder that forgot its
    colours within 50 steps of the AdaIN losses taking over from the warm-up)."""
    steps, checkpoint_every = config.steps, config.checkpoint_every
    learning_rate = config.learning_rate
    time_limit = config.max_minutes * 60 or math.inf
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    checkpoint = _checkpoint_path(output)
    start, prior_seconds = 0, 0.0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if _resumable(state.get("config", {})) != _resumable(asdict(config)):
            raise InputError(f"checkpoint {str(checkpoint)!r} was made with other settings; remove it or drop --resume")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, prior_seconds = int(state["step"]), float(state.get("seconds", 0.0))
    begin = time.perf_counter()
    skipped, step = 0, start
    for step in range(start + 1, steps + 1):
        if step == new_loss_at:
            optimizer = torch.optim.Adam(params, lr=learning_rate)
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(step)
        losses["total"].backward()
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        if not torch.isfinite(norm):  # one bad batch must not poison the weights
            skipped += 1
            if skipped > max(10, steps // 20):
                raise BrushworkError(f"training diverged: {skipped} steps with non-finite gradients; "
                                     "try a lower --learning-rate or --precision float32")
            continue
        optimizer.step()
        if callback is not None:
            elapsed = time.perf_counter() - begin
            done = step - start
            callback(TrainingProgress(step, steps, {k: float(v.detach()) for k, v in losses.items()}, elapsed,
                                      elapsed / done * (steps - step), prior_seconds + elapsed))
        out_of_time = prior_seconds + time.perf_counter() - begin >= time_limit
        if step % checkpoint_every == 0 or step == steps or out_of_time:
            tmp = checkpoint.with_name(checkpoint.name + ".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "config": asdict(config), "seconds": prior_seconds + time.perf_counter() - begin}, tmp)
            tmp.replace(checkpoint)
        if out_of_time:
            break
    return step


def _resumable(settings: dict) -> dict:
    """The settings a checkpoint must share with the run that resumes it (steps may grow)."""
    return {k: v for k, v in settings.items() if k not in ("steps", "checkpoint_every", "device", "max_minutes")}



def _isolated_rng(train):
    """Training seeds the generator for reproducible runs; the caller's random state is
    restored afterwards, so that training never changes what the caller draws next."""
    @functools.wraps(train)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return train(*args, **kwargs)
    return wrapper

@_isolated_rng
def train_fast(
    style: Tensor, images: str | Path, output: str | Path, config: FastTrainConfig = FastTrainConfig(), *,
    resume: bool = False, callback: TrainingCallback | None = None,
) -> TransformerNet:
    """Train a :class:`TransformerNet` for ``style`` on crops of the photos under ``images``.

    The returned network is in eval mode on the CPU; :func:`brushwork.realtime.models.save_model`
    writes it. A checkpoint ``OUTPUT.ckpt`` is kept beside ``output`` for ``resume``.
    """
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    data = ImageFolder(images, config.size, seed=config.seed)
    model = TransformerNet(config.width, config.blocks).to(device).train()
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    dtype = resolve_precision(config.precision, device)
    vgg = VGGFeatures(layers, compute_dtype=dtype).to(device)
    content_vgg = VGGFeatures(config.content_layers, compute_dtype=dtype).to(device)  # stops at the content layers
    with torch.no_grad():
        style_image = resize(style, fit_long_side(*style.shape[-2:], config.style_size)).to(device)
        target = StyleTarget.from_features([vgg(style_image)], None, {n: 1.0 for n in config.style_layers})

    def loss_fn(step: int) -> dict[str, Tensor]:
        photos = data.batch(config.batch).to(device)
        with autocast(device, config.precision):
            out = model(photos).float()
        with torch.no_grad():  # the photos' features are targets: no backward pass through VGG for them
            wanted = content_vgg(photos)
        feats = vgg(out)  # VGG runs in config.precision itself
        content = sum(content_loss(feats[n], wanted[n]) for n in config.content_layers) / len(config.content_layers)
        style_term = target({n: feats[n] for n in config.style_layers}) / photos.shape[0]  # mean over the batch
        tv = total_variation(out.float())
        total = config.content_weight * content + config.style_weight * style_term + config.tv_weight * tv
        return {"total": total, "content": content, "style": style_term, "tv": tv}

    _training_loop(model, list(model.parameters()), loss_fn, output=Path(output), config=config, resume=resume,
                   callback=callback)
    return model.eval().cpu()


@_isolated_rng
def train_adain(
    images: str | Path, styles: str | Path, output: str | Path, config: AdaINTrainConfig = AdaINTrainConfig(), *,
    resume: bool = False, callback: TrainingCallback | None = None,
) -> AdaINNet:
    """Train the decoder of an :class:`AdaINNet` on photos and paintings (random crops,
    flips, and quarter turns of the paintings)."""
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    photos = ImageFolder(images, config.size, seed=config.seed)
    paintings = ImageFolder(styles, config.size, role="style images", seed=config.seed + 1, rotate=True,
                            hue=config.hue_jitter)
    net = AdaINNet(Decoder(config.width), compute_dtype=resolve_precision(config.precision, device)).to(device).train()

    def loss_fn(step: int) -> dict[str, Tensor]:
        content, style = photos.batch(config.batch).to(device), paintings.batch(config.batch).to(device)
        if step <= config.warmup_steps:  # invert the encoder: no backward pass through VGG
            images = torch.cat([content, style])
            with torch.no_grad():
                feats = net.encode(images)[ADAIN_LAYER]
            with autocast(device, config.precision):
                out = net.decode(feats, images, clamp=False).float()
            reconstruction = (out - images).abs().mean()
            return {"total": reconstruction, "reconstruction": reconstruction}
        with torch.no_grad():
            c_feats = net.encode(content)[ADAIN_LAYER]
            s_feats = net.encode(style)
            target = adain(c_feats, *channel_stats(s_feats[ADAIN_LAYER]))
        with autocast(device, config.precision):
            out = net.decoder(target).float()
        o_feats = net.encode(out)
        content_term = (o_feats[ADAIN_LAYER] - target).pow(2).mean()
        style_term = sum(_stats_distance(o_feats[n], s_feats[n]) for n in ADAIN_STYLE_LAYERS)
        total = content_term + config.style_weight * style_term
        return {"total": total, "content": content_term, "style": style_term}

    _training_loop(net.decoder, list(net.decoder.parameters()), loss_fn, output=Path(output), config=config,
                   resume=resume, callback=callback, new_loss_at=config.warmup_steps + 1 if config.warmup_steps else None)
    return net.eval().cpu()


def _stats_distance(x: Tensor, y: Tensor) -> Tensor:
    """Huang & Belongie's style loss at one layer: squared distance of channel means and deviations."""
    (mx, sx), (my, sy) = channel_stats(x), channel_stats(y)
    return (mx - my).pow(2).mean() + (sx - sy).pow(2).mean()


@_isolated_rng
def train_universal(
    images: str | Path, styles: str | Path, output: str | Path, config: UniversalTrainConfig = UniversalTrainConfig(), *,
    resume: bool = False, callback: TrainingCallback | None = None, start_from: UniversalNet | None = None,
) -> UniversalNet:
    """Train the decoders of a :class:`UniversalNet` to invert VGG-19 on crops of photos and
    paintings: no style loss, so every step is cheap and nothing is learnt about any one
    painting. All levels train together from one encoder pass per batch.

    ``start_from``: a trained network whose decoders are the starting point; those of
    levels not in ``config.levels`` are kept as they are and come with the result (to train
    one level further, e.g. with a feature loss, without retraining the others)."""
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    photos = ImageFolder(images, config.size, seed=config.seed)
    paintings = ImageFolder(styles, config.size, role="style images", seed=config.seed + 1, rotate=True,
                            hue=config.hue_jitter)
    dtype = resolve_precision(config.precision, device)
    levels = set(config.levels) | (set(start_from.levels) if start_from is not None else set())
    width = start_from.width if start_from is not None else config.width
    if start_from is not None and width != config.width:
        raise InputError(f"the starting model's decoders have width {width}; give --width {width}")
    net = UniversalNet(width, sorted(levels), compute_dtype=dtype)
    if start_from is not None:
        net.decoders.load_state_dict(start_from.decoders.state_dict(), strict=False)
    net = net.to(device).train()
    trained = [net.decoders[str(n)] for n in sorted(config.levels, reverse=True)]
    half = max(1, config.batch // 2)

    def loss_fn(step: int) -> dict[str, Tensor]:
        pictures = torch.cat([photos.batch(half), paintings.batch(config.batch - half)]).to(device)
        with torch.no_grad():
            wanted = net.encode(pictures)
        losses: dict[str, Tensor] = {}
        total = torch.zeros((), device=device)
        for level in sorted(config.levels, reverse=True):
            layer = level_layer(level)
            with autocast(device, config.precision):
                out = net.decode(wanted[layer], level, pictures, clamp=False).float()
            pixel = (out - pictures).abs().mean()
            term = pixel
            if config.feature_weight:
                got = net.encode(out, level)[layer]
                feature = (got - wanted[layer]).pow(2).mean() / wanted[layer].pow(2).mean().clamp_min(1e-8)
                term = term + config.feature_weight * feature
                losses[f"feature{level}"] = feature
            losses[f"pixel{level}"] = pixel
            total = total + term
        return {"total": total, **losses}

    _training_loop(net.decoders, [p for d in trained for p in d.parameters()], loss_fn, output=Path(output),
                   config=config, resume=resume, callback=callback)
    return net.eval().cpu()
