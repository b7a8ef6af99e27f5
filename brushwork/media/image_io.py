"""Reading, checking, resizing and writing images.

Images inside Brushwork are float tensors (B, 3, H, W), RGB in [0, 1]. Everything that
touches a file lives here, so that every bad file gets the same kind of one-line error and
every output is written atomically (temporary file, then rename) with its parameters.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin, UnidentifiedImageError
from torch import Tensor
import torch.nn.functional as F

from brushwork.errors import ImageTooLarge, InputError
from brushwork.options import check_fields, option

MAX_PIXELS = 100_000_000
"""Largest image (in pixels) Brushwork will decode; guards against decompression bombs."""

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
DEEP_FORMATS = ("PNG", "TIFF")
"""Formats that take 16 bits per channel (the optimiser's float result kept for print)."""
SAMPLE_PREFIX = "sample:"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
"""File name endings that folder-wide commands (training, batches) treat as images."""


def open_image(source: str | Path, role: str = "image", *, long_side: int | None = None) -> Image.Image:
    """Open and fully decode an image file (or ``sample:NAME``) as an RGB PIL image, upright.

    ``role`` ("content image", "style image", "mask", ...) starts every error message, so the
    user knows which argument to fix. ``long_side`` says how large the caller will use it:
    a larger image is then decoded at a reduced size (never below ``long_side``), so that an
    80 MP photo stylized at 512 px costs a few MB, not gigabytes.
    """
    text = str(source)
    if text.startswith(SAMPLE_PREFIX):
        from brushwork.media.samples import sample_image

        return sample_image(text[len(SAMPLE_PREFIX) :])
    path = Path(text)
    if not path.exists():
        raise InputError(f"{role} {text!r} does not exist")
    if path.is_dir():
        raise InputError(f"{role} {text!r} is a directory, not an image file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{role} {text!r} is not readable (permission denied)")
    return _decode(path, f"{role} {text!r}", max_pixels=MAX_PIXELS, long_side=long_side)


def decode_image(data: bytes, role: str = "image", *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Fully decode image bytes (an upload, say) as RGB, with the same checks as a file.

    The content decides, not a name or extension: anything Pillow cannot decode completely
    is rejected, and so is anything over ``max_pixels`` before its pixels are decoded.
    """
    return _decode(io.BytesIO(data), role, max_pixels=max_pixels)


_PILLOW_LIMIT = threading.Lock()


def _open_unguarded(source: Path | io.BytesIO) -> Image.Image:
    """``Image.open`` without Pillow's own decompression-bomb guard (about 89 MP, a warning,
    then an error at twice that): Brushwork checks the size itself, against its own limit, and
    names the sizes in its message. Opening reads only the header."""
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode(source: Path | io.BytesIO, label: str, *, max_pixels: int, long_side: int | None = None) -> Image.Image:
    try:
        with _open_unguarded(source) as img:
            if img.width * img.height > max_pixels:
                raise ImageTooLarge(f"{label} is {img.width}x{img.height} pixels ({img.width * img.height / 1e6:.1f} MP); "
                                    f"the limit is {max_pixels / 1e6:g} MP")
            if long_side is not None and img.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 in the DCT
                img.draft("RGB", _at_least(img.size, READ_MARGIN * long_side))
            img.load()
            return _shrink(_to_rgb(_upright(img)), long_side)
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"{label} is not readable (permission denied)") from None
    except UnidentifiedImageError:
        raise InputError(f"{label} is not an image file Brushwork can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{label} is corrupt or truncated ({exc})") from None


def _at_least(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) with the long side ``long_side`` and ``size``'s aspect ratio."""
    height, width = fit_long_side(size[1], size[0], long_side)
    return width, height


READ_MARGIN = 2
"""An image read for use at ``long_side`` is reduced (in the JPEG's DCT, or by box averages)
only to ``READ_MARGIN * long_side`` or more, so that the caller's antialiased resize always
makes the last factor of two: the picture then matches the one :func:`resize` makes from
the full image. Reduced to ``long_side`` itself, a painting's box-averaged pixels kept
texture that the antialiased resize smooths, and the style targets differed: an output of
the command line scored a style distance 5x the library's for the same settings."""


def _shrink(img: Image.Image, long_side: int | None) -> Image.Image:
    """Box-average by the largest whole factor that keeps the long side >= ``READ_MARGIN *
    long_side``; the caller's antialiased resize does the rest. Keeps float tensors of huge
    inputs small."""
    if long_side is None:
        return img
    factor = max(img.size) // (READ_MARGIN * long_side)
    return img.reduce(factor) if factor >= 2 else img


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as viewers do: a phone's portrait photo stays a portrait."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # an unreadable EXIF block must not make a good image unreadable
        return img
    return ImageOps.exif_transpose(img) if orientation not in (None, 1) else img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten any mode (palette, gray, 16-bit, alpha) to RGB; alpha is composited on white.

    16-bit images are scaled by their bit depth, never by their values: a dark 16-bit
    photo whose values all happen to be below 256 stays dark.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # Pillow opens 16-bit PNG/TIFF as I;16; mode I (32-bit) also holds 16-bit samples
        # promoted by older Pillow versions and some plug-ins.
        img = Image.fromarray((arr / 65535.0 * 255).round().clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def pil_to_tensor(img: Image.Image) -> Tensor:
    """PIL image -> (1, 3, H, W) float32 in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(image: Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] -> PIL RGB (clamped and rounded)."""
    if image.ndim == 4:
        image = image[0]
    arr = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def as_image(image: Any, role: str) -> Tensor:
    """A caller's image as (1, 3, H, W) float32 in [0, 1]: a (3, H, W) tensor gains its batch
    axis, uint8 is scaled from 0-255, float16/bfloat16/float64 become float32; anything else
    is refused with a message that names ``role``. The caller's tensor is never modified."""
    if not isinstance(image, Tensor):
        raise InputError(f"{role} must be a torch.Tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise InputError(f"{role} must be a (1, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
    if min(image.shape[-2:]) < 1:
        raise InputError(f"{role} is empty")
    if image.dtype == torch.uint8:
        return image.float() / 255.0
    if not image.is_floating_point():
        raise InputError(f"{role} must be a float tensor in [0, 1] or uint8 in [0, 255], got {image.dtype}")
    return image.float()


def as_batch(images: Any, role: str) -> Tensor:
    """Several images of one size as (B, 3, H, W), each checked as :func:`as_image` checks one."""
    if isinstance(images, Tensor) and images.ndim == 4 and images.shape[0] > 1:
        return torch.cat([as_image(image, f"{role} {i + 1}") for i, image in enumerate(images)])
    return as_image(images, role)


def as_image_list(images: Any, role: str) -> list[Tensor]:
    """A sequence of images; a single (1, 3, H, W) or (3, H, W) tensor counts as one image."""
    if isinstance(images, Tensor):
        if images.ndim == 4 and images.shape[0] != 1:
            raise InputError(f"{role}s must be a list of (1, 3, H, W) images, got one tensor of shape {tuple(images.shape)}")
        images = [images]
    if not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise InputError(f"{role}s must be a list of image tensors, got {type(images).__name__}")
    return [as_image(image, f"{role} {i + 1}" if len(images) > 1 else role) for i, image in enumerate(images)]


def load_image(source: str | Path, role: str = "image", *, long_side: int | None = None) -> Tensor:
    """Read an image file (or ``sample:NAME``) as a (1, 3, H, W) tensor in [0, 1], upright.

    With ``long_side``, an image larger than that is decoded at a reduced size whose long
    side is still at least ``long_side`` (see :func:`open_image`).
    """
    return pil_to_tensor(open_image(source, role, long_side=long_side))


def load_mask(source: str | Path, role: str = "mask", *, long_side: int | None = None) -> Tensor:
    """Read a grayscale mask as (1, 1, H, W) in [0, 1]: white applies the style, black does not."""
    rgb = load_image(source, role, long_side=long_side)
    mask = rgb.mean(dim=1, keepdim=True)
    if float(mask.max()) <= 0.0:
        raise InputError(f"{role} {str(source)!r} is entirely black, so its style would apply nowhere")
    return mask


def source_label(source: str | Path) -> str:
    """A short name for an image source: ``sample:chelsea`` -> ``chelsea``, ``a/b.jpg`` -> ``b``."""
    source = str(source)
    return source.split(":", 1)[1] if source.startswith("sample:") else Path(source).stem


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so the longer side is ``long_side``; at least 1 px each way."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: Tensor, size: tuple[int, int], *, enlarge: Literal["bilinear", "bicubic"] = "bilinear") -> Tensor:
    """Resize (B, C, H, W) to ``(height, width)``: bilinear and antialiased when shrinking,
    by ``enlarge`` interpolation when enlarging (bicubic may overshoot [0, 1] a little)."""
    size = (int(size[0]), int(size[1]))
    if tuple(image.shape[-2:]) == size:
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    mode = "bilinear" if shrinking else enlarge
    return F.interpolate(image, size=size, mode=mode, align_corners=False, antialias=shrinking)


def image_size(source: str | Path, role: str = "image") -> tuple[int, int]:
    """(height, width) of an image as a viewer shows it (EXIF orientation applied), from its
    header alone: a quick check of many files before any of them is decoded."""
    text = str(source)
    if text.startswith(SAMPLE_PREFIX):
        img = open_image(text, role)
        return img.height, img.width
    path = Path(text)
    if not path.is_file():
        return tuple(open_image(path, role).size[::-1])  # type: ignore[return-value]  # its error message
    try:
        with _open_unguarded(path) as img:
            width, height = img.size
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # turned by a quarter
                width, height = height, width
    except UnidentifiedImageError:
        raise InputError(f"{role} {text!r} is not an image file Brushwork can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{role} {text!r} is corrupt or truncated ({exc})") from None
    return height, width


def check_output_path(path: str | Path) -> Path:
    """Fail early (before any optimisation) if ``path`` cannot receive an image."""
    text = str(path)
    if text.endswith(("/", os.sep)):
        raise InputError(f"output {text!r} ends in a path separator, so it names a folder; give an image file name")
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(
            f"output {str(path)!r} has an unsupported extension; use one of {', '.join(OUTPUT_FORMATS)}"
        )
    return check_writable_folder(path)


def check_writable_folder(path: str | Path) -> Path:
    """Fail early if ``path``'s folder is missing or read-only, or ``path`` is a folder."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder {str(parent)!r} is not writable")
    if path.is_dir():
        raise InputError(f"output {str(path)!r} is a directory")
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[io.BufferedWriter]:
    """Write to a temporary file beside ``path`` and rename it into place on success only."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class OutputFormat:
    """How an image is written, beyond its extension: for print, the resolution and depth."""

    dpi: float | None = option(None, "pixels per inch written into the file (print size = pixels / dpi)",
                               min=1.0, max=100_000.0)
    depth: int = option(8, "bits per channel: 8, or 16 (PNG and TIFF) to keep the optimiser's precision",
                        choices=(8, 16))

    def __post_init__(self) -> None:
        check_fields(self)


def check_room(path: str | Path, size: tuple[int, int], output: OutputFormat = OutputFormat(), *, count: int = 1) -> None:
    """Refuse, before any work, ``count`` outputs of at most ``size`` (h, w) whose files could
    not fit in ``path``'s folder's free space. The bound is the uncompressed size (what a
    poster's noisy strokes nearly reach in PNG and TIFF)."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:  # a folder of outputs not made yet: its disk
        folder = folder.parent
    h, w = size
    need = count * (h * w * 3 * output.depth // 8 + 2**20)
    free = shutil.disk_usage(folder).free
    if need > free:
        what = f"a {w}x{h} output" if count == 1 else f"{count} outputs of up to {w}x{h}"
        raise InputError(f"not enough space in {str(folder)!r} for {what}: up to {need / 2**20:.0f} MiB, "
                         f"{free / 2**20:.0f} MiB free")


def save_image(image: Tensor | Image.Image, path: str | Path, metadata: dict | None = None,
               output: OutputFormat = OutputFormat()) -> Path:
    """Write PNG, JPEG, WebP or TIFF (by extension) atomically, with ``metadata`` embedded as
    JSON, and ``output``'s resolution and depth.

    PNG gets a ``brushwork`` text chunk, TIFF an ImageDescription, JPEG and WebP EXIF
    ImageDescription. :func:`read_metadata` reads any of them back.
    """
    path = check_output_path(path)
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    text = None if metadata is None else json.dumps(metadata, sort_keys=True, default=str)
    if output.depth == 16:
        if fmt not in DEEP_FORMATS or isinstance(image, Image.Image):
            raise InputError(f"16-bit output needs a .png or .tif file and a float image, not {path.suffix}")
        pixels = image[0] if image.ndim == 4 else image
        deep = (pixels.detach().float().clamp(0, 1) * 65535).round().to(torch.int32).permute(1, 2, 0).cpu().numpy()
        data = _deep_png(deep.astype(np.uint16), text, output.dpi) if fmt == "PNG" else None
        with atomic_write(path) as handle:
            if data is not None:
                handle.write(data)
            else:
                _write_tiff(handle, deep.astype(np.uint16), text, output.dpi)
        return path
    img = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    kwargs: dict = {} if output.dpi is None or fmt == "WEBP" else {"dpi": (output.dpi, output.dpi)}
    if text is not None:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_text("brushwork", text)
            info.add_text("Software", "Brushwork")
            kwargs["pnginfo"] = info
        elif fmt == "TIFF":
            kwargs["description"] = text
            kwargs["software"] = "Brushwork"
        else:
            exif = Image.Exif()
            exif[0x010E] = text  # ImageDescription
            exif[0x0131] = "Brushwork"  # Software
            kwargs["exif"] = exif
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = 95
    elif fmt == "TIFF":
        kwargs["compression"] = "tiff_deflate"
    with atomic_write(path) as handle:
        img.save(handle, format=fmt, **kwargs)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _deep_png(pixels: np.ndarray, text: str | None, dpi: float | None) -> bytes:
    """A 16-bit RGB PNG (OpenCV encodes it; Pillow cannot), with our text and pHYs chunks
    put in after the header."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))
    if not ok:
        raise InputError("could not encode the 16-bit PNG")
    data = encoded.tobytes()
    header_end = 8 + 8 + 13 + 4  # signature, then IHDR (length, type, 13 bytes, CRC)
    extra = b""
    if text is not None:
        extra += _png_chunk(b"tEXt", b"brushwork\0" + text.encode("latin-1", "replace"))
        extra += _png_chunk(b"tEXt", b"Software\0Brushwork")
    if dpi is not None:
        per_metre = round(dpi / 0.0254)
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
    return data[:header_end] + extra + data[header_end:]


def _write_tiff(handle, pixels: np.ndarray, text: str | None, dpi: float | None) -> None:
    import tifffile

    buffer = io.BytesIO()  # tifffile wants a named file or a buffer; ours is an anonymous temporary
    tifffile.imwrite(buffer, pixels, photometric="rgb", compression="zlib", description=text, metadata=None,
                     software="Brushwork", **({"resolution": (dpi, dpi), "resolutionunit": "INCH"} if dpi else {}))
    handle.write(buffer.getbuffer())


def read_metadata(path: str | Path) -> dict:
    """The parameters :func:`save_image` embedded, or ``{}`` if there are none."""
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            text = tiff.pages[0].description
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {}
    with Image.open(path) as img:
        text = img.info.get("brushwork") if hasattr(img, "info") else None
        if text is None and img.format == "GIF":
            comment = img.info.get("comment", b"")
            text = comment.decode("utf-8", "replace") if comment.startswith(b"{") else None
        if text is None:
            text = img.getexif().get(0x010E)
    return json.loads(text) if text else {}


def save_gif(frames: Sequence[Image.Image], path: str | Path, metadata: dict | None = None, *, frame_ms: int = 80,
             hold_ms: int = 1500) -> Path:
    """Write an animated GIF atomically; the last frame is held so the result can be seen.
    ``metadata`` goes into the GIF's comment as JSON (:func:`read_metadata` reads it)."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise InputError(f"animation {str(path)!r} must end in .gif")
    if not frames:
        raise InputError("no frames to write to the animation")
    size = frames[-1].size
    frames = [f.resize(size, Image.BILINEAR) if f.size != size else f for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    with atomic_write(path) as handle:
        extra = {} if metadata is None else {"comment": json.dumps(metadata, sort_keys=True, default=str).encode()}
        frames[0].save(handle, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, **extra)
    return path


def labelled_grid(
    cells: Sequence[Sequence[Image.Image]],
    row_images: Sequence[Image.Image],
    col_images: Sequence[Image.Image],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    cell: int = 256,
    pad: int = 8,
) -> Image.Image:
    """A table of images: styles along the top, contents down the left, results in between.

    Each picture is fitted into a ``cell``-wide box; a row is as tall as its tallest picture,
    and the headers carry their labels underneath.
    """
    font = ImageFont.load_default(size=max(10, cell // 16))
    caption = cell // 10

    def thumb(img: Image.Image) -> Image.Image:
        small = img.copy()
        small.thumbnail((cell, cell), Image.LANCZOS)
        return small

    rows = [[None, *map(thumb, col_images)]] + [[thumb(r), *map(thumb, row)] for r, row in zip(row_images, cells)]
    labels = [["", *(f"style: {l}" for l in col_labels)]] + [[f"content: {l}"] + [""] * len(col_images) for l in row_labels]
    heights = [max(t.height for t in row if t is not None) + caption for row in rows]
    sheet = Image.new("RGB", (len(rows[0]) * (cell + pad) + pad, sum(heights) + pad * (len(rows) + 1)), "white")
    draw = ImageDraw.Draw(sheet)
    y = pad
    for row, row_labels_, height in zip(rows, labels, heights):
        for col, (img, label) in enumerate(zip(row, row_labels_)):
            x = pad + col * (cell + pad)
            if img is not None:
                sheet.paste(img, (x + (cell - img.width) // 2, y + (height - caption - img.height) // 2))
            if label:
                draw.text((x + cell // 2, y + height - caption // 2), label, fill="black", font=font, anchor="mm")
        y += height + pad
    return sheet


def captioned_row(images: Sequence[Image.Image], labels: Sequence[str], *, height: int = 256, pad: int = 8) -> Image.Image:
    """Pictures side by side, scaled to one height, each with a caption below."""
    size = max(10, height // 14)
    scaled = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS) for im in images]
    caption = max(24, height // 7)
    sheet = Image.new("RGB", (sum(s.width for s in scaled) + pad * (len(scaled) + 1), height + pad + caption), "white")
    draw, x = ImageDraw.Draw(sheet), pad
    for im, label in zip(scaled, labels):
        sheet.paste(im, (x, pad))
        font = ImageFont.load_default(size=size)
        while size > 6 and draw.textlength(label, font=font) > im.width + pad:  # a narrow picture: a smaller caption
            font = ImageFont.load_default(size=int(font.size) - 1)
        draw.text((x + im.width // 2, pad + height + caption // 2), label, fill="black", font=font, anchor="mm")
        x += im.width + pad
    return sheet
