"""Quality metrics that do not depend on any method's own loss weights.

``score(output, content, style)`` compares an output with the content image (resized to
the output) and the style image (scaled so its long side equals the output's):

* ``content_distance`` - ``||F(out) - F(content)||^2 / ||F(content)||^2`` at relu4_2;
* ``style_distance`` - mean over relu1_1 ... relu5_1 of ``||G(out) - G(style)||^2 / ||G(style)||^2``,
  with G the Gram matrix normalised by H*W;
* ``ssim`` - structural similarity (Wang et al. 2004) of luminance between output and content;
* ``style_swd`` - sliced Wasserstein distance between the output's and the style's feature
  distributions at relu1_2, relu2_2, relu3_4 and relu4_4: layers the default loss does not
  use, and a statistic (whole 1-D distributions, not second moments) it does not optimise,
  so a method cannot score well on it by fitting Gram matrices alone;
* ``layout`` - correlation of the output's and the content's luminance, both averaged down
  to :data:`LAYOUT_SIDE` px on the long side: whether the photo's composition (where its
  light and dark masses lie) survives, whatever the strokes do. Near 1 the photo is kept;
  near 0 its arrangement is gone.
* ``edges`` - correlation of the output's and the content's luminance gradient magnitude,
  both averaged down to :data:`EDGE_SIDE` px: whether the photo's outlines (a roofline, a
  face's contour, a horizon) are still drawn where they were, once strokes finer than that
  average out. Layout can stay high on a picture whose masses are right but whose subject
  is unreadable; this asks for the drawing.
* ``outlines`` - whether the photo's strongest outlines (its :data:`OUTLINE_SHARE` of pixels of
  largest gradient at :data:`EDGE_SIDE` px) still stand out in the output: their mean
  percentile rank in its gradient magnitude, 0 at chance, 1 all at the top. A patch of
  strong strokes elsewhere (a painted sky) swamps ``edges``' correlation but leaves the
  drawing legible; this asks only whether the drawing is still there.
* ``palette`` - how far the output's colours are from the painting's, as distributions:
  the sliced Wasserstein-2 distance between the two images' pixel colours in CIELAB, scaled
  to colour-difference units (about 2.3 is just noticeable; one colour shifted by d scores d). 0 when the output uses the
  painting's colours in the painting's proportions, wherever they lie; a photo's own colours
  or a palette shared by every style score high.
* ``copied`` - share of the output covered by pieces of the painting reproduced whole (its
  moon, a wave's crest, a title's lettering) rather than painted in its manner; see
  :func:`copied_share`. 0 for the photo, 1 for the painting itself.

Lower is better for the distances, higher for SSIM, layout and edges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from brushwork.engine.color import COARSE_SIDE, coarse_grid, coarse_luminance, luminance, rgb_to_lab
from brushwork.engine.features import shared_extractor
from brushwork.media.image_io import fit_long_side, resize
from brushwork.engine.losses import content_loss, gram_matrix, style_loss

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SWD_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4")
LAYOUT_SIDE = COARSE_SIDE
"""Long side of the averaged luminance that :func:`layout` correlates (:func:`coarse_luminance`)."""


@dataclass(frozen=True)
class Scores:
    content_distance: float
    style_distance: float
    ssim: float
    style_swd: float
    layout: float
    edges: float
    outlines: float
    palette: float
    copied: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def ssim(a: Tensor, b: Tensor, *, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM of two (1, 1, H, W) images in [0, 1], Gaussian window as in Wang et al."""
    coords = torch.arange(window, dtype=a.dtype, device=a.device) - window // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1)
    blur = lambda x: F.conv2d(F.conv2d(x, g), g.transpose(2, 3))
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def sliced_wasserstein(x: Tensor, y: Tensor, *, projections: int = 64, quantiles: int = 256, seed: int = 0) -> float:
    """Relative sliced Wasserstein-2 distance between feature sets (1, C, H, W) and (1, C, H', W').

    Both are projected on the same random unit directions (seeded, so the figure is
    repeatable); each projection's distribution is summarised by ``quantiles`` quantiles.
    Divided by the mean squared projection of ``y`` so that layers are comparable.
    """
    c = x.shape[1]
    gen = torch.Generator().manual_seed(seed)
    dirs = F.normalize(torch.randn(c, projections, generator=gen), dim=0).to(x)
    px = x.reshape(c, -1).T @ dirs
    py = y.reshape(c, -1).T @ dirs
    qx, qy = _quantiles(px, quantiles), _quantiles(py, quantiles)
    return float((qx - qy).pow(2).mean() / py.pow(2).mean().clamp_min(1e-12))


def _quantiles(values: Tensor, count: int) -> Tensor:
    """``count`` evenly spaced quantiles of each column (nearest rank; one sort, no interpolation)."""
    ordered = values.sort(dim=0).values
    ranks = torch.linspace(0, values.shape[0] - 1, count, device=values.device).round().long()
    return ordered[ranks]


def layout(output: Tensor, content: Tensor) -> float:
    """Correlation of coarse luminance (see the module docstring); ``content`` at any size."""
    grid = coarse_grid(*output.shape[-2:], LAYOUT_SIDE)
    a, b = (coarse_luminance(x.clamp(0, 1).float(), grid).flatten() for x in (output, content.to(output)))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


EDGE_SIDE = 128
"""Long side at which :func:`edges` compares outlines: a photo's drawing survives it, most
brush strokes at the optimiser's 512 px (4 px and finer) average out."""


def edges(output: Tensor, content: Tensor) -> float:
    """Correlation of luminance gradient magnitude at :data:`EDGE_SIDE` px (see the module
    docstring); ``content`` at any size."""
    a, b = (m.flatten() - m.mean() for m in _outline_maps(output, content))
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


OUTLINE_SHARE = 0.1
"""The photo's outlines that :func:`outlines` follows: this share of its pixels at
:data:`EDGE_SIDE` px, those of largest luminance gradient."""


def outlines(output: Tensor, content: Tensor) -> float:
    """Whether the photo's strongest outlines are still among the output's strongest
    gradients: the mean percentile rank, in the output's gradient magnitude at
    :data:`EDGE_SIDE` px, of the photo's :data:`OUTLINE_SHARE` strongest-gradient pixels,
    scaled so that 0 is chance and 1 every outline at the very top (the photo itself scores
    about ``1 - OUTLINE_SHARE``). Unlike :func:`edges`, strokes added elsewhere do not lower
    it unless they outshine the outlines, and a faint painted outline counts as much as the
    photo's hard one, as long as it still stands out where it was."""
    painted, photo = (_percentile_ranks(m.flatten()) for m in _outline_maps(output, content))
    strongest = photo >= 1.0 - OUTLINE_SHARE
    return float(2.0 * painted[strongest].mean() - 1.0)


def _percentile_ranks(values: Tensor) -> Tensor:
    """Each value's rank among ``values`` in [0, 1], ties sharing their middle rank (a flat
    region's equal gradients all rank at its middle, not in arbitrary order)."""
    ordered = values.sort().values
    below = torch.searchsorted(ordered, values, right=False).float()
    upto = torch.searchsorted(ordered, values, right=True).float()
    return (below + upto) / (2.0 * values.numel())


def _outline_maps(output: Tensor, content: Tensor) -> tuple[Tensor, Tensor]:
    """Luminance gradient magnitude (Sobel) of ``output`` and ``content`` (resized to it),
    both averaged down to :data:`EDGE_SIDE` px on the long side; two (H, W) maps."""
    grid = coarse_grid(*output.shape[-2:], EDGE_SIDE)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([sobel, sobel.T]).unsqueeze(1)
    maps = []
    for x in (output, content.to(output)):
        small = F.pad(coarse_luminance(x.clamp(0, 1).float(), grid), (1, 1, 1, 1), mode="replicate")
        maps.append(F.conv2d(small, kernels.to(small)).pow(2).sum(1).sqrt()[0])
    return maps[0], maps[1]


def grid_strength(image: Tensor, period: int) -> tuple[float, float]:
    """How strongly a picture's fine detail repeats every ``period`` px, across (x) and down
    (y): the mean absolute luminance step between neighbouring pixels, averaged by position
    modulo ``period`` along that axis, its largest over its mean. 1.0 is no grid (a period
    that nothing in the picture shares, such as 3 or 5, reads 1.00-1.02 on outputs and
    paintings); a grid of VGG-19's pooling strides or of a 2x enlargement reads above it at
    periods 2, 4 and 8."""
    lum = luminance(image.clamp(0, 1).float())[0, 0]

    def folded(steps: Tensor) -> float:
        usable = steps.numel() // period * period
        if usable < 2 * period:
            raise ValueError(f"a picture of {steps.numel() + 1} px is too small to fold by {period} px")
        profile = steps[:usable].reshape(-1, period).mean(0)
        return float(profile.max() / profile.mean().clamp_min(1e-12))

    across = (lum[:, 1:] - lum[:, :-1]).abs().mean(0)
    down = (lum[1:] - lum[:-1]).abs().mean(1)
    return folded(across), folded(down)


PALETTE_SIDE = 128
"""Long side both images are averaged down to (if larger) for :func:`palette_distance`:
colour proportions, not detail, and a painting's colours as seen from the distance its
strokes blend at, whatever its size."""


def palette_distance(output: Tensor, style: Tensor, *, projections: int = 32, seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance between the pixel colours of two RGB images in CIELAB
    (see the module docstring): the colours of each are projected on the same directions
    (the three axes and seeded random ones), and each projection's distribution compared
    by its quantiles. Root mean square times sqrt(3), so that one colour shifted by a
    difference of d scores about d (a unit direction sees a third of a shift's square, on
    average and over the axes)."""
    colours = []
    for image in (output, style):
        side = min(PALETTE_SIDE, max(image.shape[-2:]))
        small = resize(image.clamp(0, 1).float(), fit_long_side(*image.shape[-2:], side))
        colours.append(rgb_to_lab(small).reshape(3, -1).T)
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.cat([torch.eye(3), F.normalize(torch.randn(3, projections, generator=gen), dim=0).T]).T
    count = min(len(c) for c in colours)
    qx, qy = (_quantiles(c @ dirs.to(c), count) for c in colours)
    return float((3 * (qx - qy).pow(2).mean()).sqrt())


COPY_LAYER = "relu5_1"
COPY_BLOCK = 3
COPY_SIMILARITY = 0.6
"""The copy test of :func:`copied_share`: a block of ``COPY_BLOCK`` x ``COPY_BLOCK`` positions at
:data:`COPY_LAYER` (each sees about 200 px, 16 px apart) whose best matches in the painting all
lie at one offset and are at least this similar (cosine). A photo's best matches are about 0.4
similar on average (the shared images), a painted output's 0.5-0.65; a flat photo region
(fog) can match at one offset, so the floor keeps it out. The flagged blocks are what the eye
calls a copy (checked on overlays: the Great Wave's crest and cartouche, Starry Night's moon)."""


def copied_share(output_features: Tensor, style_features: Tensor, *, chunk: int = 4096) -> float:
    """Share of the output inside copied blocks (see :data:`COPY_SIMILARITY`), from both images'
    features at :data:`COPY_LAYER` (1, C, h, w), the painting at the output's scale.

    Each output position's nearest painting position (cosine similarity) is found; a block
    of neighbours whose nearest positions are shifted alike (within one position) maps a
    region of the painting onto the output by translation: a copy. A style transferred as
    texture (strokes, colours, motifs rearranged) finds its matches scattered. Gram
    statistics cannot tell the two apart, and at the deepest layer a few hundred positions
    are matched best by reproducing the painting's own features, so this is measured
    separately.
    """
    c, h, w = output_features.shape[1:]
    r = COPY_BLOCK // 2
    if h <= 2 * r or w <= 2 * r:
        return 0.0  # no whole block fits
    width = style_features.shape[-1]
    ours = F.normalize(output_features.reshape(c, -1).T.float(), dim=1)
    theirs = F.normalize(style_features.reshape(c, -1).float(), dim=0)
    best, nearest = zip(*((ours[i:i + chunk] @ theirs).max(1) for i in range(0, len(ours), chunk)))
    best, nearest = torch.cat(best).view(h, w), torch.cat(nearest).view(h, w)
    offset_y = nearest // width - torch.arange(h, device=nearest.device).view(h, 1)
    offset_x = nearest % width - torch.arange(w, device=nearest.device).view(1, w)
    inner = (slice(r, h - r), slice(r, w - r))
    copied = best[inner] >= COPY_SIMILARITY
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            near = (slice(r + dy, h - r + dy), slice(r + dx, w - r + dx))
            copied &= best[near] >= COPY_SIMILARITY
            copied &= (offset_y[near] - offset_y[inner]).abs() <= 1
            copied &= (offset_x[near] - offset_x[inner]).abs() <= 1
    covered = F.max_pool2d(F.pad(copied.float()[None, None], (r, r, r, r)), COPY_BLOCK, 1, r)
    return float(covered.mean())


@torch.no_grad()
def score(output: Tensor, content: Tensor, style: Tensor) -> Scores:
    """Compare ``output`` (1, 3, H, W) with ``content`` and ``style``; see the module docstring."""
    size = tuple(output.shape[-2:])
    content = resize(content, size)
    style = resize(style, fit_long_side(*style.shape[-2:], max(size)))
    net = shared_extractor((CONTENT_LAYER,) + STYLE_LAYERS + SWD_LAYERS, "max", torch.float32, output.device)
    fo, fc, fs = net(output), net(content.to(output)), net(style.to(output))
    style_d = sum(style_loss(gram_matrix(fo[n]), gram_matrix(fs[n])).item() for n in STYLE_LAYERS) / len(STYLE_LAYERS)
    swd = sum(sliced_wasserstein(fo[n], fs[n]) for n in SWD_LAYERS) / len(SWD_LAYERS)
    return Scores(
        content_distance=content_loss(fo[CONTENT_LAYER], fc[CONTENT_LAYER]).item(),
        style_distance=style_d,
        ssim=ssim(luminance(output.clamp(0, 1)), luminance(content)),
        style_swd=swd,
        layout=layout(output, content),
        edges=edges(output, content),
        outlines=outlines(output, content),
        palette=palette_distance(output, style),
        copied=copied_share(fo[COPY_LAYER], fs[COPY_LAYER]),
    )
