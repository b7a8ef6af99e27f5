"""Video in and out: frames, timestamps and sound kept; odd sizes; bad files."""

from __future__ import annotations

import av
import pytest
import torch

from brushwork.errors import InputError
from brushwork.media.video import TruncatedVideo, VideoWriter, check_video_output, probe, read_frames, video_metadata

from clips import make_clip


def audio_packets(path):
    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


def rewrite(source, target, **kwargs):
    info = probe(source)
    writer = VideoWriter(target, time_base=info.time_base, fps=info.fps, audio_from=source, **kwargs)
    for frame in read_frames(source):
        writer.write(frame.image.flip(-1), frame.pts)
    return writer.close()


@pytest.mark.parametrize("vfr", [False, True], ids=["constant", "variable"])
def test_frames_timestamps_and_sound_survive(tmp_path, vfr):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    times = make_clip(source, vfr=vfr)
    rewrite(source, target, metadata={"note": "test"})
    assert [round(f.time - times[0], 3) for f in read_frames(target)] == [round(t - times[0], 3) for t in times]
    before, after = probe(source), probe(target)
    assert after.frames == before.frames == len(times) and abs(after.duration - before.duration) < 1e-6
    assert audio_packets(target) == audio_packets(source)  # the sound, packet for packet
    meta = video_metadata(target)
    assert meta["note"] == "test" and meta["audio"] == "copied" and meta["padded"] == [0, 0]


def test_odd_sizes_are_padded_not_scaled(tmp_path):
    source, target = tmp_path / "in.mkv", tmp_path / "out.mp4"
    make_clip(source, size=(64, 48), audio=False)
    info = probe(source)
    writer = VideoWriter(target, time_base=info.time_base, fps=info.fps)
    for frame in read_frames(source):
        writer.write(frame.image[..., :47, :63], frame.pts)  # 63 x 47: odd both ways
    writer.close()
    out = probe(target)
    assert (out.width, out.height) == (64, 48) and video_metadata(target)["padded"] == [1, 1]
    first = next(read_frames(target)).image
    assert torch.allclose(first[..., -1, :], first[..., -2, :], atol=0.08)  # the repeated edge, not a black line


@pytest.mark.parametrize("rotation", [90, -90])
def test_a_rotation_flag_gives_upright_frames(tmp_path, rotation):
    source = tmp_path / "portrait.mp4"
    make_clip(source, frames=3, size=(64, 32), audio=False, rotation=rotation)
    info = probe(source)
    assert (info.width, info.height, info.rotation) == (32, 64, rotation)
    first = next(read_frames(source)).image
    assert first.shape[-2:] == (64, 32)
    # the bar (yellow: red high, blue low) starts near the stored frame's left edge; turned a
    # quarter counterclockwise that edge is the bottom, clockwise the top
    bar = (first[0, 0] - first[0, 2] > 0.5).float().mean(1)
    rows = bar.nonzero().flatten()
    assert (rows.min() > 40) if rotation == 90 else (rows.max() < 24)


def test_a_range_and_a_size(tmp_path):
    source = tmp_path / "in.mp4"
    times = make_clip(source, frames=20, fps=10)
    frames = list(read_frames(source, start=0.5, duration=0.6, long_side=32))
    assert [round(f.time - times[0], 2) for f in frames] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert max(frames[0].image.shape[-2:]) == 32


def test_frames_folder_and_gif(tmp_path):
    source = tmp_path / "in.mp4"
    make_clip(source, frames=5)
    folder = rewrite(source, f"{tmp_path / 'frames'}/")
    assert sorted(p.name for p in folder.iterdir()) == [f"frame{i:06d}.png" for i in range(5)] + ["timestamps.json"]
    gif = rewrite(source, tmp_path / "out.gif")
    with av.open(str(gif)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


@pytest.mark.parametrize("kind", ["text", "image", "audio-only", "no frames", "empty", "missing"])
def test_bad_inputs_name_the_problem(tmp_path, kind):
    path = tmp_path / "clip.mp4"
    if kind == "text":
        path.write_text("not a video")
    elif kind == "image":
        from PIL import Image

        Image.new("RGB", (8, 8)).save(path.with_suffix(".png"))
        path = path.with_suffix(".png")
    elif kind == "audio-only":
        with av.open(str(path), "w") as out:
            stream = out.add_stream("aac", rate=16000)
            stream.layout = "mono"
            for packet in stream.encode(None):
                out.mux(packet)
    elif kind == "no frames":  # a video stream with nothing in it
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for packet in stream.encode(None):
                out.mux(packet)
    elif kind == "empty":
        path.write_bytes(b"")
    with pytest.raises(InputError) as error:
        list(read_frames(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_truncated_file_gives_the_frames_it_has(tmp_path):
    source = tmp_path / "in.mkv"
    make_clip(source, frames=40, size=(96, 64), audio=False)
    data = source.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    read = []
    try:
        for frame in read_frames(cut):
            read.append(frame)
    except TruncatedVideo as exc:
        assert exc.frames_read == len(read)
    assert 10 < len(read) < 40


def test_unusable_outputs_are_refused(tmp_path):
    with pytest.raises(InputError, match="unsupported extension"):
        check_video_output(tmp_path / "out.avi")
    with pytest.raises(InputError, match="does not exist"):
        check_video_output(tmp_path / "no" / "out.mp4")
    assert check_video_output(f"{tmp_path}/frames/")[0] == "frames"
