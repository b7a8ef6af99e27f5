"""Saving, loading, listing and exporting the trained networks.

A model is one safetensors file: float16 weights (a few MB) and string metadata that says
what it is (``kind``: ``fast`` or ``adain``, the architecture, the style, how it was
trained, the Brushwork version). Loading never unpickles anything. Models shipped with
Brushwork live in ``brushwork/pretrained`` and are found by name (``starry_night``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from brushwork.errors import InputError
from brushwork.media.image_io import atomic_write, check_writable_folder
from brushwork.realtime.networks import AdaINNet, Decoder, TransformerNet, UniversalNet

PRETRAINED = Path(__file__).parent / "pretrained"
ModelKind = Literal["fast", "adain", "wct"]
Purpose = Literal["fast", "arbitrary"]
PURPOSE: dict[str, Purpose] = {"fast": "fast", "adain": "arbitrary", "wct": "arbitrary"}
"""What each kind is for: ``fast`` models paint their own style, the others any style."""
KINDS: tuple[str, ...] = tuple(PURPOSE)
KIND_TITLES: dict[str, str] = {"fast": "feed-forward, one style", "adain": "AdaIN, any style", "wct": "WCT, any style"}
"""Each kind in a few words, for listings and docs."""
DEFAULT_ARBITRARY = "wct"
"""The shipped model ``brushwork adain`` (and the studio, batch, video) runs unless told otherwise."""
FORMAT = "brushwork-model-1"


@dataclass
class LoadedModel:
    kind: ModelKind
    network: nn.Module
    metadata: dict[str, Any]
    path: Path


def shipped_models() -> dict[str, Path]:
    """Name -> file of every model that comes with Brushwork."""
    return {p.stem: p for p in sorted(PRETRAINED.glob("*.safetensors"))}


def save_model(network: nn.Module, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``network`` as float16 safetensors with ``metadata`` (atomically)."""
    from safetensors.torch import save

    if isinstance(network, TransformerNet):
        kind, arch, module = "fast", {"width": network.width, "blocks": network.blocks, "output": network.output}, network
    elif isinstance(network, AdaINNet):
        kind, arch, module = "adain", {"width": network.decoder.width}, network.decoder
    elif isinstance(network, UniversalNet):
        kind, arch, module = "wct", {"width": network.width, "levels": list(network.levels)}, network.decoders
    else:
        raise TypeError(f"cannot save a {type(network).__name__}")
    from brushwork import __version__

    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in module.state_dict().items()}
    header = {"format": FORMAT, "kind": kind, "arch": json.dumps(arch), "brushwork": __version__,
              **{k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}}
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write(save(tensors, metadata=header))
    return path


def resolve_model(name_or_path: str | Path) -> Path:
    """A model file from a path, or a shipped model's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    if path.suffix or "/" in str(name_or_path):
        raise InputError(f"model {str(name_or_path)!r} does not exist")
    raise InputError(f"no model named {str(name_or_path)!r}; shipped models: {', '.join(shipped) or 'none'}")


def _read(path: Path, *, weights: bool) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Header (and, if asked, float32 weights) of a model file; damage of any kind is an InputError."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k).float() for k in handle.keys()} if weights else {}
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise InputError(f"model {str(path)!r} is not a readable model file ({type(exc).__name__})") from None
    if header.get("format") != FORMAT or header.get("kind") not in KINDS:
        raise InputError(f"model {str(path)!r} is not a Brushwork model")
    return header, tensors


def model_metadata(name_or_path: str | Path) -> dict[str, Any]:
    """A model's metadata without loading its weights (for listings)."""
    header, _ = _read(resolve_model(name_or_path), weights=False)
    return {k: _maybe_json(v) for k, v in header.items()}


def load_model(name_or_path: str | Path, *, expect: Purpose | None = None) -> LoadedModel:
    """Load a model saved by :func:`save_model` (float32, eval mode, on the CPU)."""
    path = resolve_model(name_or_path)
    header, tensors = _read(path, weights=True)
    kind = header["kind"]
    if expect is not None and PURPOSE[kind] != expect:
        raise InputError(f"model {str(path)!r} is {describe_kind(kind)}; this command needs {WANTED[expect]}")
    arch = json.loads(header["arch"])
    network: nn.Module
    with torch.random.fork_rng(devices=[]):  # the layers' random init is overwritten: leave the caller's RNG alone
        if kind == "fast":
            network = TransformerNet(**{"output": "sigmoid", **arch})  # files without "output" predate it
            target = network
        elif kind == "adain":
            network = AdaINNet(Decoder(**arch))
            target = network.decoder
        else:
            network = UniversalNet(**arch)
            target = network.decoders
    try:
        target.load_state_dict(tensors)
    except RuntimeError as exc:
        raise InputError(f"model {str(path)!r} does not match its declared architecture ({str(exc).splitlines()[0]})") from None
    metadata = {k: _maybe_json(v) for k, v in header.items()}
    return LoadedModel(kind, network.eval(), metadata, path)


WANTED: dict[str, str] = {"fast": "a feed-forward (train-fast) model",
                          "arbitrary": "an arbitrary-style (train-wct or train-adain) model"}


def describe_kind(kind: str) -> str:
    """``an AdaIN model`` and the like, for messages."""
    return {"fast": "a feed-forward model", "adain": "an AdaIN model", "wct": "a WCT model"}[kind]


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


class _ArbitraryForExport(nn.Module):
    """An arbitrary-style network with one style, the shape ONNX can express."""

    def __init__(self, net: AdaINNet | UniversalNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.net(content, [style])


def export_onnx(model: LoadedModel, path: str | Path, *, opset: int = 17) -> Path:
    """Write the network as ONNX with free height and width (batch too, for ``fast``)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise InputError(f"ONNX output {str(path)!r} must end in .onnx")
    check_writable_folder(path)
    if model.kind == "fast":
        module, args = model.network, (torch.rand(1, 3, 64, 64),)
        names, axes = ["image"], {"image": {0: "batch", 2: "height", 3: "width"}, "stylized": {0: "batch", 2: "height", 3: "width"}}
    else:
        module, args = _ArbitraryForExport(model.network).eval(), (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
        names = ["content", "style"]
        axes = {"content": {2: "height", 3: "width"}, "style": {2: "style_height", 3: "style_width"},
                "stylized": {2: "height", 3: "width"}}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():  # the exporter's notes on constant folding are not the user's business
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=names, output_names=["stylized"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        tmp.replace(path)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise InputError(f"cannot write ONNX file {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
