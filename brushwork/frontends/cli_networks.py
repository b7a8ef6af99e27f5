"""The command line of the trained networks: train-fast, train-adain, fast, adain, models, export.

Like :mod:`brushwork.frontends.cli`, it only parses, calls the library and reports; training
options and their defaults come from the config dataclasses of :mod:`brushwork.realtime.training`.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

from brushwork import __version__
from brushwork.engine.devices import device_description, resolve_device
from brushwork.errors import InputError
from brushwork.engine.transfer import check_weight
from brushwork.media.image_io import (check_output_path, check_room, check_writable_folder, fit_long_side, image_size,
                                      load_image, load_mask, resize, save_image, source_label)
from brushwork.frontends.progress import progress_bar
from brushwork.media.paths import check_new, check_not_input, expand_inputs, folder_outputs, names_folder
from brushwork.realtime.models import (DEFAULT_ARBITRARY, KIND_TITLES, export_onnx, load_model, model_metadata, save_model,
                                       shipped_models)
from brushwork.realtime.stylize import AdaINOptions, FastOptions, arbitrary_stylize, fast_stylize
from brushwork.realtime.training import (AdaINTrainConfig, FastTrainConfig, TrainingProgress, UniversalTrainConfig, train_adain,
                                         train_fast, train_universal)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the network commands to the main parser's subcommands."""
    p = sub.add_parser("train-fast", help="train a feed-forward network for one style (Johnson et al.)")
    p.add_argument("style", help="style image")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of training photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--name", help="model name kept in its metadata (default: the style's file name)")
    _add_training_options(p, FastTrainConfig)

    p = sub.add_parser("train-adain", help="train the decoder of an arbitrary-style AdaIN network")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of content photos")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of style images (paintings)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--name", default="adain", help="model name kept in its metadata (default: %(default)s)")
    _add_training_options(p, AdaINTrainConfig)

    p = sub.add_parser("train-wct", help="train the decoders of an arbitrary-style WCT network (Li et al. 2017): "
                       "they learn to invert VGG-19, no style loss")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of photos")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of paintings (any colours and textures help)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--name", default="wct", help="model name kept in its metadata (default: %(default)s)")
    p.add_argument("--start-from", metavar="MODEL", help="a WCT model (shipped name or file) whose decoders to start "
                   "from; its levels not in --levels are kept as they are")
    _add_training_options(p, UniversalTrainConfig)

    p = sub.add_parser("fast", help="stylize images in one pass with a trained feed-forward model")
    p.add_argument("model", nargs="?", help="a shipped model's name (see --list) or a .safetensors file")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="images, folders of images (searched recursively) or glob patterns")
    p.add_argument("-o", "--output", help="output image (replaced if it exists, since you named it); a folder when there "
                   "are several inputs, a folder among them, or OUTPUT ends in '/': the outputs then keep each input's "
                   "path below its folder, as PNG")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in the output folder (without it "
                   "the run stops before writing anything)")
    p.add_argument("--list", action="store_true", help="print the shipped feed-forward models this command runs, one "
                   "per line, name first (every kind: brushwork models)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_options(p, FastOptions, "network options")

    p = sub.add_parser("adain", help="stylize with any style image, no training (a WCT or AdaIN network)")
    p.add_argument("content", help="content image")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s)")
    p.add_argument("-o", "--output", required=True, help="output image (replaced if it exists, since you named it)")
    p.add_argument("--model", default=DEFAULT_ARBITRARY, help="arbitrary-style model (WCT or AdaIN): shipped name or "
                   "file (default: %(default)s; see brushwork models)")
    p.add_argument("--weights", type=float, nargs="+", metavar="W", help="interpolation weight per style (default: equal)")
    p.add_argument("--masks", nargs="+", metavar="MASK", help="one grayscale mask per style (white = styled), or 'none'")
    add_dataclass_options(p, AdaINOptions, "network options")

    p = sub.add_parser("models", help="list the shipped models by kind: feed-forward ones for `fast`, WCT and AdaIN for `adain`")

    p = sub.add_parser("export", help="export a trained model to ONNX")
    p.add_argument("model", help="a shipped model's name or a .safetensors file")
    p.add_argument("output", help="ONNX file to write (.onnx)")


def _add_training_options(parser: argparse.ArgumentParser, config_class: type) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_options(parser, config_class, "training options")


def add_dataclass_options(parser: argparse.ArgumentParser, config_class: type, title: str) -> None:
    """One flag per field of ``config_class``, with the field's default, help and choices."""
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(config_class):
        shown = f.metadata["help"] if f.default is None else f"{f.metadata['help']} (default: %(default)s)"
        kwargs: dict = {"dest": f.name, "default": f.default, "help": shown}
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
            if isinstance(f.default, int):
                kwargs["type"] = int
        elif isinstance(f.default, tuple):
            numbers = isinstance(f.default[0], int)
            kwargs.update(nargs="+", metavar="N" if numbers else "LAYER", default=f.default, type=type(f.default[0]))
        elif str(f.type).startswith("tuple[int"):  # optional, e.g. --levels 3 2 1
            kwargs.update(nargs="+", metavar="N", type=int)
        elif isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction  # --hue-jitter / --no-hue-jitter
        else:
            kwargs["type"] = (float if "min" in f.metadata and isinstance(f.metadata["min"], float) else int) \
                if f.default is None else type(f.default)
            if f.name.endswith("size"):
                kwargs["metavar"] = "PX"
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def check_weights(flag: str, weights: Sequence[float] | None, count: int) -> None:
    """Per-style weights, checked under the flag that gave them (shared with ``transfer``)."""
    if weights is None:
        return
    if len(weights) != count:
        raise InputError(f"{flag}: {len(weights)} weights given for {count} styles")
    for weight in weights:
        check_weight(flag, weight)
    if sum(weights) <= 0:
        raise InputError(f"{flag} must not all be zero")


def as_flags(message: str, names: Sequence[str]) -> str:
    """A library message about ``style_weight`` says ``--style-weight`` on the command line."""
    first = message.split(" ", 1)[0]
    return "--" + first.replace("_", "-") + message[len(first):] if first in names else message


def options_from(args: argparse.Namespace, config_class: type):
    """The config dataclass filled from the parsed flags (its own checks apply)."""
    names = [f.name for f in dataclasses.fields(config_class)]
    values = {name: getattr(args, name) for name in names}
    try:
        return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except InputError as exc:
        raise InputError(as_flags(str(exc), names)) from None


def _check_model_output(path: str, inputs: Sequence[str]) -> Path:
    out = Path(path)
    if out.suffix != ".safetensors":
        raise InputError(f"model output {path!r} must end in .safetensors")
    check_writable_folder(out)
    check_not_input(out, inputs)
    return out


class TrainingBar:
    """A progress bar for training: step, losses, time left. Keeps the last steps' losses,
    whose mean is what the model's metadata reports (one step's batch is too noisy)."""

    def __init__(self, quiet: bool, keep: int = 50) -> None:
        self.quiet, self.bar, self.last = quiet, None, None
        self.recent: collections.deque[dict[str, float]] = collections.deque(maxlen=keep)

    def recent_losses(self) -> dict[str, float]:
        """Mean of each loss over the kept steps that report it."""
        names = dict.fromkeys(k for losses in self.recent for k in losses)
        return {k: sum(l[k] for l in self.recent if k in l) / sum(k in l for l in self.recent) for k in names}

    def __call__(self, event: TrainingProgress) -> None:
        self.last = event
        self.recent.append(event.losses)
        if self.quiet:
            return
        if self.bar is None:
            self.bar = progress_bar(event.total_steps, initial=event.step - 1)
            self.bar.set_description_str("training", refresh=False)
        losses = " ".join(f"{k} {v:.3g}" for k, v in event.losses.items())
        self.bar.set_postfix_str(f"left {tqdm.format_interval(event.eta)}, {losses}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _train(args: argparse.Namespace, config, run, **inputs: str) -> Path:
    out = _check_model_output(args.output, list(inputs.values()))
    bar = TrainingBar(args.quiet)
    start = time.perf_counter()
    try:
        net = run(out, bar)
    finally:
        bar.close()
    final = {k: float(f"{v:.4g}") for k, v in bar.recent_losses().items()}
    seconds = bar.last.trained_seconds if bar.last else time.perf_counter() - start
    steps = bar.last.step if bar.last else 0  # fewer than config.steps when max_minutes stopped it
    machine = device_description(resolve_device(config.device), config.precision)
    return save_model(net, out, {"name": args.name, "training": dataclasses.asdict(config), "steps_done": steps, "machine": machine,
                                 "final_losses": final, "final_losses_over": len(bar.recent), "train_seconds": round(seconds, 1), **inputs})


def cmd_train_fast(args: argparse.Namespace) -> Path:
    config = options_from(args, FastTrainConfig)
    style = load_image(args.style, "style image")
    args.name = args.name or source_label(args.style)
    return _train(args, config, lambda out, bar: train_fast(style, args.images, out, config, resume=args.resume, callback=bar),
                  style=args.style, images=args.images)


def cmd_train_adain(args: argparse.Namespace) -> Path:
    config = options_from(args, AdaINTrainConfig)
    return _train(args, config, lambda out, bar: train_adain(args.images, args.styles, out, config, resume=args.resume,
                                                             callback=bar), images=args.images, styles=args.styles)


def cmd_train_wct(args: argparse.Namespace) -> Path:
    config = options_from(args, UniversalTrainConfig)
    start = None
    if args.start_from:
        start = load_model(args.start_from, expect="arbitrary")
        if start.kind != "wct":
            raise InputError(f"--start-from needs a WCT model; {args.start_from!r} is an {start.kind} model")
    extra = {"start_from": str(start.path)} if start is not None else {}
    return _train(args, config, lambda out, bar: train_universal(
        args.images, args.styles, out, config, resume=args.resume, callback=bar,
        start_from=None if start is None else start.network), images=args.images, styles=args.styles, **extra)


def cmd_fast(args: argparse.Namespace) -> Path | None:
    if args.list:
        _print_models("fast")
        return None
    if not args.model or not args.inputs or not args.output:
        raise InputError("give a MODEL, at least one INPUT and -o OUTPUT (or --list)")
    options = options_from(args, FastOptions)
    model = load_model(args.model, expect="fast")
    network = model.network.to(resolve_device(options.device))  # ours to move: loaded here, moved once
    inputs = expand_inputs(args.inputs)
    sources = [item.path for item in inputs]
    to_folder = len(inputs) > 1 or names_folder(args.output) or any(Path(i).is_dir() for i in args.inputs)
    out = Path(args.output)
    if to_folder:
        if out.exists() and not out.is_dir():
            raise InputError(f"output {args.output!r} is a file, but several inputs need a folder")
        targets = folder_outputs(inputs, out)
        for target in targets:
            check_not_input(target, sources, "output")
        check_new(targets, overwrite=args.overwrite)
    else:
        targets = [check_output_path(args.output)]
        check_not_input(args.output, sources)
    # Every input's size from its header first: a file that is no image stops the run before
    # anything is written, and images are then decoded one batch at a time, never all at once.
    shapes = [image_size(path, "input image") for path in sources]
    if args.size:
        shapes = [fit_long_side(*shape, args.size) for shape in shapes]
    check_room(targets[0], max(shapes, key=lambda shape: shape[0] * shape[1]), count=len(targets))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    if to_folder:
        out.mkdir(parents=True, exist_ok=True)
    bar = None if args.quiet or len(sources) == 1 else progress_bar(len(sources))
    if bar is not None:
        bar.set_description_str("images", refresh=False)
    for shape, indices in groups.items():
        for at in range(0, len(indices), args.batch):
            chunk = indices[at:at + args.batch]
            batch = torch.cat([resize(load_image(sources[i], "input image", long_side=max(shape)), shape) for i in chunk])
            result = fast_stylize(network, batch, preserve_color=args.preserve_color, precision=args.precision,
                                  tiling=options.tiling(shape))
            for i, image in zip(chunk, result):
                targets[i].parent.mkdir(parents=True, exist_ok=True)
                save_image(image[None], targets[i], {"brushwork": __version__, "command": "fast",
                                                    "model": model.metadata.get("name", str(model.path)),
                                                    "input": str(sources[i]), "preserve_color": args.preserve_color})
                args.written.append(targets[i])
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return out if to_folder else targets[0]


KINDS = {kind: f"{KIND_TITLES[kind]} ({'brushwork fast NAME' if kind == 'fast' else 'brushwork adain --model NAME'})"
         for kind in ("fast", "wct", "adain")}  # listing order: the default arbitrary network before the first one


def _print_models(kind: str) -> None:
    """The shipped models of ``kind``, one per line: name, tab, what it is and how it was trained."""
    for name, path in shipped_models().items():
        meta = model_metadata(path)
        if meta["kind"] != kind:
            continue
        training = meta.get("training", {})
        source = Path(str(meta.get("style") or meta.get("styles") or "")).name or "?"
        print(f"{name}\t{KINDS[kind]}; trained on {source}, {meta.get('steps_done', training.get('steps', '?'))} steps "
              f"at {training.get('size', '?')} px")


def cmd_models(args: argparse.Namespace) -> None:
    for kind in KINDS:
        _print_models(kind)


def cmd_adain(args: argparse.Namespace) -> Path:
    options = options_from(args, AdaINOptions)  # the ranges, before any work
    check_weights("--weights", args.weights, len(args.styles))
    check_output_path(args.output)
    check_not_input(args.output, [args.content, *args.styles, *(args.masks or [])])
    model = load_model(args.model, expect="arbitrary")
    content = load_image(args.content, "content image", long_side=args.size)
    content = resize(content, fit_long_side(*content.shape[-2:], args.size))
    check_room(args.output, tuple(content.shape[-2:]))
    styles = [load_image(s, "style image", long_side=args.style_size) for s in args.styles]
    masks = load_style_masks(args.masks, len(args.styles), long_side=args.size)
    network = model.network.to(resolve_device(args.device))
    image = arbitrary_stylize(network, content, styles, alpha=args.alpha, weights=args.weights, masks=masks,
                              levels=options.levels, keep_layout=options.keep_layout,
                              reference_size=options.reference_size, preserve_color=args.preserve_color,
                              style_size=args.style_size, precision=args.precision,
                              tiling=options.tiling(tuple(content.shape[-2:])))
    return save_image(image, args.output, {"brushwork": __version__, "command": "adain", "content": args.content,
                                           "styles": args.styles, "alpha": args.alpha, "weights": args.weights,
                                           "levels": options.levels, "keep_layout": options.keep_layout,
                                           "reference_size": options.reference_size,
                                           "masks": args.masks, "preserve_color": args.preserve_color,
                                           "model": model.metadata.get("name", str(model.path))})


def load_style_masks(masks: Sequence[str] | None, count: int, *, long_side: int | None = None) -> list | None:
    """One mask per style from ``--mask``/``--masks`` (``none``: that style everywhere); shared with ``transfer``."""
    if not masks:
        return None
    if len(masks) != count:
        raise InputError(f"{len(masks)} masks given for {count} styles; give one per style ('none' for everywhere)")
    return [None if m.lower() == "none" else load_mask(m, "mask", long_side=long_side) for m in masks]


def cmd_export(args: argparse.Namespace) -> Path:
    model = load_model(args.model)
    check_not_input(args.output, [model.path])
    return export_onnx(model, args.output)


COMMANDS = {"train-fast": cmd_train_fast, "train-adain": cmd_train_adain, "train-wct": cmd_train_wct, "fast": cmd_fast, "adain": cmd_adain,
            "models": cmd_models, "export": cmd_export}
