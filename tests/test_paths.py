"""No run may destroy a user's file: outputs never onto inputs, derived names never over
existing files, colliding names made distinct. Every case goes through ``main(argv)`` and
checks that the inputs are byte-identical afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_run import run
from brushwork.media.paths import InputFile, expand_inputs, folder_outputs, same_file

TINY = ["--size", "48", "--steps", "2", "--scales", "1", "--quiet", "--device", "cpu"]


def picture(path: Path, size=(64, 48), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert pattern in lines[0], lines[0]


@pytest.fixture()
def photos(tmp_path):
    return picture(tmp_path / "p.jpg"), picture(tmp_path / "s.png", seed=1)


@pytest.mark.parametrize("argv, victim", [
    (["transfer", "{p}", "{s}", "-o", "{p}"], "p"),
    (["transfer", "{p}", "{s}", "-o", "{s}"], "s"),
    (["transfer", "{p}", "{s}", "--init", "{i}", "-o", "{i}"], "i"),
    (["transfer", "{p}", "{s}", "--mask", "{m}", "-o", "{m}"], "m"),
    (["transfer", "{p}", "{g}", "-o", "{o}", "--animation", "{g}"], "g"),
    (["reconstruct", "{p}", "-o", "{p}"], "p"),
    (["texture", "{s}", "-o", "{s}"], "s"),
    (["grid", "--content", "{p}", "--style", "{s}", "-o", "{s}"], "s"),
    (["fast", "starry_night", "{p}", "-o", "{p}"], "p"),
    (["adain", "{p}", "{s}", "-o", "{s}"], "s"),
    (["transfer", "{p}", "{s}", "-o", "{hard}"], "s"),
    (["transfer", "{p}", "{s}", "-o", "{soft}"], "p"),
])
def test_an_output_is_never_an_input(tmp_path, capsys, photos, argv, victim):
    p, s = photos
    g = tmp_path / "start.gif"
    Image.open(p).convert("RGB").save(g)
    i = picture(tmp_path / "start.png", seed=9)
    m = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(m)
    os.link(s, tmp_path / "hard.png")
    (tmp_path / "soft.jpg").symlink_to(p)
    files = {"p": p, "s": s, "g": g, "i": i, "m": m, "o": tmp_path / "o.png", "hard": tmp_path / "hard.png",
             "soft": tmp_path / "soft.jpg"}
    before = snapshot(p, s, g, i, m)
    code, _, err = run(capsys, *[a.format(**files) for a in argv], *(TINY if argv[0] not in ("fast", "adain") else []))
    assert_one_line_error(code, err, f"is the input '{files[victim]}'")
    assert snapshot(p, s, g, i, m) == before
    assert not (tmp_path / "o.png").exists()


def test_same_file_sees_links_and_letter_case(tmp_path):
    a = picture(tmp_path / "a.png")
    os.link(a, tmp_path / "b.png")
    (tmp_path / "c.png").symlink_to(a)
    assert same_file(a, tmp_path / "b.png") and same_file(a, tmp_path / "c.png")
    assert same_file(a, tmp_path / "x" / ".." / "a.png")
    assert not same_file(a, tmp_path / "d.png")
    # on a case-insensitive disk P.PNG exists as the same inode; here it is another name
    assert same_file(a, tmp_path / "A.PNG") == (tmp_path / "A.PNG").exists()


def test_fast_into_its_own_input_folder_only_where_names_cannot_collide(tmp_path, capsys):
    folder = tmp_path / "shots"
    folder.mkdir()
    jpg, png = picture(folder / "a.jpg"), picture(folder / "b.png", seed=2)
    before = snapshot(jpg, png)
    code, _, err = run(capsys, "fast", "starry_night", folder, "-o", folder)
    assert_one_line_error(code, err, f"is the input '{png}'")
    assert snapshot(jpg, png) == before and sorted(p.name for p in folder.iterdir()) == ["a.jpg", "b.png"]

    png.unlink()
    code, _, err = run(capsys, "fast", "starry_night", folder, "-o", folder, "--size", "32")
    assert code == 0, err
    assert jpg.read_bytes() == before[jpg] and (folder / "a.png").exists()


def test_fast_output_with_a_trailing_slash_is_a_folder(tmp_path, capsys, photos):
    p, _ = photos
    before = p.read_bytes()
    code, _, err = run(capsys, "fast", "starry_night", p, "-o", f"{p}/")
    assert_one_line_error(code, err, "is a file")
    assert p.read_bytes() == before
    code, _, err = run(capsys, "fast", "starry_night", p, "-o", f"{tmp_path / 'out'}/", "--size", "32")
    assert code == 0, err
    assert (tmp_path / "out" / "p.png").exists()
    code, _, err = run(capsys, "transfer", p, "sample:strokes", "-o", f"{tmp_path / 'x.png'}/", *TINY)
    assert_one_line_error(code, err, "names a folder")


def test_folder_outputs_keep_relative_paths_and_never_collide(tmp_path, capsys):
    (tmp_path / "in" / "a").mkdir(parents=True)
    sources = [picture(tmp_path / "in" / "a" / "photo.jpg"), picture(tmp_path / "in" / "a" / "photo.png", seed=3),
               picture(tmp_path / "in" / "photo.jpg", seed=4)]
    loose = picture(tmp_path / "photo.jpg", seed=5)
    code, _, err = run(capsys, "fast", "starry_night", tmp_path / "in", loose, "-o", tmp_path / "out", "--size", "32")
    assert code == 0, err
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["a/photo.png", "a/photo.png.png", "photo.jpg.png", "photo.png"]
    inputs = {Image.open(p).convert("RGB").tobytes() for p in [*sources, loose]}
    assert len(inputs) == 4  # four different pictures gave four files, none lost

    before = snapshot(*(tmp_path / "out").rglob("*.png"))
    code, _, err = run(capsys, "fast", "starry_night", tmp_path / "in", loose, "-o", tmp_path / "out", "--size", "32")
    assert_one_line_error(code, err, "already exists; pass --overwrite")
    assert snapshot(*before) == before
    code, _, err = run(capsys, "fast", "starry_night", tmp_path / "in", loose, "-o", tmp_path / "out", "--size", "32",
                       "--overwrite")
    assert code == 0, err


def test_folder_outputs_distinct_names():
    inputs = [InputFile(Path(p), Path(r)) for p, r in
              (("x/Photo.jpg", "Photo.jpg"), ("y/photo.jpg", "photo.jpg"), ("z/photo.jpg", "photo.jpg"))]
    names = [str(p) for p in folder_outputs(inputs, Path("out"))]
    assert len({n.lower() for n in names}) == 3 and names[0] == "out/Photo.png"


def test_expand_inputs_recurses_and_globs(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    picture(tmp_path / "d" / "e" / "x.png")
    (tmp_path / "d" / "notes.txt").write_text("no")
    picture(tmp_path / "y.jpg")
    found = expand_inputs([tmp_path / "d", str(tmp_path / "*.jpg")])
    assert [(f.path.name, str(f.relative)) for f in found] == [("x.png", "e/x.png"), ("y.jpg", "y.jpg")]


def test_save_every_never_replaces_earlier_steps_and_interrupt_lists_them(tmp_path, capsys, photos, monkeypatch):
    p, s = photos
    out = tmp_path / "r.png"
    old_step = tmp_path / "r.step00002.png"
    old_step.write_bytes(b"an earlier run")
    argv = ["transfer", p, s, "-o", out, "--save-every", "1", "--size", "48", "--steps", "6", "--scales", "1", "--quiet"]
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, "r.step00002.png' already exists; pass --overwrite")
    assert old_step.read_bytes() == b"an earlier run"

    import brushwork.pipeline.runner as runner

    real = runner.stylize

    def interrupted(*args, callback, **kwargs):  # Ctrl-C during step 3
        def on_step(event):
            if event.step == 3:
                raise KeyboardInterrupt
            callback(event)
        return real(*args, callback=on_step, **kwargs)

    monkeypatch.setattr(runner, "stylize", interrupted)
    code, _, err = run(capsys, *argv, "--overwrite")
    assert code == 130 and "nothing written" not in err
    assert "wrote 2 files before stopping" in err and "r.step00001.png" in err and "r.step00002.png" in err
    assert not out.exists()
    old_step.unlink(), (tmp_path / "r.step00001.png").unlink()
    code, _, err = run(capsys, *argv[:5], "--size", "48", "--steps", "6", "--scales", "1", "--quiet")
    assert code == 130 and err.strip() == "brushwork: interrupted; nothing written"
    assert not list(tmp_path.glob("r*.png"))


def test_export_into_an_unwritable_place_is_one_line(tmp_path, capsys, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    code, _, err = run(capsys, "export", "starry_night", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "cannot write ONNX file")
    assert list(tmp_path.iterdir()) == []


def test_fast_decodes_inputs_reduced_and_one_batch_at_a_time(tmp_path, capsys, monkeypatch):
    import brushwork.frontends.cli_networks as networks

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        picture(folder / f"{i}.png", size=(400, 300), seed=i)
    loads, alive, peak = [], [0], [0]
    real_load, real_stylize = networks.load_image, networks.fast_stylize

    def counting_load(*args, **kwargs):
        loads.append(kwargs.get("long_side"))
        alive[0] += 1
        peak[0] = max(peak[0], alive[0])
        return real_load(*args, **kwargs)

    def counting_stylize(net, batch, **kwargs):
        alive[0] -= batch.shape[0]
        return real_stylize(net, batch, **kwargs)

    monkeypatch.setattr(networks, "load_image", counting_load)
    monkeypatch.setattr(networks, "fast_stylize", counting_stylize)
    code, _, err = run(capsys, "fast", "starry_night", folder, "-o", tmp_path / "out", "--size", "64", "--batch", "3")
    assert code == 0, err
    assert loads == [64] * 7 and peak[0] == 3  # never all seven at once, each decoded for 64 px
    assert len(list((tmp_path / "out").glob("*.png"))) == 7
