"""The command line through its real entry point, ``main(argv)``, and ``python -m brushwork``."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from brushwork.frontends.cli import main
from cli_run import run
from brushwork.media.image_io import read_metadata

TINY = ["--size", "48", "--steps", "3", "--scales", "1", "--quiet", "--device", "cpu"]


def test_transfer_writes_the_image_with_its_parameters(tmp_path, capsys, image_files):
    content, style = image_files
    out = tmp_path / "result.png"
    code, stdout, _ = run(capsys, "transfer", content, style, "-o", out, *TINY, "--seed", "5", "--style-weight", "4")
    assert code == 0 and str(out) in stdout
    with Image.open(out) as img:
        assert max(img.size) == 48
    meta = read_metadata(out)
    assert meta["command"] == "transfer" and meta["config"]["seed"] == 5 and meta["config"]["style_weight"] == 4.0
    assert meta["styles"] == [str(style)]
    # the layer weights the default stood for, written out: the file stays true if the default changes
    assert meta["config"]["style_layer_weights"] == [1.0, 1.0, 1.0, 0.5, 0.1]


def test_every_mode_accepts_size_steps_seed_device(tmp_path, capsys, image_files):
    content, style = image_files
    for i, argv in enumerate((
        ["reconstruct", content, "--layer", "conv4_2"],
        ["texture", style, "--layers", "relu1_1", "relu2_1"],
        ["grid", "--content", content, "sample:coffee", "--style", style],
        ["demo"],
        ["transfer", content, style, "--init", style],
        ["transfer", content, style, "--init", "noise", "--preserve-color", "luminance", "--optimizer", "adam"],
    )):
        out = tmp_path / f"{i}-{argv[0]}.png"
        code, _, err = run(capsys, *argv, "-o", out, *TINY, "--seed", "1")
        assert code == 0, err
        assert out.exists()
    assert read_metadata(tmp_path / "4-transfer.png")["init_image"] == str(style)
    with Image.open(tmp_path / "2-grid.png") as grid:  # 2 contents x 1 style plus labels
        assert grid.height > 2 * 48 and grid.width > 2 * 48


def test_save_every_and_animation(tmp_path, capsys, image_files):
    content, style = image_files
    out = tmp_path / "r.png"
    code, _, err = run(capsys, "transfer", content, style, "-o", out, "--size", "64", "--steps", "4", "--scales", "2", "--step-growth", "1",
                       "--quiet", "--save-every", "2", "--animation", tmp_path / "a.gif")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("r.step*.png")) == ["r.step00002.png", "r.step00004.png",
                                                                   "r.step00006.png", "r.step00008.png"]
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames >= 8  # one per step (Pillow merges the identical final frame)
    assert read_metadata(tmp_path / "a.gif")["config"]["steps"] == 4  # the animation carries its parameters


def test_progress_bar_shows_scale_and_losses(tmp_path, capsys, image_files):
    content, style = image_files
    code, _, err = run(capsys, "transfer", content, style, "-o", tmp_path / "o.png", "--size", "48", "--steps", "2")
    assert code == 0
    assert re.search(r"scale \d/\d \d+x\d+", err) and "style" in err and "content" in err and "left" in err


def test_masks_and_blend_weights(tmp_path, capsys, image_files):
    content, style = image_files
    mask = tmp_path / "mask.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (64, 1))).save(mask)
    code, _, err = run(capsys, "transfer", content, style, "sample:mosaic", "--mask", mask, "none",
                       "--style-weights", "1", "2", "-o", tmp_path / "m.png", *TINY)
    assert code == 0, err


def _truncated(path):
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8) + 90).save(path)
    path.write_bytes(path.read_bytes()[:60])


BAD = [
    (["transfer", "{missing}", "{style}"], "content image '.*missing.png' does not exist"),
    (["transfer", "{content}", "{text}"], "style image '.*notes.txt' is not an image file"),
    (["transfer", "{content}", "{truncated}"], "style image '.*cut.png' is corrupt or truncated"),
    (["transfer", "{content}", "{style}", "--style-layers", "relu4_9"], "unknown VGG-19 layer 'relu4_9'"),
    (["transfer", "{content}", "{style}", "--content-layers", "conv9_1"], "unknown VGG-19 layer 'conv9_1'"),
    (["transfer", "{content}", "{style}", "--style-weight", "-3"], "--style-weight must be a number between 0"),
    (["transfer", "{content}", "{style}", "--tv-weight", "1e30"], "--tv-weight must be a number between 0"),
    (["transfer", "{content}", "{style}", "--style-weights", "-1"], "--style-weights must be a number"),
    (["transfer", "{content}", "{style}", "--steps", "0"], "--steps must be a positive"),
    (["transfer", "{content}", "{style}", "--size", "-1"], "size must be a positive"),
    (["transfer", "{content}", "{style}", "--size", "0"], "size must be a positive"),
    (["transfer", "{content}", "{style}", "--size", "12000", "--tile", "8000"], r"needs about .* GiB even in tiles of 8000 px"),
    (["transfer", "{content}", "{style}", "--size", "99999"], "beyond what Brushwork supports"),
    (["transfer", "{content}", "{style}", "--mask", "{tallmask}"], "mask 1 is 20x90 but the content image is 96x64"),
    (["transfer", "{content}", "{style}", "--mask", "{tallmask}", "{tallmask}"], "2 masks given for 1 styles"),
    (["transfer", "{content}", "{style}", "--device", "tpu"], "unknown device 'tpu'"),
    (["reconstruct", "{content}", "--layer", "fc7"], "unknown VGG-19 layer 'fc7'"),
    (["texture", "{missing}"], "style image '.*missing.png' does not exist"),
    (["grid", "--content", "{content}", "--style", "{text}"], "not an image file"),
    (["transfer", "{content}", "{style}", "--init", "{text}"], "initial image '.*notes.txt' is not an image"),
    (["transfer", "{content}", "{style}", "--seed", "18446744073709551616"], "seed 18446744073709551616 is beyond"),
    (["transfer", "{content}", "{style}", "--seed", "-1"], "--seed must be at least 0"),
    (["transfer", "{content}", "{style}", "--lbfgs-history", "1000000000"], "--lbfgs-history 1000000000 is beyond"),
    (["transfer", "{content}", "{style}", "--size", "8"], "output 8x5 is too small for layer relu5_1"),
    (["transfer", "{content}", "{style}", "--device", "cuda:0<img>"], "unknown device"),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, image_files, argv, message):
    content, style = image_files
    (tmp_path / "notes.txt").write_text("not a picture")
    _truncated(tmp_path / "cut.png")
    Image.new("L", (20, 90), 255).save(tmp_path / "tall.png")
    paths = {"missing": tmp_path / "missing.png", "content": content, "style": style, "text": tmp_path / "notes.txt",
             "truncated": tmp_path / "cut.png", "tallmask": tmp_path / "tall.png"}
    out = tmp_path / "out.png"
    out.write_bytes(b"previous result")
    extra = [flag for opt, flag in (("--steps", ["--steps", "1"]), ("--size", ["--size", "48"])) if opt not in argv]
    extra = [item for pair in extra for item in pair]
    code, _, err = run(capsys, *[a.format(**paths) for a in argv], "-o", out, "--quiet", *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("brushwork: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["transfer", "{content}", "{style}", "-o", "{out}.bmp"], "unsupported extension"),
        (["transfer", "{content}", "{style}", "-o", "/no/such/dir/o.png"], "output folder '/no/such/dir' does not exist"),
        (["transfer", "{content}", "{style}", "-o", "{out}.png", "--animation", "{out}.mp4"], "must end in .gif"),
    ],
)
def test_bad_outputs_fail_before_any_work(tmp_path, capsys, image_files, argv, message):
    content, style = image_files
    argv = [a.format(content=content, style=style, out=tmp_path / "o") for a in argv]
    code, _, err = run(capsys, *argv, "--quiet")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_argparse_errors_exit_2(capsys):
    assert main(["transfer"]) == 2
    assert main(["transfer", "a.png", "b.png", "-o", "o.png", "--steps", "many"]) == 2
    assert main(["transfer", "a.png", "b.png", "-o", "o.png", "--style-schedule", "cosine:1:2"]) == 2
    assert main(["paint"]) == 2
    err = capsys.readouterr().err
    assert "invalid" in err and "Traceback" not in err
    assert all(line.startswith("brushwork") for line in err.strip().splitlines())  # one line per error


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path, capsys, image_files):
    content, style = image_files
    os.chmod(style, 0)
    code, _, err = run(capsys, "transfer", content, style, "-o", tmp_path / "o.png", *TINY)
    assert code == 2 and "not readable" in err


def test_unreadable_file_as_any_user(tmp_path, capsys, image_files, monkeypatch):
    content, style = image_files
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(style) else real_access(p, mode))
    code, _, err = run(capsys, "transfer", content, style, "-o", tmp_path / "o.png", *TINY)
    assert code == 2 and err.strip().endswith("style.png' is not readable (permission denied)")


def test_python_dash_m_runs_the_same_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "brushwork", "transfer", "nope.png", "sample:strokes", "-o",
                             str(tmp_path / "o.png")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "brushwork: error: content image 'nope.png' does not exist"
    help_text = subprocess.run([sys.executable, "-m", "brushwork", "transfer", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--preserve-color" in help_text.stdout and "(default: 512)" in help_text.stdout


def test_quality_presets_lie_under_explicit_options():
    from brushwork.frontends.cli import _config, build_parser
    from brushwork.engine.transfer import TransferConfig
    from brushwork.pipeline.settings import QUALITY_PRESETS

    parse = build_parser().parse_args
    draft = _config(parse(["transfer", "a.png", "b.png", "-o", "o.png", "--quality", "draft"]))
    assert draft.steps == QUALITY_PRESETS["draft"]["steps"] and draft.size == TransferConfig().size
    mixed = _config(parse(["transfer", "a.png", "b.png", "-o", "o.png", "--quality", "draft", "--steps", "7"]))
    assert mixed.steps == 7
    best = _config(parse(["transfer", "a.png", "b.png", "-o", "o.png", "--quality", "best", "--precision", "auto"]))
    assert best.steps == QUALITY_PRESETS["best"]["steps"] and best.precision == "auto"
    plain = _config(parse(["transfer", "a.png", "b.png", "-o", "o.png"]))
    assert plain == TransferConfig()
    demo = _config(parse(["demo", "--size", "100"]))
    assert demo.size == 100
    assert _config(parse(["reconstruct", "a.png", "-o", "o.png"])).scales == 1


def test_outputs_record_what_really_ran(tmp_path, capsys, image_files):
    content, style = image_files
    out = tmp_path / "r.png"
    code, _, err = run(capsys, "transfer", content, style, "-o", out, "--size", "48", "--steps", "2", "--scales", "1",
                       "--quality", "draft", "--precision", "auto")
    assert code == 0, err
    meta = read_metadata(out)
    assert meta["quality"] == "draft" and meta["precision_used"] in ("float32", "bfloat16") and meta["device"] == "cpu"
    assert meta["command_line"].startswith("brushwork transfer ") and "--quality draft" in meta["command_line"]
    assert set(meta["effective_weights"]) == {"content", "style", "tv"}


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path, capsys, image_files):
    content, style = image_files
    code, _, err = run(capsys, "transfer", content, style, "-o", tmp_path / "o.png", "--size", "48", "--steps", "3",
                       "--scales", "1")
    # worked on at the photo's own 96 px (under the reference size, as the library does), then scaled to 48
    assert code == 0 and "\r" not in err and "scale 1/1 96x64 3/3" in err


def test_options_that_would_do_nothing_are_refused(tmp_path, capsys, image_files):
    content, style = image_files
    for argv in (["reconstruct", content, "--style-weight", "3"], ["reconstruct", content, "--preserve-color", "luminance"],
                 ["texture", style, "--content-weight", "2"]):
        code, _, err = run(capsys, *argv, "-o", tmp_path / "o.png")
        assert code == 2 and "unrecognized arguments" in err
    assert not (tmp_path / "o.png").exists()


def test_samples_are_listed(capsys):
    code, out, _ = run(capsys, "samples")
    assert code == 0 and "sample:chelsea" in out and "sample:strokes" in out
    code, out, _ = run(capsys, "samples", "--json")
    assert code == 0 and json.loads(out)["sample:mosaic"].startswith("style")


@pytest.mark.parametrize("command", ["transfer", "fast", "adain"])
def test_an_output_the_disk_has_no_room_for_is_refused_before_work(tmp_path, capsys, image_files, monkeypatch, command):
    """A 16384 px poster needs up to 1.5 GiB in 16 bits; the check is the uncompressed size."""
    import shutil
    from collections import namedtuple

    content, style = image_files
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2**30, 2**30 - 2**20, 2**20))  # 1 MiB free
    out = tmp_path / "poster.png"
    argv = [command, "starry_night", str(content)] if command == "fast" else [command, str(content), str(style)]
    code, _, err = run(capsys, *argv, "-o", out, "--size", "1024", *(["--quiet"] if command != "adain" else []))
    assert code == 2 and "not enough space" in err and "1024x" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_the_command_line_paints_what_the_library_paints(tmp_path, capsys, image_files):
    """Files are read at the size the run works at (the reference size for small outputs), so
    `transfer` gives the library's picture; read at the output's size, a small output was
    worked on at that size and a JPEG painting came back sharper than resize makes it."""
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import load_image, resize, save_image

    _, style = image_files
    content = tmp_path / "photo.png"  # 10x the output: worked on at its own size, under the reference size
    save_image(resize(load_image(image_files[0]), (320, 480)), content)
    code, _, err = run(capsys, "transfer", content, style, "-o", tmp_path / "o.png", *TINY)
    assert code == 0, err
    direct = stylize(load_image(content), [load_image(style)],
                     config=TransferConfig(size=48, steps=3, scales=1, device="cpu"))
    assert float((load_image(tmp_path / "o.png") - direct).abs().max()) < 2 / 255  # PNG rounding
