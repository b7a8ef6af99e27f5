"""Command-line interface: parse arguments, call the library, report.

Options and their defaults come from :class:`~brushwork.engine.transfer.TransferConfig`, so the
CLI never restates a default. Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from tqdm import tqdm

from brushwork import __version__
import brushwork.frontends.cli_networks as networks
from brushwork.frontends.cli_networks import add_dataclass_options, as_flags, check_weights, options_from
from brushwork.errors import BrushworkError, InputError
from brushwork.media.image_io import OutputFormat, check_output_path, load_image, save_gif, save_image, source_label, tensor_to_pil
from brushwork.engine.devices import resolve_device
from brushwork.engine.metrics import score
from brushwork.engine.optimize import Progress
from brushwork.pipeline.batch import MANIFEST, BatchItem, plan_batch, run_batch
from brushwork.pipeline.cluster import INSTALL_HINT, RaySettings, check_ray_installed, ray_executor, ray_painter
from brushwork.studio.jobs import LOOPBACK, StudioSettings
from brushwork.options import describe
from brushwork.pipeline.runner import METHODS, Runner, TransferRequest
from brushwork.pipeline.video import MAX_CHUNK_FRAMES, VideoProgress, VideoRequest, score_video, stylize_video
from brushwork.media.video import check_video_output
from brushwork.options import check_range
from brushwork.media.paths import check_new, check_not_input, same_file
from brushwork.frontends.progress import progress_bar
from brushwork.media.samples import SAMPLE_NOTES, SAMPLES
from brushwork.engine.schedules import WeightSchedule
from brushwork.engine.transfer import NETWORK_INITS, RECONSTRUCT_CONFIG, TransferConfig, reconstruct, stylize_grid, synthesize_texture
from brushwork.pipeline.settings import DEMO_CONFIG, QUALITY_PRESETS, build_config, long_sides, run_metadata

PROG = "brushwork"


def _schedule(text: str) -> WeightSchedule:
    try:
        return WeightSchedule.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_config_options(
    parser: argparse.ArgumentParser, base: TransferConfig = TransferConfig(), skip: Sequence[str] = (),
    presets: bool = False,
) -> None:
    """One flag per TransferConfig field, with the field's help and ``base``'s value shown as default.

    Flags default to None ("not given") so that :func:`_config` can lay the given ones over
    ``base`` or over a ``--quality`` preset.
    """
    parser.set_defaults(base_config=base)
    group = parser.add_argument_group("optimisation options (defaults from TransferConfig)")
    if presets:
        group.add_argument("--quality", choices=tuple(QUALITY_PRESETS), help="preset of size-independent settings "
                           "traded between speed and quality; options given explicitly override it (default: default)")
    for name, info in TransferConfig.help().items():
        if name in skip:
            continue
        default, flag = getattr(base, name), "--" + name.replace("_", "-")
        shown = " ".join(default) if isinstance(default, tuple) else default
        kwargs: dict = {"dest": name, "default": None, "help": f"{info['help']} (default: {shown})"}
        if name == "init":  # a file name is also accepted, so no fixed choices
            kwargs.update(metavar="content|noise|adain|FILE",
                          help="starting image: content, noise, adain (the AdaIN network's result) or an image file (default: content)")
        elif "choices" in info:
            kwargs["choices"] = info["choices"]
        elif isinstance(default, WeightSchedule):
            kwargs.update(type=_schedule, metavar="SHAPE:START:END")
        elif info.get("whole") and default is None:  # an optional whole number, e.g. --tile
            kwargs.update(type=int, metavar="PX", help=info["help"])
        elif "unit" in info and default is None:  # an optional number, e.g. --max-memory
            kwargs.update(type=float, metavar=info["unit"], help=info["help"])
        elif isinstance(default, tuple) or default is None:
            kwargs.update(nargs="+", type=float if default is None else str, metavar="W" if default is None else "LAYER")
            kwargs["help"] = info["help"] if default is None else kwargs["help"]
        else:
            kwargs["type"] = type(default)
        group.add_argument(flag, **kwargs)


STYLE_ONLY = ("style_weight", "style_layers", "style_layer_weights", "style_scale", "style_schedule", "balance",
              "preserve_color")
"""Options that mean nothing without a style image: ``reconstruct`` does not offer them."""
CONTENT_ONLY = ("content_weight", "content_layers", "balance", "preserve_color")
"""Options that mean nothing without a content image: ``texture`` does not offer them."""


def _config(args: argparse.Namespace) -> TransferConfig:
    """The command's base config, then the --quality preset, then every option given.
    A bad value is reported under the flag the user typed (``--style-weight``)."""
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TransferConfig)}
    try:
        return build_config(given, quality=getattr(args, "quality", None), base=args.base_config)
    except InputError as exc:
        raise InputError(as_flags(str(exc), [f.name for f in dataclasses.fields(TransferConfig)])) from None


OUTPUT_HELP = "output image (.png, .jpg, .webp); replaced if it exists, since you named it, but never one of the inputs"
OVERWRITE_HELP = "replace existing files whose names Brushwork derived (not typed by you); without it they are kept and the run stops"


def _add_output_options(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    parser.add_argument("-o", "--output", required=required, default=default, help=OUTPUT_HELP)
    parser.add_argument("--save-every", type=int, default=0, metavar="N",
                        help="also write the image every N steps, as OUTPUT-NAME.stepNNNNN.EXT")
    parser.add_argument("--animation", metavar="FILE.gif", help="record the optimisation as an animated GIF (replaced if it exists)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP + " (the --save-every steps)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_options(parser, OutputFormat, "print output")


def _output_format(args: argparse.Namespace) -> OutputFormat:
    return options_from(args, OutputFormat)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of the whole usage text."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Neural style transfer (Gatys et al.) on the original VGG-19.",
        epilog=f"Images may be files or built-in samples: {', '.join('sample:' + s for s in SAMPLES)}.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("transfer", help="repaint a content image in the manner of one or more styles")
    p.add_argument("content", help="content image")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s)")
    p.add_argument("--style-weights", type=float, nargs="+", metavar="W", help="blend weight per style (default: equal)")
    p.add_argument("--mask", nargs="+", metavar="MASK", help="one grayscale mask per style (white = styled), or 'none'")
    _add_output_options(p)
    _add_config_options(p, presets=True)

    p = sub.add_parser("reconstruct", help="rebuild a content image from noise using one layer's features")
    p.add_argument("content", help="content image")
    p.add_argument("--layer", default="relu4_2", help="VGG-19 layer to match (default: %(default)s)")
    _add_output_options(p)
    _add_config_options(p, RECONSTRUCT_CONFIG, skip=STYLE_ONLY + ("init", "content_layers"))

    p = sub.add_parser("texture", help="synthesize a texture from noise that matches a style's statistics")
    p.add_argument("style", help="style image")
    p.add_argument("--layers", nargs="+", metavar="LAYER", help="style layers (default: --style-layers)")
    _add_output_options(p)
    _add_config_options(p, skip=CONTENT_ONLY + ("init",))

    p = sub.add_parser("grid", help="every content x every style in one labelled image")
    p.add_argument("--content", nargs="+", required=True, metavar="IMAGE", help="content images")
    p.add_argument("--style", nargs="+", required=True, metavar="IMAGE", help="style images")
    p.add_argument("-o", "--output", required=True, help=OUTPUT_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_options(p, skip=("init",), presets=True)

    p = sub.add_parser("batch", help="every content x every style (or listed pairs) into a folder; resumable, with a manifest")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="content images, folders (searched recursively) or glob patterns")
    p.add_argument("--style", nargs="+", metavar="STYLE", help="style images (or folders); every input is stylized with each")
    p.add_argument("--pairs", metavar="FILE.csv", help="explicit 'content,style' pairs, one per line (instead of INPUTS and --style)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder: OUT/PATH/NAME__STYLE.png and manifest.jsonl")
    p.add_argument("--method", choices=METHODS, default="optimize", help="optimize (Gatys), fast (a trained per-style "
                   "network: give --model) or adain (any style) (default: %(default)s)")
    p.add_argument("--model", help="network for --method fast (required) or adain (default: the shipped adain)")
    p.add_argument("--force", action="store_true", help="recompute outputs that already exist (by default an output "
                   "with the same parameters is skipped, and one with other parameters stops the batch)")
    p.add_argument("--no-score", action="store_true", help="leave the brushwork score figures out of the manifest")
    p.add_argument("--quiet", action="store_true", help="no progress bars; one line per finished item")
    _add_ray_options(p, "the items")
    _add_config_options(p, skip=("init",), presets=True)

    p = sub.add_parser("video", help="stylize a video without flicker (optical flow), keeping its timing and sound")
    p.add_argument("input", help="video file (MP4, WebM, MOV, MKV, GIF, ...)")
    p.add_argument("-o", "--output", required=True, help="output: .mp4 (H.264), .webm (VP9), .mov, .mkv, .gif, or a folder "
                   "ending in / for PNG frames; replaced if it exists, since you named it")
    p.add_argument("--style", nargs="+", required=True, metavar="STYLE", help="style image(s)")
    p.add_argument("--method", choices=METHODS, default="optimize", help="optimize (Gatys, steadied by a temporal loss), "
                   "fast (a per-style network: give --model) or adain (any style) (default: %(default)s)")
    p.add_argument("--model", help="network for --method fast (required) or adain (default: the shipped adain)")
    p.add_argument("--start", type=float, default=0.0, metavar="SECONDS", help="first second to stylize (default: 0)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="how many seconds (default: to the end)")
    video_defaults = {f.name: f.default for f in dataclasses.fields(VideoRequest) if f.default is not dataclasses.MISSING}
    p.add_argument("--no-temporal", action="store_true", help="every frame on its own (flickers; the baseline)")
    p.add_argument("--temporal-weight", type=float, default=video_defaults["temporal_weight"],
                   help="optimiser: weight of the temporal loss (default: %(default)s)")
    p.add_argument("--filter-strength", type=float, default=video_defaults["filter_strength"],
                   help="networks: how much of the previous frame, carried along the flow, to keep (0-0.99; default: %(default)s)")
    p.add_argument("--batch", type=int, metavar="N", help="networks: frames per pass (default: 1 on a CPU, where "
                   "batches ran slower, 8 on a GPU)")
    p.add_argument("--work-dir", metavar="DIR", help="where finished frames are kept for a resume (default: beside OUTPUT)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--chunk-frames", type=int, metavar="N", help="with --ray, the optimiser: frames per chunk (default: "
                   f"the clip shared among the workers, at most {MAX_CHUNK_FRAMES})")
    p.add_argument("--chunk-overlap", type=int, default=video_defaults["chunk_overlap"], metavar="N",
                   help="with --ray, the optimiser: frames each chunk starts early, cross-faded with the chunk before "
                        "(default: %(default)s)")
    _add_ray_options(p, "the frames (networks: their passes, the temporal filter stays here; optimiser: chunks of "
                        "the clip, cross-faded here)")
    _add_config_options(p, skip=("init",), presets=True)

    p = sub.add_parser("score-video", help="steadiness (warping error) and timing of a stylized video against its original")
    p.add_argument("original", help="the input video")
    p.add_argument("stylized", help="the stylized video")
    p.add_argument("--style", help="style image: adds the mean style and content distances of a few frames")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("score", help="quality metrics of an output against its content and style")
    p.add_argument("content", help="content image")
    p.add_argument("style", help="style image")
    p.add_argument("output", help="stylized image to score")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)")

    p = sub.add_parser("samples", help="list the built-in images (use them as sample:NAME anywhere an image is asked for)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    networks.add_commands(sub)

    p = sub.add_parser("serve", help="start the web studio (browser UI and JSON API)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--data", default="brushwork-data", help="folder for the job database and images (default: %(default)s)")
    p.add_argument("--token", help="access token of at least 16 characters; off loopback one is generated and printed "
                   "if not given; without one the studio answers only to this machine's loopback names")
    p.add_argument("--device", default="auto", help="where jobs run: auto, cpu, cuda, cuda:N or mps (default: %(default)s)")
    limits = describe(StudioSettings)
    for name, metavar in (("max_size", "PX"), ("max_video_seconds", "S"), ("max_video_pixels", "N"),
                          ("max_video_bytes", "BYTES"), ("max_video_size", "PX")):
        info = limits[name]
        p.add_argument(f"--{name.replace('_', '-')}", type=type(info["default"]), default=info["default"], metavar=metavar,
                       help=f"{info['help']} (default: %(default)s)")
    _add_ray_options(p, "the jobs (images, and videos' frames as brushwork video --ray does)")

    p = sub.add_parser("demo", help="stylize a built-in photo with a built-in painting; needs no files")
    p.add_argument("--content", default="sample:chelsea", help="content (default: %(default)s)")
    p.add_argument("--style", default="sample:strokes", help="style (default: %(default)s)")
    _add_output_options(p, required=False, default="brushwork-demo.png")
    _add_config_options(p, DEMO_CONFIG, presets=True)
    return parser


class Reporter:
    """Turns Progress events into a progress bar, intermediate files and animation frames."""

    def __init__(self, output: Path | None = None, *, quiet: bool, save_every: int = 0, animation: str | None = None,
                 written: list[Path] | None = None, position: int = 0) -> None:
        self.output, self.quiet, self.save_every, self.position = output, quiet, save_every, position
        self.written = written if written is not None else []
        self.animation = Path(animation) if animation else None
        self.frames: list[Image.Image] = []
        self.bar = None
        self.prefix = ""
        self.weights: dict[str, float] | None = None

    def __call__(self, event: Progress) -> None:
        self.weights = dict(event.weights)
        if self.bar is None and not self.quiet:
            self.bar = progress_bar(event.total_steps, position=self.position, leave=self.position == 0)
        if self.bar is not None:
            h, w = event.size
            self.bar.set_description_str(f"{self.prefix}scale {event.scale}/{event.scales} {w}x{h}", refresh=False)
            losses = " ".join(f"{k} {v:.3g}" for k, v in event.losses.items())
            self.bar.set_postfix_str(f"left {tqdm.format_interval(event.eta)}, {losses}", refresh=False)
            self.bar.update(1)
        if self.save_every and event.step % self.save_every == 0:
            path = step_path(self.output, event.step)
            save_image(event.preview(), path, {"step": event.step, "scale": event.scale, "losses": event.losses,
                                               "elapsed_s": round(event.elapsed, 3)})
            self.written.append(path)
        if self.animation is not None and event.step % max(1, event.total_steps // 60) == 0:
            frame = tensor_to_pil(event.preview())
            frame.thumbnail((512, 512))
            self.frames.append(frame)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def write_animation(self, image: "torch.Tensor", metadata: dict) -> None:
        """The recorded frames plus the final image, as a GIF (if one was asked for), with
        the run's parameters."""
        if self.animation is not None:
            final = tensor_to_pil(image)
            final.thumbnail((512, 512))
            save_gif(self.frames + [final], self.animation, metadata)
            self.written.append(self.animation)


def step_path(output: Path, step: int) -> Path:
    """Where ``--save-every`` writes the image of ``step``."""
    return output.with_name(f"{output.stem}.step{step:05d}{output.suffix}")


def _reporter(args: argparse.Namespace) -> Reporter:
    return Reporter(Path(args.output), quiet=args.quiet, save_every=args.save_every, animation=args.animation,
                    written=args.written)


def _run_facts(args: argparse.Namespace) -> dict:
    """What an output records of how it was asked for: the preset and the command line."""
    return {"quality": getattr(args, "quality", None) or "default", "command_line": args.command_line}


def _run_with_reporter(args: argparse.Namespace, job: Callable[[Reporter], "torch.Tensor"], command: str,
                       config: TransferConfig, **inputs) -> Path:
    """Run ``job`` with a Reporter, then save its image and animation with the run's metadata."""
    reporter = _reporter(args)
    start = time.perf_counter()
    try:
        image = job(reporter)
    finally:
        reporter.close()
    meta = run_metadata(command, config, time.perf_counter() - start, effective_weights=reporter.weights,
                        **_run_facts(args), **inputs)
    reporter.write_animation(image, meta)
    return save_image(image, args.output, meta, _output_format(args))


def _check_outputs(args: argparse.Namespace, inputs: Sequence[str | None]) -> None:
    """Every file the command may write: a usable path, never an input, never an unnamed file."""
    output = check_output_path(args.output)
    check_not_input(args.output, inputs)
    if getattr(args, "animation", None):
        if not args.animation.lower().endswith(".gif"):
            raise InputError(f"animation {args.animation!r} must end in .gif")
        check_output_path(Path(args.animation).with_suffix(".png"))
        check_not_input(args.animation, inputs, "animation")
        if same_file(args.animation, output):
            raise InputError(f"animation {args.animation!r} and output {args.output!r} are the same file")
    if getattr(args, "save_every", 0) < 0:
        raise InputError(f"--save-every must be >= 0, got {args.save_every}")
    if getattr(args, "save_every", 0):
        pattern = glob.escape(str(output.with_name(f"{output.stem}.step"))) + "[0-9]*" + glob.escape(output.suffix)
        earlier = sorted(Path(p) for p in glob.glob(pattern))
        for path in earlier:
            check_not_input(path, inputs, "--save-every would write")
        check_new(earlier, overwrite=args.overwrite)


def cmd_transfer(args: argparse.Namespace) -> Path:
    init_file = args.init
    is_file = args.init not in (None, "content", "noise", *NETWORK_INITS)
    if is_file:
        args.init = "image"
    config = _config(args)
    _check_outputs(args, [args.content, *args.styles, *(args.mask or []), init_file if is_file else None])
    check_weights("--style-weights", args.style_weights, len(args.styles))
    masks = None if not args.mask else [None if m.lower() == "none" else m for m in args.mask]
    if masks is not None and len(masks) != len(args.styles):
        raise InputError(f"{len(masks)} masks given for {len(args.styles)} styles; give one per style ('none' for everywhere)")
    request = TransferRequest(args.content, args.styles, config, style_weights=args.style_weights, masks=masks,
                              init_image=init_file if is_file else None, output=Path(args.output),
                              output_format=_output_format(args), metadata={"masks": args.mask, **_run_facts(args)})
    # The runner checks everything from the files' headers before decoding anything, then
    # loads, stylizes and saves; the CLI only reports.
    reporter = _reporter(args)
    try:
        result = Runner().run(request, callback=reporter)
    finally:
        reporter.close()
    reporter.write_animation(result.image, result.metadata)
    return result.path


def cmd_reconstruct(args: argparse.Namespace) -> Path:
    config = _config(args)
    _check_outputs(args, [args.content])
    content = load_image(args.content, "content image", long_side=config.size)
    return _run_with_reporter(args, lambda cb: reconstruct(content, layer=args.layer, config=config, callback=cb),
                              "reconstruct", config, content=args.content, layer=args.layer)


def cmd_texture(args: argparse.Namespace) -> Path:
    config = _config(args)
    _check_outputs(args, [args.style])
    style = load_image(args.style, "style image", long_side=config.size)
    return _run_with_reporter(args, lambda cb: synthesize_texture(style, layers=args.layers, config=config, callback=cb),
                              "texture", config, style=args.style, layers=args.layers)


def cmd_grid(args: argparse.Namespace) -> Path:
    config = _config(args)
    check_output_path(args.output)
    check_not_input(args.output, [*args.content, *args.style])
    content_px, style_px = long_sides(config)
    contents = [(source_label(p), load_image(p, "content image", long_side=content_px)) for p in args.content]
    styles = [(source_label(p), load_image(p, "style image", long_side=style_px)) for p in args.style]
    reporter = Reporter(Path(args.output), quiet=args.quiet, written=args.written)

    def on_cell(index: int, count: int) -> None:
        reporter.close()
        reporter.prefix = f"pair {index + 1}/{count}: "

    start = time.perf_counter()
    try:
        sheet = stylize_grid(contents, styles, config=config, callback=reporter, on_cell=on_cell,
                             cell_px=min(config.size, 384))
    finally:
        reporter.close()
    meta = run_metadata("grid", config, time.perf_counter() - start, content=args.content, style=args.style, **_run_facts(args))
    return save_image(sheet, args.output, meta)


def cmd_score(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    images = [load_image(p, role).to(device) for p, role in
              ((args.content, "content image"), (args.style, "style image"), (args.output, "output image"))]
    scores = score(images[2], images[0], images[1]).as_dict()
    if args.json:
        print(json.dumps(scores, indent=2))
        return
    notes = {"content_distance": "lower is closer to the content (relu4_2)",
             "style_distance": "lower is closer to the style (Gram, relu1_1..relu5_1)",
             "ssim": "higher keeps more of the content's structure (luminance)",
             "style_swd": "lower is closer to the style (sliced Wasserstein, other layers)",
             "layout": "higher keeps more of the photo's composition (coarse luminance, 1 = all)",
             "edges": "higher keeps more of the photo's outlines (gradients at 128 px, 1 = all)",
             "outlines": "higher keeps the photo's strongest outlines among the output's (0 = chance, 1 = all)",
             "palette": "lower is closer to the painting's colours (CIELAB, ~2.3 is just noticeable)",
             "copied": "share of the output copied whole from the painting (relu5_1 blocks, 0 = none)"}
    for name, value in scores.items():
        print(f"{name:<17} {value:8.4f}   {notes[name]}")


def cmd_serve(args: argparse.Namespace) -> None:
    import secrets

    from brushwork.studio.server import serve

    if not 0 < args.port < 65536:
        raise InputError(f"port must be between 1 and 65535, got {args.port}")
    ray = _ray_settings(args)
    data = Path(args.data)
    if data.exists() and not data.is_dir():
        raise InputError(f"data folder {args.data!r} is a file")
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create data folder {args.data!r} ({exc.strerror})") from None
    token = args.token
    if token is None and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(24)
    resolve_device(args.device)
    caps = {name: getattr(args, name) for name in ("max_size", "max_video_seconds", "max_video_pixels", "max_video_bytes",
                                                   "max_video_size")}
    try:
        settings = StudioSettings(data=data, token=token, device=args.device, ray=ray, **caps)
    except InputError as exc:
        raise InputError(as_flags(str(exc), list(caps))) from None
    serve(settings, args.host, args.port,
          announce=lambda line: print(line, flush=True))


def cmd_samples(args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({f"sample:{name}": note for name, note in SAMPLE_NOTES.items()}, indent=2))
        return
    for name, note in SAMPLE_NOTES.items():
        print(f"sample:{name:<10} {note}")


def cmd_demo(args: argparse.Namespace) -> Path:
    args.styles = [args.style]
    args.style_weights = args.mask = None
    return cmd_transfer(args)


def _add_ray_options(p: argparse.ArgumentParser, what: str) -> None:
    ray_help = describe(RaySettings)
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help=f"compute {what} as Ray tasks: on the cluster "
                   "at ADDRESS (or $RAY_ADDRESS), else on a Ray instance started on this machine for the run; needs "
                   f"{INSTALL_HINT}")
    p.add_argument("--workers", type=int, metavar="N", help=f"with --ray: {ray_help['workers']['help']}")
    p.add_argument("--threads-per-worker", type=int, metavar="T",
                   help=f"with --ray: {ray_help['threads_per_worker']['help']} (default: "
                        f"{ray_help['threads_per_worker']['default']})")


def _ray_settings(args: argparse.Namespace) -> RaySettings | None:
    """The Ray options as settings (None without --ray), Ray's presence checked before any work."""
    if args.ray is None:
        if args.workers is not None or args.threads_per_worker is not None:
            raise InputError("--workers and --threads-per-worker go with --ray")
        return None
    settings = RaySettings(address=args.ray or None, workers=args.workers,
                           **({} if args.threads_per_worker is None else {"threads_per_worker": args.threads_per_worker}))
    check_ray_installed()
    return settings


def cmd_batch(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.pairs and (args.inputs or args.style):
        raise InputError("give either --pairs or INPUTS with --style, not both")
    if not args.pairs and (not args.inputs or not args.style):
        raise InputError("give INPUTS and --style STYLE (or --pairs FILE.csv)")
    if args.method == "fast" and not args.model:
        raise InputError("--method fast needs --model (a shipped name or a .safetensors file)")
    ray = _ray_settings(args)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {args.output!r} is a file; a batch writes into a folder")
    items = plan_batch(args.inputs, args.style or [], out, pairs=args.pairs)

    def request(item: BatchItem) -> TransferRequest:
        return TransferRequest(_resolved(item.content), [_resolved(item.style)], config, method=args.method,
                               model=args.model, output=item.output,
                               metadata={"quality": args.quality or "default", "command_line": args.command_line})

    out.mkdir(parents=True, exist_ok=True)
    overall = None if args.quiet else progress_bar(len(items))
    if overall is not None:
        overall.set_description_str("batch", refresh=False)
    reporter = Reporter(quiet=args.quiet, position=1)

    finished = 0

    def on_item(index: int, item: BatchItem, line: dict) -> None:  # in the order items finish (any, on Ray)
        nonlocal finished
        finished += 1
        reporter.close()
        args.written.extend([item.output] if line["status"] == "done" else [])
        text = f"[{finished}/{len(items)}] {line['status']} {item.output}" + (f": {line['error']}" if line["error"] else "")
        if overall is None:
            print(text, flush=True)
            return
        overall.set_postfix_str(f"{item.output.name} {line['status']}", refresh=False)
        overall.update(1)
        if line["status"] == "failed":
            overall.write(text)

    try:
        with contextlib.nullcontext(None) if ray is None else ray_executor(ray, scores=not args.no_score) as executor:
            summary = run_batch(items, request, out / MANIFEST, force=args.force, scores=not args.no_score,
                                on_item=on_item, callback=reporter, executor=executor)
    finally:
        reporter.close()
        if overall is not None:
            overall.close()
    print(f"{summary}: see {out / MANIFEST}")
    return 1 if summary.failed else 0


def cmd_video(args: argparse.Namespace) -> int:
    config = _config(args)
    for name, value, low, high in (("--start", args.start, 0, 1e6), ("--duration", args.duration, 1e-3, 1e6),
                                   ("--temporal-weight", args.temporal_weight, 0, 1e9),
                                   ("--filter-strength", args.filter_strength, 0, 0.99), ("--batch", args.batch, 1, 256)):
        if value is not None:
            check_range(name, value, low, high)
    if args.method == "fast" and not args.model:
        raise InputError("--method fast needs --model (a shipped name or a .safetensors file)")
    ray = _ray_settings(args)
    check_video_output(args.output)
    check_not_input(args.output, [args.input, *args.style])
    request = VideoRequest(Path(args.input), args.output, args.style, config, method=args.method, model=args.model,
                           start=args.start, duration=args.duration, temporal=not args.no_temporal,
                           temporal_weight=args.temporal_weight, filter_strength=args.filter_strength,
                           work_dir=Path(args.work_dir) if args.work_dir else None, batch=args.batch,
                           chunk_frames=args.chunk_frames, chunk_overlap=args.chunk_overlap)
    frames = None if args.quiet else progress_bar(1)
    reporter = Reporter(quiet=args.quiet or args.method != "optimize", position=1)

    def on_frame(p: VideoProgress) -> None:
        reporter.close()
        if frames is not None:
            frames.total = p.frames
            frames.set_description_str("frames", refresh=False)
            frames.set_postfix_str(f"{p.frame / p.seconds:.2f} fps, left {tqdm.format_interval(p.eta)}", refresh=False)
            frames.update(1)

    try:
        with contextlib.nullcontext(None) if ray is None else ray_painter(ray, request) as painter:
            result = stylize_video(request, on_frame=on_frame, callback=reporter, painter=painter)
    finally:
        reporter.close()
        if frames is not None:
            frames.close()
    print(f"wrote {result.path} ({result.frames} frames in {result.seconds:.0f} s)")
    if result.truncated:
        print(f"{PROG}: {result.truncated}; the video has the frames before it", file=sys.stderr)
        return 1
    return 0


def cmd_score_video(args: argparse.Namespace) -> None:
    figures = score_video(args.original, args.stylized, style=args.style)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{'warping_error':<17} {figures['warping_error']:10.6f}   lower is steadier (Lai et al. 2018, masked, per pixel)")
    for side in ("original", "stylized"):
        f = figures[side]
        print(f"{side:<17} {f['frames']} frames, {f['fps']:g} fps, {f['duration']:g} s, audio: {'yes' if f['audio'] else 'no'}")
    for name, value in figures.get("scores", {}).items():
        print(f"{name:<17} {value:10.4f}   mean of a few frames (see brushwork score)")


def _resolved(source: str) -> str:
    """Inputs recorded by absolute path, so that a resumed batch recognises its outputs
    whatever the working folder was."""
    return source if source.startswith("sample:") else str(Path(source).resolve())


COMMANDS = {"transfer": cmd_transfer, "reconstruct": cmd_reconstruct, "texture": cmd_texture, "batch": cmd_batch,
            "video": cmd_video, "score-video": cmd_score_video,
            "samples": cmd_samples,
            "grid": cmd_grid, "score": cmd_score, "serve": cmd_serve, "demo": cmd_demo, **networks.COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 success, 2 bad usage or input, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the error
        return int(exc.code or 0)
    args.written = []  # every file a command writes, so that an interruption can say which
    args.command_line = shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])
    try:
        path = COMMANDS[args.command](args)
    except BrushworkError as exc:
        print(f"{PROG}: error: {exc}{_written_before(args.written, 'the error')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.written:
            print(f"{PROG}: interrupted{_written_before(args.written, 'stopping')}", file=sys.stderr)
        else:
            print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    if isinstance(path, int):  # a command that reports for itself and says how it went
        return path
    if path is not None:
        print(f"wrote {path}")
    return 0


def _written_before(written: Sequence[Path], when: str, show: int = 4) -> str:
    """"; wrote 2 files before stopping: a.png, b.png", or nothing when nothing was written."""
    if not written:
        return ""
    names = ", ".join(str(p) for p in written[:show]) + (f" and {len(written) - show} more" if len(written) > show else "")
    return f"; wrote {len(written)} file{'s' if len(written) > 1 else ''} before {when}: {names}"


if __name__ == "__main__":
    sys.exit(main())
