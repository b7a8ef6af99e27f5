"""Write docs/tour.ipynb from the cells below, and (with --execute) run it in place.

The notebook is kept as code here so that its cells read and diff like the rest of the
project; ``tests/test_docs.py`` executes it on tiny images in every ``make test``, so it
cannot go stale. Re-run after changing a cell:

    .venv/bin/python docs/make_tour.py --execute     # about 40 seconds on 2 CPU cores (AMD EPYC)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TOUR = Path(__file__).with_name("tour.ipynb")

CELLS: list[tuple[str, str]] = [
    ("md", """\
# A tour of Brushwork

Neural style transfer in the manner of Gatys, Ecker & Bethge (2016), step by step with the
library: load two pictures, look at what VGG-19 sees in them, compare the Gram matrices
that define "style", stylize while plotting the losses, and see what each layer keeps.
Everything here runs offline on the built-in samples (a photo from scikit-image and a
painting drawn by Brushwork), on a 2-core CPU in under a minute.

`SIZE` and `STEPS` keep the pictures small; raise them for nicer results
(`make test` runs this notebook with smaller values still)."""),
    ("code", """\
import os

import matplotlib.pyplot as plt
import torch
from matplotlib_inline.backend_inline import set_matplotlib_formats

import brushwork
from brushwork.media.image_io import pil_to_tensor, tensor_to_pil
from brushwork.media.samples import sample_image

SIZE = int(os.environ.get("BRUSHWORK_TOUR_SIZE", 192))    # long side of every picture, in pixels
STEPS = int(os.environ.get("BRUSHWORK_TOUR_STEPS", 60))   # optimiser steps per run
torch.manual_seed(0)
set_matplotlib_formats("jpeg")  # keeps the stored notebook small
plt.rcParams["figure.dpi"] = 80


def show(images, titles, width=3.2):
    \"\"\"A row of pictures with titles.\"\"\"
    fig, axes = plt.subplots(1, len(images), figsize=(width * len(images), width), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        ax.imshow(tensor_to_pil(image) if isinstance(image, torch.Tensor) else image)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    plt.tight_layout()
    plt.show()"""),
    ("md", """\
## 1. Two pictures

A photo (the *content*) and a painting (the *style*), as (1, 3, H, W) tensors in [0, 1]:
the form every function of the library takes. `brushwork.load_image(path)` does the same
for files."""),
    ("code", """\
content = pil_to_tensor(sample_image("chelsea"))
style = pil_to_tensor(sample_image("strokes"))
content = torch.nn.functional.interpolate(content, scale_factor=SIZE / max(content.shape[-2:]), mode="area")
style = torch.nn.functional.interpolate(style, scale_factor=SIZE / max(style.shape[-2:]), mode="area")
print("content", tuple(content.shape), "style", tuple(style.shape))
show([content, style], ["content: chelsea", "style: strokes"])"""),
    ("md", """\
## 2. What VGG-19 sees

`VGGFeatures` is the original (Caffe) VGG-19, truncated after the deepest layer asked for,
returning features by the paper's layer names. Shallow layers respond to edges and colours
at full resolution; each pooling halves the resolution, and deep layers respond to parts of
objects. Below: the four most active channels of each style layer, for the photo."""),
    ("code", """\
layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
vgg = brushwork.VGGFeatures(layers + ("relu4_2",))
with torch.no_grad():
    content_features = vgg(content)
    style_features = vgg(style)

fig, axes = plt.subplots(4, len(layers), figsize=(2.4 * len(layers), 2.4 * 4))
for column, name in enumerate(layers):
    maps = content_features[name][0]
    strongest = maps.mean(dim=(1, 2)).argsort(descending=True)[:4]
    for row, channel in enumerate(strongest):
        axes[row, column].imshow(maps[channel], cmap="magma")
        axes[row, column].axis("off")
    axes[0, column].set_title(f"{name}  {tuple(maps.shape)}", fontsize=9)
plt.tight_layout()
plt.show()"""),
    ("md", """\
## 3. Style as Gram matrices

Gatys et al. describe a style by the correlations between a layer's channels, summed over
all positions: the Gram matrix `G = F Fᵀ / (C·H·W)` of the features `F` (C channels by H·W
positions). It keeps which features occur together and how strongly, and forgets where:
this is why a style transfer can move a painting's strokes anywhere in the photo. The
matrices of the photo and the painting differ most in the shallow layers, where colours and
fine texture live."""),
    ("code", """\
fig, axes = plt.subplots(2, 3, figsize=(10, 6.6))
for column, name in enumerate(("relu1_1", "relu2_1", "relu3_1")):
    for row, (label, features) in enumerate((("photo", content_features), ("painting", style_features))):
        gram = brushwork.gram_matrix(features[name])[0][:64, :64]
        axes[row, column].imshow(gram.log1p(), cmap="viridis")
        axes[row, column].set_title(f"{label}: {name} (first 64 channels)", fontsize=9)
        axes[row, column].axis("off")
plt.tight_layout()
plt.show()

for name in layers:
    distance = brushwork.style_loss(brushwork.gram_matrix(content_features[name]), brushwork.gram_matrix(style_features[name]))
    print(f"{name}: style distance photo -> painting {distance.item():.3f}")"""),
    ("md", """\
## 4. Stylize, and watch the losses

`brushwork.stylize` optimises the picture's pixels (L-BFGS, starting from the photo) so that
its `relu4_2` features stay close to the photo's (content loss) while its Gram matrices
move to the painting's (style loss), with a little total variation for smoothness. A
callback receives a `Progress` event at every step; here it records each loss term.
`TransferConfig` holds every setting with its default; one scale at the notebook's size
keeps this quick."""),
    ("code", """\
config = brushwork.TransferConfig(size=SIZE, steps=STEPS, scales=1, reference_size=0, seed=0)
history = []
result = brushwork.stylize(content, [style], config=config, callback=lambda p: history.append(p.losses))

fig, ax = plt.subplots(figsize=(6, 3.5))
for term in ("content", "style", "tv"):
    ax.plot([h[term] for h in history], label=term)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("weighted loss")
ax.legend()
plt.show()
show([content, result, style], ["photo", f"stylized ({STEPS} steps)", "painting"])
print(f"style loss fell {history[0]['style'] / history[-1]['style']:.0f}x; "
      f"content loss rose from {history[0]['content']:.3g} to {history[-1]['content']:.3g}")"""),
    ("md", """\
`brushwork.score` measures a result the way the benchmarks do: the content distance (relu4_2,
relative to the photo's features), the style distance (Gram matrices of the five style
layers), the palette distance (colours, in CIELAB units) and the layout (how much of the
photo's light and shade survives, 1 = all)."""),
    ("code", """\
for label, picture in (("the photo itself", content), ("stylized", result)):
    s = brushwork.score(picture, content, style)
    print(f"{label:16s} content {s.content_distance:.3f}  style {s.style_distance:.3f}  "
          f"palette {s.palette:5.1f}  layout {s.layout:.2f}")"""),
    ("md", """\
## 5. What each layer keeps

The paper's Figure 1, both halves. **Reconstructions**: start from white noise and match
only the photo's features at one layer. Shallow layers give the photo back almost
exactly; deep ones keep the arrangement and lose the exact pixels, which is why the
content loss sits deep (`relu4_2`). (With `STEPS` steps the deep reconstructions keep
some of their starting noise; the paper ran hundreds.) **Textures**: start from noise and match only the
painting's Gram matrices, from the first layer alone up to all five: with more (deeper)
layers the texture grows larger structures."""),
    ("code", """\
quick = brushwork.TransferConfig(size=SIZE, steps=STEPS, scales=1, reference_size=0, tv_weight=0.0, seed=0)
reconstructions = [brushwork.reconstruct(content, layer=name, config=quick) for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1")]
show(reconstructions, ["from relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"], width=2.6)

textures = [brushwork.synthesize_texture(style, layers=layers[:n], config=quick) for n in range(1, 6)]
show(textures, [f"Gram of {', '.join(layers[:n])}" if n < 3 else f"relu1_1 .. relu{n}_1" for n in range(1, 6)], width=2.6)"""),
    ("md", """\
## Where next

- The command line does all of this with files: `brushwork transfer photo.jpg painting.jpg -o out.png`
  (see `brushwork transfer --help` for every option of `TransferConfig`).
- Real-time networks: `brushwork fast` (one network per style) and `brushwork adain`
  (any painting, multi-level WCT); docs/networks.md and docs/arbitrary.md.
- The studies of optimisers, starts and layers: docs/studies.md."""),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(notebook: nbformat.NotebookNode, *, timeout: int = 900) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel (in docs/, so relative paths resolve as a reader's would)."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(TOUR.parent)}}).execute()
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run the notebook and keep its outputs")
    args = parser.parse_args()
    notebook = build()
    if args.execute:
        execute(notebook)
    nbformat.write(notebook, TOUR)
    print(f"wrote {TOUR}")


if __name__ == "__main__":
    main()
