import os

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.errors import InputError
from brushwork.image_io import (
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
    from brushwork.image_io import captioned_row

    row = captioned_row([Image.new("RGB", (40, 20)), Image.new("RGB", (10, 10))], ["a", "b"], height=50)
    assert row.height > 50 and row.width >= 100 + 50
