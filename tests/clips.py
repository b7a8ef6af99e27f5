"""Small clips the video tests make themselves: a bright bar moving over a dark field, with
an optional sine tone, at a fixed or variable frame rate."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def moving_bar(t: int, size: tuple[int, int], speed: int = 3) -> np.ndarray:
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, :] = (40, 60, 90)
    yy, xx = np.mgrid[0:height, 0:width]
    frame[..., 1] = (60 + 40 * np.sin(xx / 5.0 + yy / 7.0)).astype(np.uint8)  # texture for the flow to follow
    left = (4 + speed * t) % width
    frame[height // 5: height // 2, left:min(width, left + 10)] = (250, 200, 40)
    return frame


def make_clip(path: Path, *, frames: int = 12, size: tuple[int, int] = (66, 48), fps: int = 10, vfr: bool = False,
              audio: bool = True, codec: str = "libx264", rotation: int = 0) -> list[float]:
    """Write a clip; return its frames' times in seconds. ``rotation``: a display rotation
    (degrees counterclockwise) stored in the stream, as phones record portrait video."""
    import av

    out = av.open(str(path), "w")
    video = out.add_stream(codec, rate=fps)
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    if rotation:
        video.set_display_rotation(rotation)
    tb = Fraction(1, 1000)
    video.time_base = tb
    video.codec_context.time_base = tb
    tone = None
    if audio:
        tone = out.add_stream("aac", rate=16000)
        tone.layout = "mono"
    t, times = 0, []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(moving_bar(i, size), format="rgb24")
        frame.pts, frame.time_base = t, tb
        times.append(t / 1000)
        for packet in video.encode(frame):
            out.mux(packet)
        t += (1000 // fps) * (2 if vfr and i % 3 == 0 else 1)
    for packet in video.encode(None):
        out.mux(packet)
    if tone is not None:
        samples = int(16000 * t / 1000)
        signal = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(signal[None, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, start
            for packet in tone.encode(chunk):
                out.mux(packet)
        for packet in tone.encode(None):
            out.mux(packet)
    out.close()
    return times
