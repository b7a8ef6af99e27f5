"""High resolution: seconds and peak memory per size, seams and tile agreement of tiled output.

    .venv/bin/python benchmarks/highres.py [--images ../shared/data/images]
        [--network-sizes 1024 2048 4096 8192] [--optimizer-sizes 1024 2048 4096 8192]
        [--default-sizes 1024 2048 4096 8192] [--bounded-sizes] [--tiles-size 1536 --tile 512]
        [--skip-tiles] [--keep DIR]

Part 1 (speed): each run is the real command in its own process (``os.wait4`` gives that
process's peak resident memory): the per-style network and AdaIN at every network size
(tiled above 2048 px), the optimiser at ``--quality draft`` and at its defaults (a scale
whose whole-picture estimate passes the planned 8 GiB runs in tiles that fit), and, if
asked, at ``--quality draft --max-memory 8``. Each optimiser row names the scales it ran in
tiles, as planned here by the same code (on the same machine, so the same plan).
About two hours on 2 CPU cores, most of it the 8192 px optimiser runs.

Part 2 (tiles): one pair optimised at ``--tiles-size`` with ``--tile``, the way Brushwork
tiles (the whole picture's objective and gradient, evaluated tile by tile) and the way the
peers tile (each tile its own content crop and style targets, feathered together), at the
same settings, and one untiled run. Seam measure: mean gradient magnitude on the tile
borders over the mean elsewhere (1.0: no seam). Agreement: the style distance of each
tile's region to the style, spread as max/min; and the same relative to the untiled run's
tile (a photo's tiles differ by their subject: sky against bridge; drift is what tiling adds).

Writes docs/highres.md (below its ``<!-- notes -->`` line, hand-written notes survive a
rerun) and 100% crops at a tile corner into docs/gallery/; ``--keep DIR`` keeps every output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from pages import write_page  # noqa: E402
from vs_pastiche import machine, timed  # noqa: E402

CONTENT, STYLE = "golden_gate.jpg", "starry_night.jpg"


def brushwork(*argv: str, log: Path) -> dict:
    return timed([sys.executable, "-m", "brushwork", *argv], log)


def tiled_scales(content: Path, size: int, quality: str | None) -> str:
    """The scales a ``transfer`` run of ``--size size`` evaluates in tiles, as it plans them here."""
    from brushwork.engine.devices import resolve_device
    from brushwork.engine.transfer import schedule_for, tile_grid_for
    from brushwork.media.image_io import fit_long_side, image_size
    from brushwork.pipeline.settings import build_config

    config = build_config({"size": size}, quality=quality)
    work = fit_long_side(*image_size(content), size)
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    schedule = schedule_for(work, config)
    tiled = []
    for scale, steps in zip(schedule.sizes, schedule.steps):
        grid = tile_grid_for(scale, layers, config, resolve_device(config.device), steps=steps)
        if grid is not None:
            tiled.append(f"{max(scale)}: {len(list(grid.cores()))} of {grid.core}")
    return ", ".join(tiled) or "none"


def speed(args, tmp: Path) -> list[tuple[str, int, dict]]:
    content, style = Path(args.images) / "content" / CONTENT, Path(args.images) / "style" / STYLE
    rows = []
    runs = [("fast starry_night", size, ["fast", "starry_night", str(content), "--size", str(size)])
            for size in args.network_sizes]
    runs += [("adain", size, ["adain", str(content), str(style), "--size", str(size)]) for size in args.network_sizes]
    runs += [("optimiser, --quality draft", size, ["transfer", str(content), str(style), "--quality", "draft",
                                                   "--size", str(size)]) for size in args.optimizer_sizes]
    runs += [("optimiser, defaults", size, ["transfer", str(content), str(style), "--size", str(size)])
             for size in args.default_sizes]
    runs += [("optimiser, --quality draft --max-memory 8", size, ["transfer", str(content), str(style), "--quality",
                                                                  "draft", "--size", str(size), "--max-memory", "8"])
             for size in args.bounded_sizes]
    for name, size, argv in runs:
        out = tmp / f"{len(rows)}.png"
        record = brushwork(*argv, "-o", str(out), *([] if argv[0] == "adain" else ["--quiet"]), log=tmp / "log.txt")
        if argv[0] == "transfer":
            record["tiles"] = tiled_scales(content, size, "draft" if "draft" in argv else None)
            record["grid"] = grid_reading(out)
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            out.replace(Path(args.keep) / f"{name.split(',')[0].split()[0]}-{'draft' if 'draft' in name else 'default'}"
                        f"-{size}.png")
        rows.append((name, size, record))
        print(name, size, record, flush=True)
    return rows


GRID_PERIODS = (4, 8)
"""Periods of the optimiser's leftover grid worth reading (VGG-19's pooling strides and the 2x
steps of the pyramid; :func:`brushwork.engine.metrics.grid_strength`)."""


def grid_reading(path: Path) -> str:
    """``across/down`` grid strength of an output at each of :data:`GRID_PERIODS` (1.00: none)."""
    from brushwork.engine.metrics import grid_strength
    from brushwork.media.image_io import load_image

    image = load_image(path)
    return ", ".join("{:.2f}/{:.2f}".format(*grid_strength(image, period)) for period in GRID_PERIODS)


def per_tile_baseline(content: torch.Tensor, style: torch.Tensor, config, tile: int) -> torch.Tensor:
    """The peers' tiling: every tile stylized on its own (its own content crop and its own
    style targets), the tiles feathered together over their overlap."""
    from brushwork.engine.transfer import stylize
    from brushwork.realtime.tiling import Tiling, run_tiled

    from dataclasses import replace

    overlap = 128
    return run_tiled(lambda crop: stylize(crop, [style], config=replace(config, size=max(crop.shape[-2:]))), content,
                     Tiling(tile=tile + overlap, overlap=overlap))


def tiles(args, tmp: Path) -> dict:
    from dataclasses import replace

    from brushwork.engine.features import layer_stride
    from brushwork.engine.metrics import score
    from brushwork.engine.tiled import TILE_MARGIN, TileGrid
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import fit_long_side, load_image, resize, save_image

    content = load_image(Path(args.images) / "content" / CONTENT)
    content = resize(content, fit_long_side(*content.shape[-2:], args.tiles_size))
    style = load_image(Path(args.images) / "style" / STYLE)
    config = TransferConfig(size=args.tiles_size, steps=args.tiles_steps)
    ours = stylize(content, [style], config=replace(config, tile=args.tile))
    untiled = stylize(content, [style], config=config)
    peers = per_tile_baseline(content, style, config, args.tile)
    grid = TileGrid(*content.shape[-2:], core=args.tile, margin=TILE_MARGIN, stride=layer_stride("relu5_1"))
    figures = {}
    reference = tile_distances(untiled, content, style, grid)
    for name, image in (("Brushwork tiles (whole-picture objective)", ours), ("per-tile targets (peers)", peers),
                        ("untiled", untiled)):
        save_image(image, tmp / f"{name[:5]}.png")
        distances = tile_distances(image, content, style, grid)
        drift = [d / r for d, r in zip(distances, reference)]
        figures[name] = {"seam": seam_ratio(image, grid), "spread": max(distances) / min(distances),
                         "drift": max(drift) / min(drift), "style": score(image, content, style).style_distance,
                         "content": score(image, content, style).content_distance,
                         "difference": float((image - untiled).abs().mean())}
        print(name, figures[name], flush=True)
    crops(ours, peers, grid, ROOT / "docs" / "gallery" / "highres_seams.png")
    return figures


def seam_ratio(image: torch.Tensor, grid) -> float:
    """Mean gradient magnitude across the cores' borders over the mean everywhere else."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1))  # (H, W-1)
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1))  # (H-1, W)
    columns = sorted({box[2] for box in grid.cores()} - {0})
    rows = sorted({box[0] for box in grid.cores()} - {0})
    on = torch.cat([dx[:, [c - 1 for c in columns]].flatten(), dy[[r - 1 for r in rows], :].flatten()])
    off_x = dx.clone()
    off_x[:, [c - 1 for c in columns]] = float("nan")
    off_y = dy.clone()
    off_y[[r - 1 for r in rows], :] = float("nan")
    off = torch.cat([off_x.flatten(), off_y.flatten()])
    return float(on.mean() / off.nanmean())


def tile_distances(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor, grid) -> list[float]:
    """Each tile's region's style distance to the whole painting."""
    from brushwork.engine.metrics import score

    return [score(image[..., t:b, l:r], content[..., t:b, l:r], style).style_distance for t, b, l, r in grid.cores()]


def crops(ours: torch.Tensor, peers: torch.Tensor, grid, path: Path) -> None:
    """256 px crops at 100% centred on a tile border (the middle of a column border, else of a
    row border): ours left, the peers' way right."""
    from brushwork.media.image_io import save_image

    columns = sorted({b[2] for b in grid.cores()} - {0})
    rows = sorted({b[0] for b in grid.cores()} - {0})
    top, left = (grid.height // 2, columns[len(columns) // 2]) if columns else (rows[len(rows) // 2], grid.width // 2)
    top, left = min(max(top, 128), grid.height - 128), min(max(left, 128), grid.width - 128)
    box = (slice(top - 128, top + 128), slice(left - 128, left + 128))
    ours_crop, peers_crop = (x[..., box[0], box[1]] for x in (ours, peers))
    gap = torch.ones(1, 3, ours_crop.shape[-2], 8)
    save_image(torch.cat([ours_crop, gap, peers_crop], dim=-1), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--network-sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--optimizer-sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--default-sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--bounded-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--tiles-size", type=int, default=1536)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--tiles-steps", type=int, default=30)
    parser.add_argument("--skip-tiles", action="store_true")
    parser.add_argument("--keep", help="folder to keep every output in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows = speed(args, tmp)
        figures = {} if args.skip_tiles else tiles(args, tmp)
    lines = ["# High resolution", "",
             f"Measured by `benchmarks/highres.py {' '.join(a for a in sys.argv[1:] if not a.startswith('/'))}` on "
             f"{machine()}, one invocation (compare only figures from one run), "
             f"`{CONTENT}` with `{STYLE}` (the photo is 2.15:1, so 4096 px is 4096x1904). Each run is the real "
             "command in its own process; peak memory is that process's peak resident set (`os.wait4`). The "
             "optimiser evaluates a scale in tiles when its whole-picture estimate passes the planned memory (8 GiB, "
             "or `--max-memory`), in the largest tiles that fit in 90% of it (the last column: long side of each "
             "tiled scale, number and size of its tiles); the networks tile above 2048 px, in tiles of 1024 px with "
             "their normalisation statistics from a thumbnail. Grid: `metrics.grid_strength` of the optimiser's "
             f"output, across/down, at periods {' and '.join(map(str, GRID_PERIODS))} px (1.00: no grid).", "",
             "| command | long side | seconds | peak memory (MiB) | scales in tiles | grid |",
             "|---|---:|---:|---:|---|---|"]
    lines += [f"| {name} | {size} | {r['wall_s']:.1f} | {r['peak_mib']:.0f} | {r.get('tiles', '-')} | "
              f"{r.get('grid', '-')} |" for name, size, r in rows]
    if figures:
        lines += ["", f"Tiles at {args.tiles_size} px, `--tile {args.tile}`, the optimiser's defaults but "
                  f"{args.tiles_steps} steps a scale: Brushwork's tiles (the whole picture's objective and gradient, "
                  "evaluated tile by tile) against the peers' way (each tile stylized on its own, with its own "
                  "content crop and style targets, feathered over 128 px) and one untiled run. Seam: gradient "
                  "magnitude on the tile borders over elsewhere (1.0: no seam; target within 10%). Spread: the "
                  "largest over the smallest tile's style distance to the painting (a photo's tiles differ by their "
                  "subject, sky against bridge, so the untiled run has a spread too). Drift: the same of each "
                  "tile's distance over the untiled run's for that tile (what tiling adds; target within 15%). "
                  "Difference: mean absolute difference from the untiled picture (pixel range 1; the optimiser "
                  "amplifies rounding, and bfloat16 rounds differently in tiles: a 1e-5 change of the photo "
                  "moves a run by about as much).", "",
                  "| run | seam | spread | drift | style distance | content distance | difference |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {name} | {f['seam']:.3f} | {f['spread']:.2f} | {f['drift']:.2f} | {f['style']:.4f} | "
                  f"{f['content']:.3f} | {f['difference']:.3f} |" for name, f in figures.items()]
        lines += ["", "A tile border at 100% (the border runs down the middle of each crop): Brushwork's tiles (left) "
                  "and per-tile targets (right):", "", "![tile border](gallery/highres_seams.png)", ""]
    write_page(ROOT / "docs" / "highres.md", lines)


if __name__ == "__main__":
    main()
