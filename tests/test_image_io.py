import os

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.errors import InputError
from brushwork.media.image_io import (
    atomic_write, fit_long_side, load_image, load_mask, pil_to_tensor, read_metadata, resize, save_gif, save_image,
    tensor_to_pil,
)


def test_pil_tensor_round_trip_is_exact():
    arr = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    back = np.asarray(tensor_to_pil(pil_to_tensor(Image.fromarray(arr))))
    assert np.array_equal(arr, back)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp"])
def test_save_writes_format_by_extension_with_metadata(tmp_path, ext):
    path = tmp_path / f"out{ext}"
    save_image(torch.rand(1, 3, 16, 20), path, {"seed": 7, "styles": ["a.jpg"]})
    with Image.open(path) as img:
        assert img.format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[ext]
        assert img.size == (20, 16)
    assert read_metadata(path) == {"seed": 7, "styles": ["a.jpg"]}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as handle:
            handle.write(b"partial")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.png"]


def test_image_modes_become_rgb(tmp_path):
    Image.new("L", (4, 4), 128).save(tmp_path / "gray.png")
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("P", (4, 4)).save(tmp_path / "palette.gif")
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")
    assert torch.allclose(load_image(tmp_path / "gray.png"), torch.full((1, 3, 4, 4), 128 / 255))
    assert torch.allclose(load_image(tmp_path / "clear.png"), torch.ones(1, 3, 4, 4))  # transparent -> white
    assert load_image(tmp_path / "palette.gif").shape == (1, 3, 4, 4)
    assert torch.allclose(load_image(tmp_path / "deep.png"), torch.ones(1, 3, 4, 4))


def _truncated_png(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("hello, not an image"), "not an image file"),
        (lambda p: p.write_bytes(b""), "not an image file"),
        (_truncated_png, "corrupt or truncated"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, make, message):
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(InputError, match=message) as info:
        load_image(path, "style image")
    assert str(info.value).startswith("style image") and "\n" not in str(info.value)


def test_samples_load_and_unknown_samples_are_named():
    assert load_image("sample:strokes").shape == (1, 3, 512, 512)
    assert load_image("sample:coffee").shape == (1, 3, 400, 600)
    with pytest.raises(InputError, match="unknown sample 'nope'"):
        load_image("sample:nope")


def test_black_mask_is_rejected(tmp_path):
    Image.new("L", (8, 8), 0).save(tmp_path / "m.png")
    with pytest.raises(InputError, match="entirely black"):
        load_mask(tmp_path / "m.png")
    Image.new("L", (8, 8), 255).save(tmp_path / "m.png")
    assert load_mask(tmp_path / "m.png").shape == (1, 1, 8, 8)


def test_fit_long_side_and_resize():
    assert fit_long_side(300, 451, 256) == (170, 256)
    assert fit_long_side(451, 300, 256) == (256, 170)
    assert resize(torch.rand(1, 3, 40, 60), (20, 30)).shape == (1, 3, 20, 30)


def test_gif_holds_every_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(5)]
    save_gif(frames, tmp_path / "a.gif")
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 5
    with pytest.raises(InputError, match=r"\.gif"):
        save_gif(frames, tmp_path / "a.png")


def test_captioned_row_scales_to_one_height():
    from brushwork.media.image_io import captioned_row

    row = captioned_row([Image.new("RGB", (40, 20)), Image.new("RGB", (10, 10))], ["a", "b"], height=50)
    assert row.height > 50 and row.width >= 100 + 50


# ---- inputs read as viewers show them ---------------------------------------------------

def _exif_rotated_jpeg(path, orientation=6, size=(120, 40)):
    """A landscape array of pixels that a viewer shows as a portrait (EXIF orientation 6)."""
    from PIL import Image

    image = Image.new("RGB", size, (250, 10, 10))
    image.paste((10, 10, 250), (0, 0, size[0] // 4, size[1]))  # blue on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_is_applied_everywhere(tmp_path):
    from brushwork.media.image_io import image_size, load_image, load_mask

    path = _exif_rotated_jpeg(tmp_path / "phone.jpg")
    image = load_image(path)
    assert tuple(image.shape[-2:]) == (120, 40) and image_size(path) == (120, 40)
    # orientation 6: the stored left edge is shown at the top
    assert image[0, 2, :10].mean() > 0.8 and image[0, 2, -10:].mean() < 0.2
    assert tuple(load_mask(path).shape[-2:]) == (120, 40)
    assert tuple(load_image(path, long_side=30).shape[-2:]) == (60, 20)  # reduced to twice what is asked


def test_exif_orientation_through_the_cli(tmp_path, capsys):
    from PIL import Image

    from brushwork.frontends.cli import main

    path = _exif_rotated_jpeg(tmp_path / "phone.jpg", size=(96, 64))
    for argv in (["transfer", path, "sample:strokes", "--size", "48", "--steps", "1", "--scales", "1", "--quiet"],
                 ["fast", "starry_night", path], ["adain", path, "sample:strokes", "--size", "48"]):
        out = tmp_path / f"{argv[0]}.png"
        assert main([str(a) for a in argv] + ["-o", str(out)]) == 0, capsys.readouterr().err
        with Image.open(out) as result:
            assert result.height > result.width, argv[0]


def test_16_bit_images_scale_by_bit_depth_not_by_values(tmp_path):
    from PIL import Image

    from brushwork.media.image_io import load_image

    dark = np.full((16, 16), 200, dtype=np.uint16)  # 200 of 65535: nearly black
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    bright = np.full((16, 16), 60000, dtype=np.uint16)
    Image.fromarray(bright).save(tmp_path / "bright16.png")
    assert float(load_image(tmp_path / "dark16.png").max()) < 0.01
    assert abs(float(load_image(tmp_path / "bright16.png").mean()) - 60000 / 65535) < 0.01


def test_large_jpeg_decodes_reduced_and_the_limit_names_sizes(tmp_path):
    from PIL import Image

    from brushwork.errors import ImageTooLarge
    from brushwork.media.image_io import MAX_PIXELS, load_image

    big = tmp_path / "big.jpg"  # 90 MP: over Pillow's own guard (89.5 MP), under Brushwork's 100 MP
    Image.new("L", (10000, 9000), 128).save(big, quality=50)
    small = load_image(big, long_side=128)
    assert 256 <= max(small.shape[-2:]) < 512  # decoded at 1/8, then reduced: never the 1 GB float image
    bomb = tmp_path / "bomb.bmp"  # a header that claims 11000 x 10000 pixels
    Image.new("RGB", (11000, 1)).save(bomb)
    data = bytearray(bomb.read_bytes())
    data[22:26] = (10000).to_bytes(4, "little", signed=True)
    bomb.write_bytes(bytes(data))
    with pytest.raises(ImageTooLarge, match=r"is 11000x10000 pixels \(110.0 MP\); the limit is 100 MP"):
        load_image(bomb)
    assert MAX_PIXELS == 100_000_000


def test_a_picture_read_for_a_small_size_is_the_one_resize_makes_from_the_whole(tmp_path, style):
    """Read reduced, then resized, a painting must give the pixels (hence the style targets)
    that resizing the whole image gives: the command line and the library paint alike."""
    from brushwork.media.image_io import fit_long_side, load_image, resize, save_image

    path = tmp_path / "painting.jpg"
    save_image(resize(style, (384, 576)), path)
    size = fit_long_side(384, 576, 288)  # half: the JPEG can be decoded at exactly that size
    whole, read = resize(load_image(path), size), resize(load_image(path, long_side=288), size)
    assert float((whole - read).abs().mean()) < 0.001  # 0.004 when it was read at 288 px: the DCT-halved pixels


def test_library_converts_or_names_odd_tensors(content, style):
    import torch

    from brushwork import TransferConfig, stylize
    from brushwork.errors import InputError
    from brushwork.realtime.stylize import fast_stylize
    from brushwork.realtime.models import load_model

    config = TransferConfig(size=32, steps=1, scales=1, device="cpu", precision="float32")
    reference = stylize(content, [style], config=config)
    as_uint8 = stylize((content * 255).round().byte(), (style * 255).round().byte(), config=config)
    assert as_uint8.dtype == torch.float32 and (as_uint8 - reference).abs().max() < 0.05
    for dtype in (torch.float16, torch.bfloat16):
        out = stylize(content.to(dtype), style.to(dtype), config=config)
        assert out.dtype == dtype and torch.isfinite(out).all()  # the caller's dtype comes back
    with pytest.raises(InputError, match="style images must be a list"):
        stylize(content, torch.cat([style, style]), config=config)
    with pytest.raises(InputError, match="content image must be a float tensor"):
        stylize(content.long(), [style], config=config)
    with pytest.raises(InputError, match="content image must be a torch.Tensor"):
        stylize(content.numpy(), [style], config=config)
    net = load_model("starry_night").network
    assert fast_stylize(net, (content * 255).byte()).dtype == torch.float32


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_print_output_keeps_16_bits_the_dpi_and_the_parameters(tmp_path, suffix):
    import cv2

    from brushwork.media.image_io import OutputFormat, read_metadata, save_image

    ramp = torch.linspace(0, 1, 1000).view(1, 1, 1, 1000).expand(1, 3, 4, 1000).contiguous()
    path = save_image(ramp, tmp_path / f"print{suffix}", {"size": 1000}, OutputFormat(dpi=300, depth=16))
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint16 and pixels.shape == (4, 1000, 3)
    assert len(np.unique(pixels[0, :, 0])) == 1000  # 8 bits would give at most 256 levels
    assert read_metadata(path) == {"size": 1000}
    with Image.open(path) as image:
        assert [round(float(d)) for d in image.info["dpi"]] == [300, 300]


def test_8_bit_files_carry_the_dpi_too(tmp_path):
    from brushwork.media.image_io import OutputFormat, save_image

    for suffix in (".png", ".jpg", ".tif"):
        path = save_image(torch.rand(1, 3, 8, 8), tmp_path / f"a{suffix}", {"x": 1}, OutputFormat(dpi=150))
        with Image.open(path) as image:
            assert [round(float(d)) for d in image.info["dpi"]] == [150, 150], suffix


def test_16_bits_need_png_or_tiff(tmp_path):
    from brushwork.media.image_io import OutputFormat, save_image

    with pytest.raises(InputError, match="16-bit output needs"):
        save_image(torch.rand(1, 3, 8, 8), tmp_path / "a.jpg", None, OutputFormat(depth=16))
    assert not (tmp_path / "a.jpg").exists()


def test_captions_of_narrow_pictures_do_not_run_into_their_neighbours():
    import numpy as np
    from brushwork.media.image_io import captioned_row

    narrow = Image.new("RGB", (30, 100), "gray")
    row = captioned_row([narrow, narrow, narrow], ["a caption far wider than thirty pixels", "", ""], height=100, pad=8)
    ink = np.asarray(row.convert("L"))[108:] < 128  # the caption strip
    columns = np.flatnonzero(ink.any(axis=0))
    assert len(columns) and columns.min() >= 4 and columns.max() <= 8 + 30 + 4  # within its picture and half the gaps
