"""The three losses of Gatys et al.: content, Gram-matrix style, total variation.

Each loss is a small function. ``ContentTarget`` and ``StyleTarget`` are thin modules that
hold the targets as buffers so they follow ``.to(device)``; their ``forward`` is one sum.

Departure from the paper: content and style losses are *relative* squared errors,
``||x - t||^2 / ||t||^2``, instead of the paper's ``1/(4 N^2 M^2)`` scaling. Every layer then
contributes on the same scale whatever its size, so the weights alpha/beta mean the same at
64 px and at 2048 px and per-layer weights need no hand-tuned constants.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn
import torch.nn.functional as F

_EPS = 1e-8


class _SymmetricProduct(torch.autograd.Function):
    """``F @ F^T`` for (B, C, N) features, the products in ``dtype`` and the result in the
    features' dtype. Its gradient ``(dG + dG^T) @ F`` is one product, where autograd makes two
    (one per operand) and adds them: the Gram matrices were a fifth of a step's time."""

    @staticmethod
    def forward(ctx, flat: Tensor, dtype: torch.dtype) -> Tensor:
        low = flat.to(dtype)
        ctx.save_for_backward(low)
        return torch.bmm(low, low.transpose(1, 2)).to(flat.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (low,) = ctx.saved_tensors
        return torch.bmm((grad + grad.transpose(1, 2)).to(low.dtype), low).to(grad.dtype), None


def gram_sum(features: Tensor, weights: Tensor | None = None, *, precision: torch.dtype | None = None) -> Tensor:
    """Unnormalised channel correlations of (B, C, H, W) features -> (B, C, C): summed, not
    averaged, over positions (each weighted by ``weights``, (B or 1, 1, H, W), where given).

    ``precision``: the dtype of the unweighted products (default: the features'). ``bfloat16``
    suits features that a bfloat16 VGG-19 made: they hold no more bits than that, the sums
    are accumulated in float32, and only the result is rounded (to about 2e-3 of its size);
    the product then runs 2.5x faster on CPUs with native bfloat16.
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    if weights is None:
        return _SymmetricProduct.apply(flat, precision or flat.dtype)
    return (flat * weights.reshape(weights.shape[0], 1, h * w).to(features.dtype)) @ flat.transpose(1, 2)


def gram_matrix(features: Tensor, mask: Tensor | None = None, *, precision: torch.dtype | None = None) -> Tensor:
    """Channel correlations of (B, C, H, W) features -> (B, C, C), averaged over positions
    (``precision``: see :func:`gram_sum`).

    With ``mask`` (B or 1, 1, H, W, values in [0, 1]) positions are weighted by the mask and
    the sum is divided by the mask's total, so a style applied to a region is matched by
    that region's statistics alone (Gatys et al. 2017, "Controlling perceptual factors").
    """
    h, w = features.shape[-2:]
    if mask is None:
        return gram_sum(features, precision=precision) / (h * w)
    total = mask.reshape(mask.shape[0], 1, h * w).to(features.dtype).sum(dim=2, keepdim=True).clamp_min(_EPS)
    return gram_sum(features, mask) / total


def relative_squared_error(x: Tensor, target: Tensor) -> Tensor:
    """``||x - target||^2 / ||target||^2`` over all elements: 0 is a perfect match, 1 is as far as zero."""
    return (x - target).pow(2).sum() / target.pow(2).sum().clamp_min(_EPS)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Relative squared distance between feature maps of the same shape."""
    return relative_squared_error(features, target)


def style_loss(gram: Tensor, target_gram: Tensor) -> Tensor:
    """Relative squared distance between Gram matrices."""
    return relative_squared_error(gram, target_gram)


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference between neighbouring pixels of (B, C, H, W); penalises noise."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def energy_ratio(
    content_features: Mapping[str, Tensor], style_grams: Mapping[str, Tensor], style_layer_weights: Mapping[str, float]
) -> float:
    """How hard the paper's *absolute* losses pull toward the style, relative to the content.

    Absolute squared errors weigh a term by the size of its target: a style with strong
    Gram matrices pulls harder than a faint one. This is the ratio of the two scales, the
    (weighted) mean over style layers of ``mean(G**2) / C**2`` over the mean over content
    layers of ``mean(F**2)``; ``balance="energy"`` multiplies beta by a root of it
    (:func:`energy_balance`), so that relative losses keep some of that behaviour (with
    weights that do not depend on the image size).
    """
    weights = _normalised(style_layer_weights)
    style = sum(w * float(style_grams[n].float().pow(2).mean()) / style_grams[n].shape[-1] ** 2 for n, w in weights.items())
    content = sum(float(f.float().pow(2).mean()) for f in content_features.values()) / len(content_features)
    return style / max(content, _EPS)


ENERGY_EXPONENT = 0.5
"""How closely ``balance="energy"`` follows :func:`energy_ratio`: its square root. In full (the
paper's absolute losses) the ratio spans 180x over the benchmark pairs (Monet's misty
Charing Cross Bridge 0.005 under a coffee cup, Starry Night 0.91 over the Golden Gate):
at one beta Starry Night painted its photo over while the mist only tinted the cup. With
the root the span is 13x, and the eight pairs at one beta look about as painted."""

TYPICAL_ENERGY_RATIO = 0.16
"""The benchmark pairs' median :func:`energy_ratio`: a pair with it gets beta times this
ratio, as it did when beta followed the ratio in full."""


def energy_balance(ratio: float) -> float:
    """The factor ``balance="energy"`` multiplies beta by, for a pair of :func:`energy_ratio`
    ``ratio``: strong styles still pull harder than faint ones, by the ratio's
    :data:`ENERGY_EXPONENT` power around :data:`TYPICAL_ENERGY_RATIO`."""
    return TYPICAL_ENERGY_RATIO * (max(ratio, _EPS) / TYPICAL_ENERGY_RATIO) ** ENERGY_EXPONENT


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-average a (B, 1, H, W) mask to a feature map's size."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="area")


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


class ContentTarget(nn.Module):
    """Feature maps of the content image at some layers; loss is their weighted relative error."""

    def __init__(self, features: Mapping[str, Tensor], layer_weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.layer_weights = _normalised(layer_weights or {name: 1.0 for name in features})
        for name in self.layer_weights:
            self.register_buffer(f"target_{name}", features[name].detach().clone())

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        return sum(w * content_loss(features[n], getattr(self, f"target_{n}")) for n, w in self.layer_weights.items())


class StyleTarget(nn.Module):
    """Gram matrices of one style (or a weighted blend of styles) at several layers.

    Blending targets is exact: for weights summing to 1, ``sum_i w_i ||G - G_i||^2`` and
    ``||G - sum_i w_i G_i||^2`` differ by a constant, so one blended Gram serves all styles.
    An optional ``mask`` (1, 1, H, W) at image resolution restricts the style to a region.
    ``precision``: the dtype of the output's Gram products (:func:`gram_matrix`), e.g. the
    bfloat16 that the extractor computed the features in.
    """

    def __init__(
        self,
        grams: Mapping[str, Tensor],
        layer_weights: Mapping[str, float] | None = None,
        mask: Tensor | None = None,
        precision: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.precision = precision
        self.layer_weights = _normalised(layer_weights or {name: 1.0 for name in grams})
        for name in self.layer_weights:
            self.register_buffer(f"gram_{name}", grams[name].detach().clone())
        self.register_buffer("mask", None if mask is None else mask.detach().clone())

    @classmethod
    def from_features(
        cls,
        styles: Sequence[Mapping[str, Tensor]],
        blend: Sequence[float] | None = None,
        layer_weights: Mapping[str, float] | None = None,
        mask: Tensor | None = None,
        precision: torch.dtype | None = None,
    ) -> "StyleTarget":
        """Build the (blended) target from each style image's features."""
        layers = layer_weights.keys() if layer_weights else styles[0].keys()
        return cls.from_grams([{name: gram_matrix(feats[name]) for name in layers} for feats in styles],
                              blend, layer_weights, mask, precision)

    @classmethod
    def from_grams(
        cls,
        styles: Sequence[Mapping[str, Tensor]],
        blend: Sequence[float] | None = None,
        layer_weights: Mapping[str, float] | None = None,
        mask: Tensor | None = None,
        precision: torch.dtype | None = None,
    ) -> "StyleTarget":
        """Build the (blended) target from each style image's Gram matrices (computed once,
        reused by many runs)."""
        blend = list(blend) if blend is not None else [1.0] * len(styles)
        total = sum(blend)
        layers = layer_weights.keys() if layer_weights else styles[0].keys()
        grams = {name: sum(w / total * g[name] for w, g in zip(blend, styles)) for name in layers}
        return cls(grams, layer_weights, mask, precision)

    def on_layers(self, names: Sequence[str]) -> "StyleTarget":
        """The same target on those of its layers in ``names`` (their relative weights kept)."""
        keep = [name for name in self.layer_weights if name in names]
        if not keep:
            raise ValueError(f"none of {list(names)} is a layer of this style target")
        return StyleTarget({n: getattr(self, f"gram_{n}") for n in keep}, {n: self.layer_weights[n] for n in keep},
                           self.mask, self.precision)

    def layer_losses(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Unweighted style loss per layer (for reports and tests)."""
        losses = {}
        for name in self.layer_weights:
            f = features[name]
            mask = None if self.mask is None else resize_mask(self.mask, f.shape[-2:])
            losses[name] = style_loss(gram_matrix(f, mask, precision=self.precision), getattr(self, f"gram_{name}"))
        return losses

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        losses = self.layer_losses(features)
        return sum(self.layer_weights[n] * loss for n, loss in losses.items())
