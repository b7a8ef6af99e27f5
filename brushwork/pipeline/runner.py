"""One pipeline for every front end: a request in, a checked, stylized, saved image out.

The CLI, the studio's worker and ``brushwork batch`` all describe their work as a
:class:`TransferRequest` and hand it to a :class:`Runner`, which checks it (from the files'
headers, before decoding anything), loads the inputs at the size they will be used,
stylizes with the optimiser or a network, writes the metadata and saves atomically. None
of the front ends repeats any of those steps.

A Runner keeps what is worth keeping between requests: the prepared style targets of the
last styles it saw and the networks it loaded, so that a batch or a studio prepares a
style once, not once per image.
"""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
from torch import Tensor

from brushwork.engine.devices import resolve_device, resolve_precision
from brushwork.errors import InputError
from brushwork.media.image_io import (OutputFormat, check_output_path, check_room, fit_long_side, image_size, load_image,
                                      load_mask, resize, save_image)
from brushwork.realtime.models import (DEFAULT_ARBITRARY, PURPOSE, WANTED, LoadedModel, Purpose, describe_kind, load_model,
                                       model_metadata)
from brushwork.engine.optimize import Progress, ProgressCallback
from brushwork.engine.transfer import PreparedStyles, TransferConfig, check_transfer, prepare_styles, stylize
from brushwork.options import describe
from brushwork.pipeline.settings import long_sides, run_metadata

Method = Literal["optimize", "fast", "adain"]
METHODS: tuple[str, ...] = ("optimize", "fast", "adain")
"""``adain`` is the arbitrary-style method, whichever kind of network its model is (AdaIN or WCT)."""


def purpose_of(method: str) -> Purpose:
    """The kind of model a network method runs."""
    return "fast" if method == "fast" else "arbitrary"


Source = str | Path | Tensor
"""An image: a file, ``sample:NAME``, or a (1, 3, H, W) tensor in [0, 1]."""


@dataclass
class TransferRequest:
    """One stylized image, as any front end asks for it."""

    content: Source
    styles: Sequence[Source]
    config: TransferConfig = field(default_factory=TransferConfig)
    method: Method = "optimize"
    model: str | None = None
    """The network for ``fast`` (required) or ``adain`` (default: the shipped ``adain``)."""
    style_weights: Sequence[float] | None = None
    masks: Sequence[Source | None] | None = None
    init_image: Source | None = None
    output: Path | None = None
    """Where to save (atomically, with the metadata); None keeps the image in memory only."""
    output_format: OutputFormat = field(default_factory=OutputFormat)
    """Resolution and depth of the saved file (print output)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Added to (and overriding) what the output records of its inputs: a job id, labels, the command line."""

    def parameters(self) -> dict[str, Any]:
        """Everything that decides the pixels, as plain data: equal parameters, equal image
        (on one machine). Batch work compares it to skip outputs that are already done."""
        return {"method": self.method, "model": self.model, "content": _label(self.content),
                "styles": [_label(s) for s in self.styles], "style_weights": list(self.style_weights or []) or None,
                "masks": None if self.masks is None else [None if m is None else _label(m) for m in self.masks],
                "init_image": None if self.init_image is None else _label(self.init_image),
                "config": _plain(asdict(self.config.resolved())) if self.method == "optimize" else
                {"size": self.config.size, "preserve_color": self.config.preserve_color,
                 "precision": self.config.precision}}


@dataclass
class TransferResult:
    image: Tensor
    path: Path | None
    metadata: dict[str, Any]
    seconds: float


def _label(source: Source) -> str:
    return "<tensor>" if isinstance(source, Tensor) else str(source)


def _plain(value: Any) -> Any:
    """Tuples as lists and schedules as text, as JSON gives them back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _size_of(source: Source, role: str) -> tuple[int, int]:
    return tuple(source.shape[-2:]) if isinstance(source, Tensor) else image_size(source, role)  # type: ignore[return-value]


def _load(source: Source, role: str, long_side: int | None) -> Tensor:
    return source if isinstance(source, Tensor) else load_image(source, role, long_side=long_side)


def check_request(request: TransferRequest, *, read_masks: bool = True, read_model: bool = True) -> tuple[int, int]:
    """Everything the run would refuse, from the images' headers: the output size (h, w).

    With ``read_masks`` the masks are read too (at the size they will be used), since an
    all-black mask is refused; a run leaves that to the engine, which reads them anyway.
    With ``read_model`` the network's file header is read (exists, which kind); a runner
    that has the network loaded skips it.
    """
    if request.method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}; got {request.method!r}")
    if request.method == "fast" and not request.model:
        raise InputError("method 'fast' needs a model (a shipped name or a .safetensors file)")
    if request.method != "optimize" and (request.init_image is not None or request.config.init == "image"):
        raise InputError(f"an initial image applies to the optimiser only, not to method {request.method!r}")
    if request.method != "optimize" and read_model:
        kind = model_metadata(request.model or DEFAULT_ARBITRARY)["kind"]  # the file's header only: exists, readable, which kind
        if PURPOSE[kind] != purpose_of(request.method):
            raise InputError(f"model {request.model!r} is {describe_kind(kind)}; method {request.method!r} needs "
                             f"{WANTED[purpose_of(request.method)]}")
    config = request.config
    masks = request.masks
    mask_sizes = None if masks is None else [None if m is None else _size_of(m, "mask") for m in masks]
    styles = len(request.styles) or int(request.method == "fast")  # a per-style network is its own style
    size = check_transfer(config, _size_of(request.content, "content image"), styles=styles,
                          style_weights=request.style_weights, mask_sizes=mask_sizes)
    for index, mask in enumerate((masks or []) if read_masks else [], 1):
        if mask is not None and not isinstance(mask, Tensor):
            load_mask(mask, f"mask {index}", long_side=config.size)
    if config.init == "image" and request.init_image is None:
        raise InputError("init 'image' needs an initial image")
    if request.output is not None:
        check_output_path(request.output)
        check_room(request.output, size, request.output_format)
    return size


class Runner:
    """Runs requests; keeps prepared styles and loaded networks for the requests that follow."""

    def __init__(self, *, keep_styles: int = 4) -> None:
        self._styles: collections.OrderedDict[tuple, PreparedStyles] = collections.OrderedDict()
        self._models: dict[tuple[str, str], LoadedModel] = {}
        self._arbitrary_stats: dict[tuple, list] = {}
        self.keep_styles = keep_styles
        self.preparations = 0
        """How many times style targets were prepared (not found among the kept ones)."""

    def styles(self, sources: Sequence[Source], config: TransferConfig) -> PreparedStyles:
        """Prepared styles for these sources and config: kept ones when the same files were
        prepared for the same settings before (tensors are never kept: they have no name)."""
        key = None
        if not any(isinstance(s, Tensor) for s in sources):
            key = (tuple(str(s) for s in sources), *(getattr(config, f) for f in
                   ("content_layers", "style_layers", "style_layer_weights", "style_scale", "pooling", "precision",
                    "device")))
            if key in self._styles:
                self._styles.move_to_end(key)
                return self._styles[key]
        prepared = prepare_styles([_load(s, "style image", long_sides(config)[1]) for s in sources], config)
        self.preparations += 1
        if key is not None:
            self._styles[key] = prepared
            while len(self._styles) > self.keep_styles:
                self._styles.popitem(last=False)
        return prepared

    def model(self, name: str, kind: str, device: torch.device) -> LoadedModel:
        key = (name, kind)
        if key not in self._models:
            loaded = load_model(name, expect=purpose_of(kind))
            loaded.network.to(device)  # loaded here, so ours to move once
            self._models[key] = loaded
        return self._models[key]

    def run(self, request: TransferRequest, *, callback: ProgressCallback | None = None) -> TransferResult:
        """Check, load, stylize, and save (when ``request.output`` is set) with the metadata."""
        # a network this runner has loaded was checked then: no header read per video frame
        loaded = (request.model or DEFAULT_ARBITRARY, request.method) in self._models
        check_request(request, read_masks=False, read_model=not loaded)
        config = request.config
        start = time.perf_counter()
        if request.method == "optimize":
            image, used = self._optimize(request, callback)
        else:
            image, used = self._network(request)
        seconds = time.perf_counter() - start
        device = resolve_device(config.device)
        meta = run_metadata(request.method if request.method != "optimize" else "transfer", config, seconds,
                            content=_label(request.content), styles=[_label(s) for s in request.styles],
                            style_weights=request.style_weights,
                            masks=None if request.masks is None else [None if m is None else _label(m) for m in request.masks],
                            init_image=None if request.init_image is None else _label(request.init_image),
                            device=str(device), precision_used=str(resolve_precision(config.precision, device)).replace("torch.", ""),
                            parameters=request.parameters(), **used)
        meta.update(request.metadata)
        path = save_image(image, request.output, meta, request.output_format) if request.output is not None else None
        return TransferResult(image, path, meta, seconds)

    def _optimize(self, request: TransferRequest, callback: ProgressCallback | None) -> tuple[Tensor, dict]:
        config = request.config
        content = _load(request.content, "content image", long_sides(config)[0])
        masks = None if request.masks is None else [
            None if m is None else (m if isinstance(m, Tensor) else load_mask(m, f"mask {i}", long_side=config.size))
            for i, m in enumerate(request.masks, 1)]
        init = None if request.init_image is None else _load(request.init_image, "initial image", config.size)
        styles = self.styles(request.styles, config)
        last: dict[str, float] = {}

        def on_step(event: Progress) -> None:
            last.clear()
            last.update(event.weights)
            if callback is not None:
                callback(event)

        image = stylize(content, styles, style_weights=request.style_weights, masks=masks, init_image=init,
                        config=config, callback=on_step)
        return image, {"effective_weights": dict(last) or None}

    def _network(self, request: TransferRequest) -> tuple[Tensor, dict]:
        from brushwork.realtime.stylize import arbitrary_style_statistics, arbitrary_stylize, fast_stylize
        from brushwork.realtime.tiling import Tiling, network_tiling

        config = request.config
        device = resolve_device(config.device)
        content = _load(request.content, "content image", config.size)
        content = resize(content, fit_long_side(*content.shape[-2:], config.size))
        name = request.model or DEFAULT_ARBITRARY
        model = self.model(name, request.method, device)
        tiling = network_tiling(config.tile, describe(Tiling)["overlap"]["default"], tuple(content.shape[-2:]))
        if request.method == "fast":
            image = fast_stylize(model.network, content, preserve_color=config.preserve_color, precision=config.precision,
                                 tiling=tiling)
        else:
            masks = None if request.masks is None else [
                None if m is None else (m if isinstance(m, Tensor) else load_mask(m, f"mask {i}", long_side=config.size))
                for i, m in enumerate(request.masks, 1)]
            key = (name, tuple(map(str, request.styles)), config.size, config.precision, str(device))
            if key in self._arbitrary_stats:  # the paintings were read and encoded for an earlier frame or photo
                styles, stats = self._arbitrary_stats[key]
            else:
                styles, stats = [_load(s, "style image", config.size) for s in request.styles], None
                if config.preserve_color != "histogram" and not any(isinstance(s, Tensor) for s in request.styles):
                    stats = arbitrary_style_statistics(model.network, styles, style_size=config.size, precision=config.precision)
                    self._arbitrary_stats = {key: (styles, stats)}
            image = arbitrary_stylize(model.network, content, styles, weights=request.style_weights, masks=masks,
                                      preserve_color=config.preserve_color, style_size=config.size,
                                      precision=config.precision, style_stats=stats, tiling=tiling)
        return image, {"model": model.metadata.get("name", str(model.path))}


def run(request: TransferRequest, *, callback: ProgressCallback | None = None) -> TransferResult:
    """One request with a fresh :class:`Runner` (nothing kept for later)."""
    return Runner().run(request, callback=callback)
