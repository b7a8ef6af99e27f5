"""Batch work through the runner: styles prepared once, resumable, failures recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import TransferConfig, stylize
from brushwork.pipeline.batch import MANIFEST, plan_batch, run_batch
from brushwork.frontends.cli import main
from brushwork.media.image_io import load_image, read_metadata
from brushwork.pipeline.runner import Runner, TransferRequest, run

CONFIG = TransferConfig(size=64, steps=3, scales=2, device="cpu", precision="float32", seed=4)
FLAGS = ["--size", "64", "--steps", "3", "--scales", "2", "--device", "cpu", "--precision", "float32", "--seed", "4",
         "--quiet"]


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "sub/c.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)).resize((96, 64)).save(root / name)
    return root


def request_for(config=CONFIG):
    return lambda item: TransferRequest(item.content, [item.style], config, output=item.output)


def test_styles_are_prepared_once_per_style_for_many_contents(folder, tmp_path):
    items = plan_batch([str(folder)], ["sample:strokes", "sample:mosaic"], tmp_path / "out")
    assert len(items) == 6
    runner = Runner()
    summary = run_batch(items, request_for(), tmp_path / "out" / MANIFEST, runner=runner, scores=False)
    assert (summary.done, summary.failed) == (6, 0)
    assert runner.preparations == 2  # one per style, not one per image
    prepared = list(runner._styles.values())
    assert [p.computed for p in prepared] == [2, 2]  # one Gram set per scale, shared by the three contents


def test_stylize_run_and_batch_give_the_same_pixels(folder, tmp_path):
    content = load_image(folder / "a.png", long_side=64)
    direct = stylize(content, [load_image("sample:strokes", long_side=64)], config=CONFIG)
    through_run = run(TransferRequest(str(folder / "a.png"), ["sample:strokes"], CONFIG)).image
    items = plan_batch([str(folder / "a.png")], ["sample:strokes"], tmp_path / "out")
    run_batch(items, request_for(), tmp_path / "out" / MANIFEST, scores=False)
    batched = load_image(items[0].output)
    assert torch.equal(direct, through_run)
    assert torch.equal((direct * 255).round().byte(), (batched * 255).round().byte())


def test_resume_after_an_interruption_redoes_nothing(folder, tmp_path, monkeypatch):
    items = plan_batch([str(folder)], ["sample:strokes"], tmp_path / "out")
    manifest = tmp_path / "out" / MANIFEST
    calls = []
    real = Runner.run

    def counting(self, request, **kwargs):
        calls.append(request.output)
        if len(calls) == 2 and request.output == items[1].output:
            raise KeyboardInterrupt  # Ctrl-C during the second image
        return real(self, request, **kwargs)

    monkeypatch.setattr(Runner, "run", counting)
    with pytest.raises(KeyboardInterrupt):
        run_batch(items, request_for(), manifest, scores=False)
    assert items[0].output.exists() and not items[1].output.exists()
    assert [json.loads(l)["status"] for l in manifest.read_text().splitlines()] == ["done"]

    calls.clear()
    summary = run_batch(items, request_for(), manifest, scores=False)
    assert calls == [items[1].output, items[2].output]  # the finished one is not redone
    assert (summary.done, summary.skipped) == (2, 1)
    assert [json.loads(l)["status"] for l in manifest.read_text().splitlines()] == ["skipped", "done", "done"]


def test_a_corrupt_file_is_recorded_and_the_batch_goes_on(folder, tmp_path, capsys):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code = main(["batch", str(folder), "--style", "sample:strokes", "-o", str(out), *FLAGS])
    stdout = capsys.readouterr().out
    assert code == 1
    assert stdout.strip().splitlines()[-1] == f"3 done, 0 skipped, 1 failed: see {out / MANIFEST}"
    lines = [json.loads(l) for l in (out / MANIFEST).read_text().splitlines()]
    failed = [l for l in lines if l["status"] == "failed"]
    assert len(failed) == 1 and "broken.png" in failed[0]["error"] and "\n" not in failed[0]["error"]
    done = [l for l in lines if l["status"] == "done"]
    assert len(done) == 3 and all(Path(l["output"]).exists() for l in done)
    assert all(l["scores"]["style_distance"] > 0 and l["seconds"] > 0 for l in done)
    meta = read_metadata(done[0]["output"])
    assert meta["parameters"] == done[0]["parameters"] and meta["precision_used"] == "float32"


def test_existing_outputs_with_other_parameters_stop_the_batch(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(folder / "a.png"), "--style", "sample:strokes", "-o", str(out), *FLAGS]) == 0
    before = (out / "a__strokes.png").read_bytes()
    code = main(["batch", str(folder / "a.png"), "--style", "sample:strokes", "-o", str(out), *FLAGS, "--style-weight", "9"])
    err = capsys.readouterr().err
    assert code == 2 and "exists with other parameters; pass --force" in err
    assert (out / "a__strokes.png").read_bytes() == before
    assert main(["batch", str(folder / "a.png"), "--style", "sample:strokes", "-o", str(out), *FLAGS,
                 "--style-weight", "9", "--force"]) == 0
    assert read_metadata(out / "a__strokes.png")["config"]["style_weight"] == 9.0


def test_pairs_file_and_the_networks(folder, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("content,style\nphotos/a.png,sample:strokes\nphotos/sub/c.jpg,sample:mosaic\n")
    out = tmp_path / "out"
    assert main(["batch", "--pairs", str(pairs), "-o", str(out), "--method", "adain", "--size", "64", "--quiet"]) == 0
    assert sorted(p.name for p in out.rglob("*.png")) == ["a__strokes.png", "c__mosaic.png"]
    assert read_metadata(out / "a__strokes.png")["command"] == "adain"
    assert main(["batch", str(folder / "b.png"), "--style", "sample:strokes", "-o", str(out), "--method", "fast",
                 "--model", "starry_night", "--size", "48", "--quiet"]) == 0
    with Image.open(out / "b__strokes.png") as image:
        assert max(image.size) == 48
    assert main(["batch", str(folder), "-o", str(out), "--quiet"]) == 2
    assert "give INPUTS and --style" in capsys.readouterr().err
