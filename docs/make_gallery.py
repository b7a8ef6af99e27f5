"""Make every picture in README.md and docs/ from the shared images, with Brushwork itself.

    .venv/bin/python docs/make_gallery.py [--images ../shared/data/images] [--size 320]

The input images are not in the repository (see ../shared/data/images/SOURCES.md); the
outputs are, in docs/gallery/. Each output is a JPEG whose EXIF carries its parameters (the settings,
versions and inputs, as `brushwork.read_metadata` reads them).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image, ImageOps

import brushwork as bw
from brushwork.media.image_io import captioned_row, fit_long_side, resize, save_gif, save_image, tensor_to_pil
from brushwork.engine.transfer import RECONSTRUCT_CONFIG, TransferConfig, stylize_grid
from brushwork.pipeline.settings import DEMO_CONFIG, run_metadata

OUT = Path(__file__).parent / "gallery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", "../shared/data/images"))
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--only", nargs="*", help="make only these pictures (grid, weights, color, mask, blend, reconstruct, texture, animation, demo)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    images = Path(args.images)
    content = lambda name: bw.load_image(images / "content" / name, "content image")
    style = lambda name: bw.load_image(images / "style" / name, "style image")
    config = TransferConfig(size=args.size)
    # The feature pictures use a lighter style weight so the photo stays visible under the effect.
    light = replace(config, style_weight=config.style_weight * 0.4)
    OUT.mkdir(exist_ok=True)
    wanted = set(args.only or ["grid", "weights", "color", "mask", "blend", "reconstruct", "texture", "animation", "demo"])

    def made(name: str, image, meta: dict, start: float, used: TransferConfig = config) -> None:
        """Save a picture with what made it: the settings (``used``), versions and inputs."""
        record = run_metadata("gallery", used, time.perf_counter() - start, made_by="docs/make_gallery.py", **meta)
        path = save_image(image, OUT / name, record)
        print(f"{path}  {time.perf_counter() - start:.0f}s", flush=True)

    if "grid" in wanted:
        t = time.perf_counter()
        contents = [(n.split(".")[0], content(n)) for n in ("golden_gate.jpg", "cat.png", "columns.jpg")]
        styles = [(n.split(".")[0], style(n)) for n in ("starry_night.jpg", "the_wave.jpg", "composition_vii.jpg", "the_scream.jpg")]
        made("grid.jpg", stylize_grid(contents, styles, config=config, cell_px=args.size), {"what": "grid"}, t)

    if "weights" in wanted:
        t = time.perf_counter()
        c, s = content("cat.png"), style("starry_night.jpg")
        betas = [config.style_weight * x for x in (0.04, 0.16, 0.4, 1, 3)]
        outs = [tensor_to_pil(bw.stylize(c, [s], config=replace(config, style_weight=b))) for b in betas]
        labels = [f"--style-weight {b:g}" + (" (default)" if b == config.style_weight else "") for b in betas]
        made("weights.jpg", captioned_row(outs, labels, height=200), {"what": "style weight", "style_weights": betas}, t)

    if "color" in wanted:
        t = time.perf_counter()
        c, s = content("paris.jpg"), style("starry_night.jpg")
        outs = [bw.stylize(c, [s], config=replace(light, preserve_color=m)) for m in ("none", "luminance", "histogram")]
        pics = [tensor_to_pil(resize(c, outs[0].shape[-2:]))] + [tensor_to_pil(o) for o in outs]
        made("color.jpg", captioned_row(pics, ["content", "--preserve-color none", "luminance", "histogram"]), {"what": "color", "preserve_color": ["none", "luminance", "histogram"]}, t, light)

    if "mask" in wanted:
        t = time.perf_counter()
        c = content("golden_gate.jpg")
        sky = torch.zeros(1, 1, *c.shape[-2:])
        sky[..., : int(c.shape[-2] * 0.42), :] = 1.0
        out = bw.stylize(c, [style("starry_night.jpg"), style("the_wave.jpg")], masks=[sky, 1 - sky], config=light)
        mask_pic = ImageOps.expand(tensor_to_pil(resize(sky.expand(1, 3, -1, -1), out.shape[-2:])), border=1, fill="gray")
        made("mask.jpg", captioned_row([tensor_to_pil(resize(c, out.shape[-2:])), mask_pic, tensor_to_pil(out)],
                               ["content", "mask: white = starry_night, black = the_wave", "result"]), {"what": "mask"}, t, light)

    if "blend" in wanted:
        t = time.perf_counter()
        c, a, b = content("cat.png"), style("starry_night.jpg"), style("the_scream.jpg")
        weights = [(1, 0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0, 1)]
        outs = [tensor_to_pil(bw.stylize(c, [a, b], style_weights=w, config=light)) for w in weights]
        made("blend.jpg", captioned_row(outs, [f"{w[0]:g} : {w[1]:g}" for w in weights], height=200),
             {"what": "blend starry_night : the_scream", "style_weights": weights}, t, light)

    if "reconstruct" in wanted:
        t = time.perf_counter()
        c = content("cat.png")
        layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        classic = replace(RECONSTRUCT_CONFIG, size=256)
        outs = [tensor_to_pil(bw.reconstruct(c, layer=layer, config=classic)) for layer in layers]
        made("reconstruct.jpg", captioned_row(outs, layers, height=170), {"what": "reconstruct", "layers": layers}, t, classic)

    if "texture" in wanted:
        t = time.perf_counter()
        names = ["starry_night.jpg", "the_wave.jpg", "composition_vii.jpg", "woman_with_hat.jpg"]
        small = replace(config, size=256)
        outs = [tensor_to_pil(bw.synthesize_texture(style(n), config=small)) for n in names]
        made("texture.jpg", captioned_row(outs, [n.split(".")[0] for n in names], height=200), {"what": "texture", "styles": names},
             t, small)

    if "animation" in wanted:
        t = time.perf_counter()
        frames: list[Image.Image] = []

        def grab(event: bw.Progress) -> None:
            if event.step % 4 == 0:
                frames.append(tensor_to_pil(resize(event.preview(), fit_long_side(*event.size, 256))))

        small = replace(config, size=256, init="noise")
        out = bw.stylize(content("cat.png"), [style("starry_night.jpg")], config=small, callback=grab)
        save_gif(frames + [tensor_to_pil(out)], OUT / "animation.gif",
                 run_metadata("transfer", small, time.perf_counter() - t, content="cat.png", styles=["starry_night.jpg"],
                              made_by="docs/make_gallery.py"))
        print(f"{OUT / 'animation.gif'}  {time.perf_counter() - t:.0f}s", flush=True)

    if "demo" in wanted:
        t = time.perf_counter()
        c = bw.load_image("sample:chelsea")
        outs = [bw.stylize(c, [bw.load_image(f"sample:{s}")], config=DEMO_CONFIG) for s in ("strokes", "mosaic")]
        pics = [tensor_to_pil(bw.load_image(f"sample:{s}")) for s in ("strokes", "mosaic")] + [tensor_to_pil(o) for o in outs]
        made("samples.jpg", captioned_row(pics, ["sample:strokes", "sample:mosaic", "chelsea + strokes", "chelsea + mosaic"], height=220),
             {"what": "built-in samples"}, t, DEMO_CONFIG)


if __name__ == "__main__":
    main()
