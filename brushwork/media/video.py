"""Reading and writing video through PyAV (FFmpeg in its wheels; nothing else to install).

Frames come out upright (the stream's rotation applied) as (1, 3, H, W) tensors in [0, 1]
with their own timestamps; :class:`VideoWriter` writes them back with exactly those
timestamps (so variable frame rates, the duration and the frame count survive) and copies
the input's audio track unchanged where the container takes its codec. Odd sizes, which
H.264 cannot encode, are padded by one repeated edge pixel rather than scaled, so the
aspect ratio never changes; the padding is recorded in the file's metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from brushwork.errors import InputError
from brushwork.media.image_io import fit_long_side, resize

CONTAINERS = {".mp4": ("mp4", "libx264", "aac"), ".mov": ("mov", "libx264", "aac"), ".mkv": ("matroska", "libx264", None),
              ".webm": ("webm", "libvpx-vp9", "libopus"), ".gif": ("gif", "gif", None)}
"""Output extension -> (container, video codec, audio codec to re-encode to when the input's
cannot be copied; None: any codec is copied as it is)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as a viewer shows it (width and height after rotation)."""

    width: int
    height: int
    frames: int
    fps: float
    duration: float
    time_base: Fraction
    has_audio: bool
    rotation: int
    codec: str


@dataclass
class Frame:
    index: int
    pts: int
    """Timestamp in the stream's time base (as decoded; the first frame need not be 0)."""
    time: float
    image: Tensor


def _open(path: str | Path, role: str):
    import av

    path = Path(path)
    if not path.exists():
        raise InputError(f"{role} {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"{role} {str(path)!r} is a directory, not a video file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{role} {str(path)!r} is not a video Brushwork can read ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{role} {str(path)!r} has no video stream")
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        kind = container.format.name.removesuffix("_pipe")
        container.close()
        raise InputError(f"{role} {str(path)!r} is a still image ({kind}), not a video; stylize it with brushwork transfer")
    return container


def _reason(exc: Exception) -> str:
    text = str(exc).split(":", 1)[-1].strip() if ":" in str(exc) else str(exc)
    return text or type(exc).__name__


def probe(path: str | Path, role: str = "video") -> VideoInfo:
    """Count the frames by decoding them (headers lie, and the last frames come only when the
    decoder is flushed); width, height and rotation as shown."""
    frames, first, last, rotation, size = 0, None, None, 0, None
    with contextlib.closing(_open(path, role)) as container:
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
        time_base = stream.time_base or Fraction(1, 1000)
        try:
            for frame in container.decode(stream):
                frames += 1
                rotation = int(round(getattr(frame, "rotation", 0) or 0))
                size = (frame.width, frame.height)
                pts = frame.pts if frame.pts is not None else frames - 1
                first = pts if first is None else first
                last = pts
        except Exception as exc:  # noqa: BLE001 - a truncated file still has the frames read so far
            if frames == 0:
                raise InputError(f"{role} {str(path)!r} cannot be decoded ({_reason(exc)})") from None
    if frames == 0 or size is None:
        raise InputError(f"{role} {str(path)!r} has no frames")
    width, height = size if rotation % 180 == 0 else size[::-1]
    span = float((last - first) * time_base) if frames > 1 else 0.0
    fps = (frames - 1) / span if span > 0 else float(stream.average_rate or 25)
    return VideoInfo(width, height, frames, fps, span + 1 / fps, time_base, has_audio, rotation, codec)


def _upright(array: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display rotation (FFmpeg's convention: the angle is counterclockwise)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


def read_frames(path: str | Path, *, start: float = 0.0, duration: float | None = None, long_side: int | None = None,
                role: str = "video") -> Iterator[Frame]:
    """Every frame from ``start`` seconds for ``duration`` seconds, upright, resized so the
    long side is ``long_side`` (if given). The decoder is flushed, so no last frame is lost.

    A file that breaks off mid-way raises :class:`TruncatedVideo` after the frames that could
    be read (``.frames_read`` says how many)."""
    index = 0
    with contextlib.closing(_open(path, role)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1000)
        first_time = None
        try:
            for decoded in container.decode(stream):
                pts = decoded.pts if decoded.pts is not None else index
                time = float(pts * time_base)
                first_time = time if first_time is None else first_time
                relative = time - first_time
                if relative < start - 1e-9:
                    continue
                if duration is not None and relative >= start + duration - 1e-9:
                    break
                array = _upright(decoded.to_ndarray(format="rgb24"), int(round(getattr(decoded, "rotation", 0) or 0)))
                image = torch.from_numpy(array).permute(2, 0, 1)[None].float().div_(255)
                if long_side is not None:
                    image = resize(image, fit_long_side(*image.shape[-2:], long_side))
                yield Frame(index, pts, time, image)
                index += 1
        except Exception as exc:  # noqa: BLE001 - FFmpeg's errors for broken files come in many types
            if isinstance(exc, (InputError, GeneratorExit)):
                raise
            raise TruncatedVideo(f"{role} {str(path)!r} breaks off after {index} frames ({_reason(exc)})", index) from None
        if index and duration is None:
            _check_complete(container, stream, time_base, first_time, time, index, path, role)
    if index == 0:
        raise InputError(f"{role} {str(path)!r} has no frames" + (f" from {start:g} s" if start else ""))


def _check_complete(container, stream, time_base, first: float, last: float, count: int, path, role: str) -> None:
    """A file whose frames stop well before the duration it declares was cut short (a broken
    download, a full disk): FFmpeg reads such a file to where it ends without an error."""
    if stream.duration is not None:
        declared, slack = float(stream.duration * time_base), 0.0
    elif container.duration is not None:
        declared = container.duration / 1_000_000
        slack = 1.0 if container.streams.audio else 0.0  # the sound may outlast the picture a little
    else:
        return
    step = (last - first) / (count - 1) if count > 1 else 0.04
    if last - first + step < declared - max(3 * step, 0.2) - slack:
        raise TruncatedVideo(f"{role} {str(path)!r} breaks off after {count} frames ({last - first + step:.2f} s of "
                             f"the {declared:.2f} s it declares)", count)


class TruncatedVideo(InputError):
    """A video that could be read only in part; the frames before the break were yielded."""

    def __init__(self, message: str, frames_read: int) -> None:
        super().__init__(message)
        self.frames_read = frames_read


def check_video_output(path: str | Path) -> tuple[str, Path]:
    """(kind, path) of an output: ``frames`` for a folder of PNGs (a name ending in ``/`` or
    without an extension), else the container its extension names."""
    text = str(path)
    path = Path(path)
    if text.endswith(("/", os.sep)) or not path.suffix:
        if path.exists() and not path.is_dir():
            raise InputError(f"output {text!r} is a file; a folder of frames needs a folder")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"output folder {str(parent)!r} does not exist")
        return "frames", path
    if path.suffix.lower() not in CONTAINERS:
        raise InputError(f"output {text!r} has an unsupported extension; use one of "
                         f"{', '.join(CONTAINERS)} or a folder (ending in /) for PNG frames")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder {str(parent)!r} is not writable")
    return CONTAINERS[path.suffix.lower()][0], path


class VideoWriter:
    """Write frames at given timestamps; copy (or re-encode) the source's audio; rename into
    place only when :meth:`close` completes (an interrupted write leaves no partial file)."""

    def __init__(self, path: str | Path, *, time_base: Fraction, fps: float, audio_from: str | Path | None = None,
                 audio_start: float = 0.0, audio_end: float | None = None, metadata: dict | None = None,
                 crf: int = 18) -> None:
        import av

        self.kind, self.path = check_video_output(path)
        self.time_base, self.fps, self.crf = time_base, fps, crf
        self.audio_from, self.audio_start, self.audio_end = audio_from, audio_start, audio_end
        self.metadata = dict(metadata or {})
        self.first_pts: int | None = None
        self.frames = 0
        self.pad = (0, 0)
        self.stream = None
        self.container = None
        self.audio = None
        self.times: list[float] = []
        if self.kind == "frames":
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent if str(self.path.parent) else "."))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent or ".")
            os.close(fd)
            self.tmp = Path(name)
            self.container = av.open(str(self.tmp), mode="w", format=self.kind)

    def _open_stream(self, width: int, height: int) -> None:
        _, codec, _ = CONTAINERS[self.path.suffix.lower()]
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self.container.add_stream(codec, rate=rate)
        if codec == "gif":
            stream.pix_fmt = "rgb8"
        else:
            stream.pix_fmt = "yuv420p"
            # H.264 and VP9 in 4:2:0 need even sizes: one repeated edge pixel, never a scale
            self.pad = (width % 2, height % 2)
            stream.options = {"crf": str(self.crf)} if codec == "libx264" else {"crf": str(self.crf + 12), "b": "0"}
        stream.width, stream.height = width + self.pad[0], height + self.pad[1]
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        self.stream = stream
        if self.audio_from is not None and self.kind != "gif":
            self._add_audio_stream()  # every stream before the first packet: the header is written then
        audio = None if self.audio is None else ("copied" if self.audio[3] else f"re-encoded as {self.audio[4]}")
        self.metadata.update({"padded": list(self.pad), "audio": audio})
        self.container.metadata["comment"] = json.dumps(self.metadata, sort_keys=True, default=str)

    def write(self, image: Tensor, pts: int) -> None:
        """Add a frame, (1, 3, H, W) in [0, 1], at ``pts`` in the source's time base."""
        import av

        self.first_pts = pts if self.first_pts is None else self.first_pts
        array = (image[0].detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        self.times.append(float((pts - self.first_pts) * self.time_base))
        if self.kind == "frames":
            from PIL import Image

            Image.fromarray(array).save(self.tmp / f"frame{self.frames:06d}.png")
            self.frames += 1
            return
        if self.stream is None:
            self._open_stream(array.shape[1], array.shape[0])
        if any(self.pad):
            array = np.pad(array, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        frame.pts = pts - self.first_pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder, copy the audio, and move the file into place."""
        if self.frames == 0:
            self.abort()
            raise InputError("no frames to write")
        if self.kind == "frames":
            (self.tmp / "timestamps.json").write_text(json.dumps({"seconds": self.times, **self.metadata}, default=str))
            if not self.path.exists():
                os.replace(self.tmp, self.path)
                return self.path
            for old in self.path.glob("frame*.png"):  # an earlier run's frames: replaced, not mixed in
                old.unlink()
            for item in self.tmp.iterdir():
                os.replace(item, self.path / item.name)
            self.tmp.rmdir()
            return self.path
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        if self.audio is not None:
            self._copy_audio()
        self.container.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)
        return self.path

    def _add_audio_stream(self) -> None:
        import av

        source = av.open(str(self.audio_from))
        if not source.streams.audio:
            source.close()
            return
        audio = source.streams.audio[0]
        _, _, fallback = CONTAINERS[self.path.suffix.lower()]
        copy = fallback is None or audio.codec_context.name == fallback.removeprefix("lib") or (
            fallback == "aac" and audio.codec_context.name in ("aac", "mp3", "alac"))
        if copy:
            out = self.container.add_stream_from_template(audio)
            out.time_base = audio.time_base  # unset, the muxer divides by zero rescaling timestamps
        else:
            out = self.container.add_stream(fallback, rate=48000 if fallback == "libopus" else audio.rate)
        self.audio = (source, audio, out, copy, fallback)

    def _copy_audio(self) -> None:
        source, audio, out, copy, fallback = self.audio
        with contextlib.closing(source):
            # Timestamps stay as they were (an AAC stream's priming packet before 0 included),
            # shifted only by the start of a range that was cut out.
            offset = int(round(self.audio_start / audio.time_base)) if audio.time_base else 0
            for packet in source.demux(audio):
                if packet.dts is None or packet.pts is None:
                    continue
                time = float(packet.pts * audio.time_base)
                if self.audio_start > 0 and time < self.audio_start - 1e-6:
                    continue
                if self.audio_end is not None and time >= self.audio_end - 1e-6:
                    break
                if copy:
                    packet.pts -= offset
                    packet.dts -= offset
                    packet.stream = out
                    self.container.mux(packet)
                else:
                    for decoded in packet.decode():
                        decoded.pts = None
                        for encoded in out.encode(decoded):
                            self.container.mux(encoded)
            if not copy:
                for encoded in out.encode(None):
                    self.container.mux(encoded)

    def abort(self) -> None:
        """Remove the partial output (an error or Ctrl-C before :meth:`close`)."""
        with contextlib.suppress(Exception):
            if self.container is not None:
                self.container.close()
        if self.kind == "frames":
            for f in self.tmp.glob("*"):
                f.unlink()
            with contextlib.suppress(OSError):
                self.tmp.rmdir()
        else:
            self.tmp.unlink(missing_ok=True)


def video_metadata(path: str | Path) -> dict:
    """The metadata :class:`VideoWriter` embedded (``{}`` if none)."""
    with contextlib.closing(_open(path, "video")) as container:
        text = container.metadata.get("comment")
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}
