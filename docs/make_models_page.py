"""Write docs/models.md from the metadata of the models in brushwork/realtime/pretrained.

    .venv/bin/python docs/make_models_page.py

Every figure on that page (data, steps, crop size, time, final losses) is read from the
model files themselves, which `brushwork train-fast` / `train-adain` wrote when they
finished; the sample pictures are made here with the shipped models.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from brushwork.media.image_io import captioned_row, fit_long_side, load_image, resize, tensor_to_pil
from brushwork.realtime.models import KIND_TITLES, load_model, shipped_models
from brushwork.realtime.stylize import arbitrary_stylize, fast_stylize
from brushwork.realtime.training import AdaINTrainConfig, FastTrainConfig, UniversalTrainConfig

ROOT = Path(__file__).resolve().parent.parent
IMAGES = Path(os.environ.get("BRUSHWORK_IMAGES", ROOT.parent / "shared/data/images"))
PICTURES = ROOT / "docs" / "models"

INTRO = """# Shipped models: how they were trained

Brushwork ships small models in `brushwork/realtime/pretrained/` (float16 safetensors), trained on
this project's 2-core CPU with its own commands. Every figure below is read from each
file's metadata by `docs/make_models_page.py`, and each model's command line is rebuilt
from the settings it recorded (options left at their defaults are not shown).

Training photos (`/tmp/photos` below): 57 images made by
`scripts/collect_training_photos.py /tmp/photos` from Debian's `plasma-workspace-wallpapers`,
`mate-backgrounds` (`nature`, `abstract`) and `gnome-backgrounds` (light variants):
photographs and some renders under free licences, downsized to 1024 px on the long side,
not part of this repository. Crops are random squares of at least half the shorter side,
resized and flipped at random (flat crops are drawn again); paintings are also turned by
quarter turns and half of them have their hues turned at random.

Paintings: the `wct` decoders saw 7 of the 11 public-domain paintings in
`../shared/data/images/style` (`/tmp/paintings_train`: bedroom_in_arles,
charing_cross_bridge, dance_foyer, san_giorgio_maggiore, shipwreck, starry_night, the_wave);
**composition_vii, mondrian, the_scream and woman_with_hat are held out**, and every
arbitrary-style example below and in [arbitrary.md](arbitrary.md) uses only those. The
first `adain` model saw all 11 (`/tmp/paintings`).

The first three models (`adain`, `starry_night`, `the_wave`) were trained at the same time
on two cores of an Intel Xeon without native bfloat16 (one thread each,
`OMP_NUM_THREADS=1`, float32), each stopped by `--max-minutes`; each model says below
where it was trained.

"""

GPU = """## Training full-size models on a GPU

The shipped models are small because they were trained on two CPU cores in under two
hours, not on a GPU for a day. With a CUDA build of PyTorch (README, "GPU"), the papers' settings are:

```sh
# Johnson et al.: COCO 2014 train (~80k photos), 256 px crops, batch 4, 40k steps, width 32
brushwork train-fast starry_night.jpg --images coco/train2014 -o starry_night.safetensors \\
    --size 256 --batch 4 --steps 40000 --width 32 --device cuda
# Huang & Belongie: COCO for content, WikiArt (~80k paintings) for style, 160k steps of 8, full-width decoder
# (a few thousand --warmup-steps first cost little and settle the colours early)
brushwork train-adain --images coco/train2014 --styles wikiart/ -o adain.safetensors \\
    --size 256 --batch 8 --steps 160000 --width 1.0 --learning-rate 1e-4 --warmup-steps 5000 --device cuda
```

`--precision auto` trains with bfloat16 autocast on GPUs that have it (Ampere and newer).
Checkpoints are written every `--checkpoint-every` steps to `OUTPUT.ckpt`; `--resume`
continues an interrupted run (and may raise `--steps`). A wider network (`--width 32`) is
about four times the arithmetic of the shipped width 16 and gives finer detail.
"""


def training_command(kind: str, meta: dict) -> str:
    """The command that trained a model, from its metadata: options that differ from their defaults."""
    config = {"fast": FastTrainConfig, "adain": AdaINTrainConfig, "wct": UniversalTrainConfig}[kind]()
    words = ["brushwork", "train-fast", str(meta.get("style"))] if kind == "fast" else ["brushwork", f"train-{kind}"]
    words += ["--images", str(meta.get("images"))] + (["--styles", str(meta.get("styles"))] if kind != "fast" else [])
    words += ["-o", f"{meta.get('name')}.safetensors"] + (["--start-from", str(meta["start_from"])] if meta.get("start_from") else [])
    for field in dataclasses.fields(config):
        value = meta.get("training", {}).get(field.name, field.default)
        default = list(field.default) if isinstance(field.default, tuple) else field.default
        if value == default:
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(default, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words += [flag, *(map(str, value) if isinstance(value, list) else [str(value)])]
    return " ".join(words)


def main() -> None:
    PICTURES.mkdir(parents=True, exist_ok=True)
    lines = [INTRO]
    content_path = next((IMAGES / "content").glob("golden_gate.*"))
    content = load_image(content_path)
    content = resize(content, fit_long_side(*content.shape[-2:], 512))
    for name, path in shipped_models().items():
        model = load_model(path)
        meta = model.metadata
        training = meta.get("training", {})
        lines += [f"## `{name}` ({KIND_TITLES[model.kind]})", ""]
        steps = meta.get("steps_done", training.get("steps"))
        lines += [f"- file: `brushwork/realtime/pretrained/{path.name}`, {path.stat().st_size / 1e6:.1f} MB",
                  f"- trained with Brushwork {meta.get('brushwork')} in {meta.get('train_seconds', 0) / 60:.1f} minutes "
                  f"on {meta.get('machine', 'an Intel Xeon (2 cores, float32)')}: {steps} steps of {training.get('batch')} "
                  f"crops of {training.get('size')} px, "
                  f"learning rate {training.get('learning_rate')}, precision {training.get('precision')}",
                  f"- command: `{training_command(model.kind, meta)}`"]
        if model.kind == "fast":
            lines.append(f"- style image: `{meta.get('style')}`; network width {training.get('width')}, "
                         f"{training.get('blocks')} residual blocks; content layers {training.get('content_layers')}, "
                         f"style layers {training.get('style_layers')}, weights content {training.get('content_weight')}, "
                         f"style {training.get('style_weight')}, TV {training.get('tv_weight')}")
        elif model.kind == "wct" and meta.get("first_run"):
            first = meta["first_run"]
            lines.append(f"- before that: {first['steps_done']} steps of all four decoders with the pixel loss alone, "
                         f"{first['train_seconds'] / 60:.1f} minutes (final losses {json.dumps(first['final_losses'])}); "
                         f"this run trained the levels {training.get('levels')} further with feature loss weight "
                         f"{training.get('feature_weight')}; the painting enters at run time through its feature covariances")
        elif model.kind == "wct":
            lines.append(f"- paintings: `{meta.get('styles')}`; decoder width {training.get('width')}, levels "
                         f"{training.get('levels')} (relu N_1), trained only to invert VGG-19 (pixel L1 loss"
                         f"{', feature loss weight %s' % training.get('feature_weight') if training.get('feature_weight') else ''}); "
                         "the painting enters at run time through its feature covariances")
        else:
            lines.append(f"- style images: `{meta.get('styles')}`; decoder width {training.get('width')}, "
                         f"style weight {training.get('style_weight')}; the first {training.get('warmup_steps', 0)} "
                         "steps trained the decoder to invert the encoder (pixel loss), the rest with the paper's losses")
        lines += [f"- photos: `{meta.get('images')}`",
                  f"- final losses ({'mean of the last %d steps' % meta['final_losses_over'] if 'final_losses_over' in meta else 'last step'}): "
                  f"{json.dumps(meta.get('final_losses', {}))}"]
        if meta.get("note"):
            lines.append(f"- note: {meta['note']}")
        lines.append("")
        if model.kind == "fast":
            out = fast_stylize(model.network, content)
            style_path = Path(str(meta.get("style", "")))
            pictures = [tensor_to_pil(content)]
            labels = ["content"]
            if style_path.exists():
                pictures.append(tensor_to_pil(load_image(style_path)))
                labels.append("style")
            pictures.append(tensor_to_pil(out))
            labels.append(name)
        else:
            styles = [next((IMAGES / "style").glob(f"{s}.*")) for s in ("the_scream", "mondrian", "woman_with_hat")]
            pictures, labels = [tensor_to_pil(content)], ["content"]
            for source in styles:
                style = load_image(source)
                label = Path(source).stem
                pictures += [tensor_to_pil(style), tensor_to_pil(arbitrary_stylize(model.network, content, [style]))]
                labels += [label, f"{name}: {label}"]
        captioned_row(pictures, labels, height=240).convert("RGB").save(PICTURES / f"{name}.jpg", quality=88)
        lines += [f"![{name}](models/{name}.jpg)", ""]
    lines.append(GPU)
    (ROOT / "docs" / "models.md").write_text("\n".join(lines))
    print("wrote docs/models.md")


if __name__ == "__main__":
    main()
