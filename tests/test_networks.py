"""Feed-forward and AdaIN networks: shapes, statistics, training, saving, ONNX, the CLI."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from brushwork.realtime import models
from brushwork.frontends.cli import main
from brushwork.errors import InputError
from brushwork.media.image_io import fit_long_side, load_image, read_metadata, resize, save_image
from brushwork.realtime.models import export_onnx, load_model, save_model
from brushwork.realtime.networks import (WCT_LEVELS, WCT_RUN_LEVELS, AdaINNet, Decoder, Moments, TransformerNet, UniversalNet, adain,
                                         channel_stats, feature_covariance, level_layer, wct)
from brushwork.realtime.stylize import _with_detail, arbitrary_stylize, level_schedule
from brushwork.realtime.training import (AdaINTrainConfig, FastTrainConfig, UniversalTrainConfig, train_adain, train_fast,
                                         train_universal, turn_hue)


@pytest.fixture()
def photo_dir(tmp_path, content):
    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(content, folder / "a.png")
    save_image(content.flip(-1), folder / "b.png")
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


@pytest.fixture()
def style_dir(tmp_path, style):
    folder = tmp_path / "paintings"
    folder.mkdir()
    save_image(style, folder / "s.png")
    return folder


@pytest.mark.parametrize("size", [(32, 32), (37, 53), (64, 40)])
def test_transformer_keeps_any_size_and_stays_in_range(size):
    net = TransformerNet(width=8, blocks=2).eval()
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_linear_output_is_clamped_only_outside_training():
    net = TransformerNet(width=8, blocks=1)
    net.net[-1][1].bias.data.fill_(4.0)  # push every pixel far above white
    x = torch.rand(1, 3, 24, 24)
    assert net.train()(x).min() > 1  # training sees the raw values, so the gradient never vanishes
    assert torch.equal(net.eval()(x), torch.ones_like(x))


def test_model_files_from_before_the_linear_output_load_as_sigmoid(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(4)
    old = _fp16_rounded(TransformerNet(width=8, blocks=1, output="sigmoid").eval())
    path = tmp_path / "old.safetensors"
    save_file({k: v.half() for k, v in old.state_dict().items()}, str(path),
              metadata={"format": models.FORMAT, "kind": "fast", "arch": '{"width": 8, "blocks": 1}'})
    loaded = load_model(path, expect="fast").network
    x = torch.rand(1, 3, 20, 20)
    assert loaded.output == "sigmoid" and torch.allclose(loaded(x), old(x), atol=1e-6)


def test_turn_hue_turns_red_to_cyan_and_zero_changes_nothing():
    from PIL import Image

    red = Image.new("RGB", (8, 8), (200, 30, 30))
    r, g, b = turn_hue(red, 128).getpixel((0, 0))
    assert r < 60 and g > 150 and b > 150, (r, g, b)
    assert max(abs(p - q) for p, q in zip(turn_hue(red, 0).getpixel((0, 0)), (200, 30, 30))) <= 2


def test_adain_gives_content_features_the_style_statistics():
    content, style = torch.randn(1, 8, 6, 7) * 3 + 1, torch.randn(1, 8, 5, 5) * 0.5 - 2
    mixed = adain(content, *channel_stats(style))
    for got, want in zip(channel_stats(mixed), channel_stats(style)):
        assert torch.allclose(got, want, atol=1e-4)
    # the arrangement of the content survives: per channel, an increasing affine map
    assert torch.corrcoef(torch.stack([mixed[0, 0].flatten(), content[0, 0].flatten()]))[0, 1] > 0.999


def test_wct_gives_content_features_the_style_mean_and_covariance():
    """Li et al.'s transform: the output's channel means and covariance are the style's (to
    the regulariser's share), and its arrangement is still the content's (WCT is linear in
    the content, so it keeps which positions are alike)."""
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(16, 16, generator=g)
    content = torch.randn(1, 16, 24, 24, generator=g)
    style = (mixing @ torch.randn(16, 20 * 20, generator=g)).reshape(1, 16, 20, 20) + 3.0
    out = wct(content, style, eps=1e-6)
    (out_mean, out_cov), (style_mean, style_cov) = feature_covariance(out), feature_covariance(style)
    assert float((out_mean - style_mean).abs().max()) < 1e-4
    assert float((out_cov - style_cov).norm() / style_cov.norm()) < 1e-3
    position = lambda x: x[0].reshape(16, -1).T  # noqa: E731
    alike = torch.corrcoef(torch.stack([torch.cdist(position(content), position(content)).flatten(),
                                        torch.cdist(position(out), position(out)).flatten()]))[0, 1]
    assert alike > 0.3  # distances between positions still follow the content's
    adain_out = adain(content, *channel_stats(style))
    assert float((feature_covariance(adain_out)[1] - style_cov).norm() / style_cov.norm()) > 0.3  # AdaIN does not


def test_masked_adain_uses_each_region_statistics():
    torch.manual_seed(0)
    net = AdaINNet(Decoder(width=0.1)).eval()
    content = torch.rand(1, 3, 64, 64)
    left = torch.zeros(1, 1, 64, 64)
    left[..., :32] = 1
    dark, bright = torch.full((1, 3, 32, 32), 0.1), torch.full((1, 3, 32, 32), 0.9)
    out = net(content, [dark, bright], masks=[left, 1 - left])
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    swapped = net(content, [bright, dark], masks=[left, 1 - left])
    assert not torch.allclose(out[..., :24], swapped[..., :24])  # the left half follows its own style


def test_arbitrary_stylize_checks_its_arguments():
    net = AdaINNet(Decoder(width=0.1))
    image = torch.rand(1, 3, 32, 32)
    with pytest.raises(InputError, match="alpha"):
        arbitrary_stylize(net, image, [image], alpha=1.5)
    with pytest.raises(InputError, match="2 weights"):
        arbitrary_stylize(net, image, [image], weights=[1, 2])
    with pytest.raises(InputError, match="at least one style"):
        arbitrary_stylize(net, image, [])


@pytest.mark.slow
def test_train_fast_lowers_the_loss(tmp_path, photo_dir, style):
    config = FastTrainConfig(size=48, steps=24, batch=2, width=8, blocks=2, learning_rate=1e-2, style_size=64,
                             precision="float32", checkpoint_every=12)
    seen = []
    net = train_fast(style, photo_dir, tmp_path / "m.safetensors", config, callback=seen.append)
    first = sum(e.losses["total"] for e in seen[:4]) / 4
    last = sum(e.losses["total"] for e in seen[-4:]) / 4
    assert last < 0.6 * first, (first, last)
    assert isinstance(net, TransformerNet) and not net.training


def test_training_resumes_after_an_interruption(tmp_path, photo_dir, style):
    config = FastTrainConfig(size=32, steps=6, batch=1, width=8, blocks=1, checkpoint_every=2, precision="float32")
    out = tmp_path / "m.safetensors"

    def interrupt_at_5(event):
        if event.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_fast(style, photo_dir, out, config, callback=interrupt_at_5)
    resumed = []
    train_fast(style, photo_dir, out, config, resume=True, callback=resumed.append)
    assert [e.step for e in resumed] == [5, 6]
    longer = []
    train_fast(style, photo_dir, out, replace(config, steps=8), resume=True, callback=longer.append)
    assert [e.step for e in longer] == [7, 8]
    with pytest.raises(InputError, match="other settings"):
        train_fast(style, photo_dir, out, replace(config, learning_rate=0.5), resume=True)


@pytest.mark.slow
def test_train_adain_lowers_the_loss(tmp_path, photo_dir, style_dir):
    config = AdaINTrainConfig(size=48, steps=16, batch=2, width=0.1, learning_rate=2e-3, precision="float32",
                              checkpoint_every=100)
    seen = []
    train_adain(photo_dir, style_dir, tmp_path / "a.safetensors", config, callback=seen.append)
    first = sum(e.losses["total"] for e in seen[:3]) / 3
    last = sum(e.losses["total"] for e in seen[-3:]) / 3
    assert last < 0.7 * first, (first, last)


@pytest.mark.slow
def test_adain_warmup_learns_to_invert_the_encoder_then_hands_over(tmp_path, photo_dir, style_dir):
    config = AdaINTrainConfig(size=48, steps=22, warmup_steps=20, batch=2, width=0.1, learning_rate=3e-3,
                              precision="float32", checkpoint_every=100)
    seen = []
    train_adain(photo_dir, style_dir, tmp_path / "a.safetensors", config, callback=seen.append)
    assert all("reconstruction" in e.losses for e in seen[:20])
    assert all("content" in e.losses and "style" in e.losses for e in seen[20:])
    first = sum(e.losses["reconstruction"] for e in seen[:3]) / 3
    last = sum(e.losses["reconstruction"] for e in seen[17:20]) / 3
    assert last < 0.7 * first, (first, last)


def test_adam_moments_start_afresh_when_the_warmup_hands_over(tmp_path, photo_dir, style_dir, monkeypatch):
    made = []
    real_adam = torch.optim.Adam

    def counting_adam(*args, **kwargs):
        made.append(real_adam(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(torch.optim, "Adam", counting_adam)
    steps_seen = []
    config = AdaINTrainConfig(size=32, steps=4, warmup_steps=2, batch=1, width=0.1, precision="float32")
    train_adain(photo_dir, style_dir, tmp_path / "a.safetensors", config,
                callback=lambda e: steps_seen.append((e.step, len(made))))
    # one optimiser for the warm-up, a new one from the first step of the paper's losses
    assert steps_seen == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert float(made[1].state_dict()["state"][0]["step"]) == 2  # its moments know only the new loss


def test_training_stops_after_max_minutes_and_says_how_far_it_got(tmp_path, photo_dir, image_files):
    _, style = image_files
    out = tmp_path / "m.safetensors"
    argv = ["train-fast", str(style), "--images", str(photo_dir), "-o", str(out), "--size", "32", "--steps", "50",
            "--width", "8", "--blocks", "1", "--style-size", "64", "--max-minutes", "0.000001", "--quiet"]
    assert main(argv) == 0
    meta = load_model(out).metadata
    assert meta["steps_done"] == 1 and meta["training"]["steps"] == 50
    assert meta["final_losses_over"] == 1 and set(meta["final_losses"]) == {"total", "content", "style", "tv"}
    adain_out = tmp_path / "a.safetensors"
    assert main(["train-adain", "--images", str(photo_dir), "--styles", str(photo_dir), "-o", str(adain_out),
                 "--size", "32", "--width", "0.1", "--no-hue-jitter", "--max-minutes", "0.000001", "--quiet"]) == 0
    meta = load_model(adain_out).metadata
    assert meta["steps_done"] == 1 and meta["training"]["hue_jitter"] is False


def _fp16_rounded(net: torch.nn.Module) -> torch.nn.Module:
    for p in net.parameters():
        p.data = p.data.half().float()
    return net


def test_save_load_gives_the_same_output(tmp_path):
    torch.manual_seed(1)
    net = _fp16_rounded(TransformerNet(width=8, blocks=2).eval())
    path = save_model(net, tmp_path / "style.safetensors", {"name": "style", "training": {"steps": 3}})
    loaded = load_model(path, expect="fast")
    x = torch.rand(1, 3, 40, 36)
    assert torch.allclose(loaded.network(x), net(x), atol=1e-6)
    assert loaded.metadata["name"] == "style" and loaded.metadata["training"] == {"steps": 3}
    assert path.stat().st_size < 1_000_000

    c, s = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    universal = UniversalNet(width=0.1)
    _fp16_rounded(universal.decoders)  # what the file keeps; VGG's weights are not in it
    for arbitrary in (AdaINNet(_fp16_rounded(Decoder(width=0.1))), universal):
        loaded = load_model(save_model(arbitrary.eval(), tmp_path / "a.safetensors", {"name": "a"}), expect="arbitrary")
        assert type(loaded.network) is type(arbitrary)
        assert torch.allclose(loaded.network(c, [s]), arbitrary(c, [s]), atol=1e-5)


@pytest.mark.parametrize("kind", ["fast", "adain", "wct"])
def test_onnx_export_matches_pytorch(tmp_path, kind):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    net = {"fast": lambda: TransformerNet(width=8, blocks=2), "adain": lambda: AdaINNet(Decoder(width=0.1)),
           "wct": lambda: UniversalNet(width=0.1)}[kind]().eval()
    model = load_model(save_model(_fp16_rounded(net), tmp_path / "m.safetensors", {}))
    path = export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    content = torch.rand(1, 3, 50, 42)  # not the export's example size, nor a multiple of 4 or 8
    if kind == "fast":
        want = model.network(content)
        got = session.run(None, {"image": content.numpy()})[0]
    else:
        style = torch.rand(1, 3, 40, 56)
        want = model.network(content, [style])
        got = session.run(None, {"content": content.numpy(), "style": style.numpy()})[0]
    assert got.shape == tuple(want.shape)
    assert abs(torch.from_numpy(got) - want).max() < 1e-3


@pytest.fixture()
def shipped(tmp_path, monkeypatch):
    """A pretrained folder with one small model of each kind (untrained: shapes, not looks)."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    torch.manual_seed(3)
    save_model(TransformerNet(width=8, blocks=2), folder / "tiny_style.safetensors",
               {"name": "tiny_style", "description": "a test model", "training": {"steps": 1, "size": 32}})
    save_model(AdaINNet(Decoder(width=0.1)), folder / "adain.safetensors", {"name": "adain"})
    save_model(UniversalNet(width=0.1), folder / "wct.safetensors", {"name": "wct"})
    monkeypatch.setattr(models, "PRETRAINED", folder)
    return folder


def test_fast_cli_lists_and_stylizes_files_and_folders(tmp_path, shipped, image_files, capsys):
    assert main(["fast", "--list"]) == 0  # only what fast can run
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["tiny_style"] and "feed-forward" in lines[0]
    assert main(["models"]) == 0  # every kind, each saying which command runs it
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["tiny_style", "wct", "adain"]
    assert "brushwork fast" in lines[0] and all("brushwork adain" in line for line in lines[1:])
    content, _ = image_files
    assert main(["fast", "tiny_style", str(content), "-o", str(tmp_path / "one.png"), "--preserve-color", "luminance"]) == 0
    assert max(load_image(tmp_path / "one.png").shape[-2:]) == 512  # the size every method defaults to
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("x.png", "y.png", "z.png"):
        (folder / name).write_bytes(content.read_bytes())
    assert main(["fast", "tiny_style", str(folder), "-o", str(tmp_path / "outs"), "--batch", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "outs").iterdir()) == ["x.png", "y.png", "z.png"]


def test_adain_cli_and_init_adain(tmp_path, shipped, image_files):
    content, style = image_files
    out = tmp_path / "adain.png"
    assert main(["adain", str(content), str(style), str(style), "--weights", "1", "3", "--alpha", "0.5",
                 "--size", "64", "-o", str(out)]) == 0
    assert max(load_image(out).shape[-2:]) == 64
    for model in ("adain", "wct"):
        assert main(["adain", str(content), str(style), "--model", model, "--size", "48", "-o", str(out)]) == 0
        assert max(load_image(out).shape[-2:]) == 48 and read_metadata(out)["model"] == model
        assert main(["transfer", str(content), str(style), "--init", model, "--size", "48", "--steps", "2",
                     "--scales", "1", "--quiet", "-o", str(tmp_path / "t.png")]) == 0


@pytest.mark.parametrize(
    "make, argv_tail, message",
    [
        (None, ["fast", "missing.safetensors"], "does not exist"),
        (None, ["fast", "no_such_style"], "no model named"),
        (lambda p: p.write_bytes(b"\x00" * 64), ["fast", "{model}"], "not a readable model file"),
        (lambda p: p.write_bytes(b"garbage that is not safetensors at all"), ["fast", "{model}"], "not a readable model file"),
        ("adain", ["fast", "{model}"], "needs a feed-forward"),
        ("fast", ["adain", "{content}", "{content}", "--model", "{model}"], "needs an arbitrary-style"),
    ],
    ids=["missing", "unknown-name", "zeros", "garbage", "adain-as-fast", "fast-as-adain"],
)
def test_bad_models_give_one_line_and_exit_2(tmp_path, image_files, capsys, make, argv_tail, message):
    content, _ = image_files
    model = tmp_path / "model.safetensors"
    if make == "adain":
        save_model(AdaINNet(Decoder(width=0.1)), model, {})
    elif make == "fast":
        save_model(TransformerNet(width=8, blocks=2), model, {})
    elif make is not None:
        make(model)
    argv = [a.format(model=model, content=content) for a in argv_tail]
    if argv[0] == "fast":
        argv += [str(content), "-o", str(tmp_path / "out.png")]
    else:
        argv += ["-o", str(tmp_path / "out.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out.png").exists()


def test_training_cli_rejects_bad_input(tmp_path, image_files, capsys):
    content, style = image_files
    assert main(["train-fast", str(style), "--images", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train-fast", str(style), "--images", str(tmp_path), "-o", str(tmp_path / "m.onnx")]) == 2
    assert ".safetensors" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-adain", "--images", str(empty), "--styles", str(empty), "-o", str(tmp_path / "a.safetensors")]) == 2
    assert "has no images" in capsys.readouterr().err
    assert main(["train-fast", str(style), "--images", str(tmp_path), "--size", "5", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "training size" in capsys.readouterr().err


def test_training_bar_reports_the_mean_of_the_last_steps():
    from brushwork.frontends.cli_networks import TrainingBar
    from brushwork.realtime.training import TrainingProgress

    bar = TrainingBar(quiet=True, keep=3)
    for step, losses in enumerate([{"total": 9.0}, {"total": 1.0, "reconstruction": 1.0},
                                   {"total": 2.0, "content": 4.0}, {"total": 3.0, "content": 2.0}], start=1):
        bar(TrainingProgress(step, 4, losses, 0.0, 0.0))
    assert bar.recent_losses() == {"total": 2.0, "reconstruction": 1.0, "content": 3.0}  # step 1 has left the window


def test_running_a_network_never_changes_it():
    import torch

    from brushwork.realtime.models import load_model
    from brushwork.realtime.stylize import arbitrary_stylize

    net = load_model("adain", expect="arbitrary").network
    before = {k: v.clone() for k, v in net.state_dict().items()}
    dtype = net.encoder.compute_dtype
    image = torch.rand(1, 3, 48, 48)
    rng = torch.random.get_rng_state()
    arbitrary_stylize(net, image, [image.flip(-1)], precision="bfloat16", device="cpu")
    assert net.encoder.compute_dtype == dtype and not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(torch.random.get_rng_state(), rng)


@pytest.mark.parametrize("model", ["wct", "adain"])
def test_style_statistics_computed_once_give_the_same_image(model):
    from brushwork.engine.transfer import TransferConfig
    from brushwork.media.image_io import fit_long_side, resize
    from brushwork.pipeline.runner import Runner, TransferRequest
    from brushwork.realtime.stylize import arbitrary_style_statistics

    net = load_model(model, expect="arbitrary").network
    content = load_image("sample:chelsea")
    content = resize(content, fit_long_side(*content.shape[-2:], 64))
    style = load_image("sample:strokes")
    direct = arbitrary_stylize(net, content, [style], style_size=64, precision="float32")
    stats = arbitrary_style_statistics(net, [style], style_size=64, precision="float32")
    assert torch.allclose(arbitrary_stylize(net, content, [style], style_size=64, precision="float32", style_stats=stats), direct)
    runner = Runner()
    config = TransferConfig(size=64, precision="float32")
    first = runner.run(TransferRequest("sample:chelsea", ["sample:strokes"], config, method="adain", model=model)).image
    again = runner.run(TransferRequest("sample:chelsea", ["sample:strokes"], config, method="adain", model=model)).image
    assert torch.equal(first, again) and torch.allclose(first, direct, atol=1e-5)


@pytest.mark.parametrize("level", WCT_LEVELS)
def test_each_decoder_gives_back_a_picture_of_its_input_size(level):
    net = UniversalNet(width=0.1)
    image = torch.rand(1, 3, 52, 44)
    feats = net.encode(image, level)
    assert list(feats) == [level_layer(n) for n in sorted(net.levels) if n <= level]  # VGG stopped at the level
    assert net.decode(feats[level_layer(level)], level, image).shape == image.shape


def test_weighted_moments_are_the_region_s_own():
    torch.manual_seed(4)
    feats = torch.randn(1, 6, 8, 10)
    left = torch.zeros(1, 1, 8, 10)
    left[..., :5] = 1
    mean, cov = feature_covariance(feats, left)
    inside = feats[..., :5]
    flat = inside[0].reshape(6, -1).double()
    want = (flat - flat.mean(1, keepdim=True)) @ (flat - flat.mean(1, keepdim=True)).T / flat.shape[1]
    assert torch.allclose(mean, flat.mean(1, keepdim=True)) and torch.allclose(cov, want)
    style = torch.randn(1, 6, 9, 9) * 3 + 1
    assert torch.allclose(wct(feats, Moments.of(style, 0.5)), wct(feats, style))  # moments taken once: the same


def test_universal_net_runs_tiles_with_the_whole_picture_s_moments():
    torch.manual_seed(5)
    net = UniversalNet(width=0.1).eval()
    content, style = torch.rand(1, 3, 48, 40), torch.rand(1, 3, 32, 32)
    stats = net.style_statistics([style])
    own = net.content_statistics(content, stats)
    assert set(own) == set(WCT_RUN_LEVELS)
    # the picture's own moments passed in: the same picture as computing them on the way
    assert torch.allclose(net(content, [], style_stats=stats, content_stats=own), net(content, [style]), atol=1e-5)
    other = net.content_statistics(torch.rand(1, 3, 48, 40), stats)
    assert not torch.allclose(net(content, [], style_stats=stats, content_stats=other), net(content, [style]), atol=1e-3)


def test_masked_wct_gives_each_region_its_style():
    torch.manual_seed(6)
    net = UniversalNet(width=0.1, levels=(1,)).eval()
    content = torch.rand(1, 3, 32, 32)
    red, blue = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    red[:, 0], blue[:, 2] = 0.9, 0.9
    red, blue = red + 0.05 * torch.rand_like(red), blue + 0.05 * torch.rand_like(blue)
    left = torch.zeros(1, 1, 32, 32)
    left[..., :16] = 1
    feats = net.encode(content)[level_layer(1)]
    colours = [s[1] for s in net.style_statistics([red, blue])]
    out = UniversalNet._masked(feats, colours, [left, 1 - left])
    for region, style in ((left, red), (1 - left, blue)):
        inside = out[..., region[0, 0].bool()].reshape(1, 64, -1, 1)
        want = net.encode(style)[level_layer(1)]
        assert torch.allclose(inside.mean(dim=(2, 3)), want.mean(dim=(2, 3)), atol=1e-3 * float(want.abs().max()))


def test_wct_decoders_trained_briefly_move_colours_toward_any_style(tmp_path, photo_dir, style_dir):
    """The failure of Brushwork's first AdaIN model: whatever the painting, one palette. A
    decoder that only learnt to invert VGG must give a red painting's output red and a blue
    one's blue."""
    from brushwork.engine.metrics import palette_distance

    config = UniversalTrainConfig(size=32, steps=300, batch=4, learning_rate=3e-3, levels=(1,), checkpoint_every=1000,
                                  precision="float32", hue_jitter=False)
    net = train_universal(photo_dir, style_dir, tmp_path / "w.safetensors", config)
    content = load_image("sample:chelsea", long_side=48)
    for hue in ((0.85, 0.15, 0.1), (0.1, 0.2, 0.85)):
        style = torch.tensor(hue).view(1, 3, 1, 1) * (0.7 + 0.3 * torch.rand(1, 1, 32, 32))
        with torch.no_grad():
            out = net(content, [style], levels=[1]).clamp(0, 1)  # the decoder's work alone, not the pixel level's
        assert palette_distance(out, style) < 0.4 * palette_distance(content, style)


def test_shipped_arbitrary_network_follows_each_painting_s_palette():
    """On the model users get by default, with paintings of opposite colours."""
    from brushwork.engine.metrics import palette_distance
    from brushwork.realtime.models import DEFAULT_ARBITRARY

    net = load_model(DEFAULT_ARBITRARY, expect="arbitrary").network
    content = load_image("sample:chelsea", long_side=96)
    outs = []
    for hue in ((0.85, 0.2, 0.1), (0.1, 0.3, 0.8)):
        style = torch.tensor(hue).view(1, 3, 1, 1) * (0.6 + 0.4 * torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(7)))
        out = arbitrary_stylize(net, content, [style], precision="float32")
        assert palette_distance(out, style) < 0.5 * palette_distance(content, style)
        outs.append(out)
    assert float(outs[0][:, 0].mean() - outs[1][:, 0].mean()) > 0.2  # the red painting's is redder


def test_universal_training_resumes_and_checks_its_levels(tmp_path, photo_dir, style_dir):
    with pytest.raises(InputError, match="levels"):
        UniversalTrainConfig(levels=(5,))
    config = UniversalTrainConfig(size=32, steps=4, batch=2, levels=(2, 1), checkpoint_every=2, precision="float32")
    out = tmp_path / "w.safetensors"
    train_universal(photo_dir, style_dir, out, replace(config, steps=2))
    resumed = []
    net = train_universal(photo_dir, style_dir, out, config, resume=True, callback=resumed.append)
    assert [e.step for e in resumed] == [3, 4] and set(resumed[0].losses) == {"total", "pixel2", "pixel1"}
    assert sorted(net.decoders) == ["1", "2"]
    with pytest.raises(InputError, match="other settings"):
        train_universal(photo_dir, style_dir, out, replace(config, levels=(1,)), resume=True)
    # one level trained further from a trained network: the other comes along untouched
    further = train_universal(photo_dir, style_dir, tmp_path / "f.safetensors", replace(config, levels=(1,), steps=2),
                              start_from=net)
    assert sorted(further.decoders) == ["1", "2"]
    assert all(torch.equal(a, b) for a, b in zip(further.decoders["2"].parameters(), net.decoders["2"].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(further.decoders["1"].parameters(), net.decoders["1"].parameters()))


def test_wct_levels_choose_which_decoders_run(tmp_path, shipped, image_files, capsys):
    torch.manual_seed(8)
    net = UniversalNet(width=0.1).eval()
    content, style = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 32, 32)
    assert net.run_levels() == WCT_RUN_LEVELS and net.run_levels([1, 4]) == (4, 1)
    fine = net(content, [style], levels=[1])
    assert torch.allclose(fine, net.decode(wct(net.encode(content, 1)["relu1_1"], net.encode(style, 1)["relu1_1"]), 1, content),
                          atol=1e-5)
    assert not torch.allclose(net(content, [style]), fine, atol=1e-3)
    with pytest.raises(InputError, match="has levels 1"):
        UniversalNet(width=0.1, levels=(1,)).run_levels([2])
    with pytest.raises(InputError, match="WCT models only"):
        arbitrary_stylize(AdaINNet(Decoder(width=0.1)), content, [style], levels=[1])
    c, s = image_files
    out = tmp_path / "w.png"
    assert main(["adain", str(c), str(s), "--model", "wct", "--levels", "2", "1", "--keep-layout", "1", "--size", "40",
                 "-o", str(out)]) == 0
    assert read_metadata(out)["levels"] == [2, 1] and read_metadata(out)["keep_layout"] == 1.0
    assert main(["adain", str(c), str(s), "--model", "wct", "--levels", "5", "-o", str(tmp_path / "x.png")]) == 2
    assert "levels" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_level_schedule_runs_coarse_levels_at_the_reference_size():
    assert level_schedule((4, 3, 2, 1, 0), 8192, 1024) == [(1024, (4, 3)), (2048, (2,)), (4096, (1,)), (8192, (0,))]
    assert level_schedule((4, 3, 2, 1, 0), 2048, 1024) == [(1024, (4, 3)), (2048, (2, 1, 0))]
    assert level_schedule((4, 3, 2, 1, 0), 1024, 1024) == [(1024, (4, 3, 2, 1, 0))]
    assert level_schedule((3, 2, 1, 0), 8192, 0) == [(8192, (3, 2, 1, 0))]
    assert level_schedule((2, 0), 8192, 1024) == [(2048, (2,)), (8192, (0,))]


def test_finer_levels_start_from_the_photo_s_detail():
    """The band a smaller pass could not hold is the photo's: a picture that is the photo in
    small comes back as the photo."""
    content = torch.rand(1, 3, 40, 64)
    assert torch.allclose(_with_detail(resize(content, (10, 16)), content, (40, 64)), content, atol=1e-5)


def test_reference_size_keeps_a_large_output_looking_like_its_preview():
    """The shipped WCT model on a photo at 256 px with the coarse levels at 128 px looks like
    its 128 px preview (compared at 128 px); every level at 256 px paints smaller marks and
    differs much more."""
    net = load_model("wct", expect="arbitrary").network
    photo, painting = (load_image(f"sample:{name}", long_side=side) for name, side in (("chelsea", 256), ("strokes", 128)))
    photo, painting = resize(photo, fit_long_side(*photo.shape[-2:], 256)), resize(painting, (128, 128))
    preview = arbitrary_stylize(net, resize(photo, (photo.shape[-2] // 2, photo.shape[-1] // 2)), [painting],
                                reference_size=0)
    differences = {}
    for reference in (0, 128):
        large = arbitrary_stylize(net, photo, [painting], reference_size=reference)
        assert large.shape == photo.shape
        differences[reference] = float((resize(large, tuple(preview.shape[-2:])) - preview).abs().mean())
    assert differences[128] < 0.6 * differences[0], differences
