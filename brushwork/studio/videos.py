"""Uploaded clips of the web studio: checked against the server's caps, kept by content hash.

    DATA/videos/ID.video   the upload as it came (FFmpeg reads the container from the bytes)
    DATA/videos/ID.jpg     its first frame, upright, for the page to show
    DATA/videos/ID.name    the file name it came with, as a label

A clip is probed in full before it is kept (frames counted by decoding, as the video
command does), so that a job never starts on a file that is not a video, is too long, or
has frames larger than the server allows.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from brushwork.errors import ImageTooLarge, InputError
from brushwork.media.image_io import atomic_write, tensor_to_pil
from brushwork.media.video import VideoInfo, probe, read_frames

_VIDEO_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class VideoCaps:
    """What one uploaded clip may be: bytes, seconds, and pixels per frame."""

    max_bytes: int
    max_seconds: float
    max_pixels: int


class VideoStore:
    """Clips under ``DATA/videos``, addressed by the SHA-256 of the upload."""

    def __init__(self, root: Path, caps: VideoCaps) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.caps = caps

    def add(self, data: bytes, name: str | None = None) -> tuple[str, VideoInfo]:
        """Probe the upload and keep it if the caps allow; its id and description."""
        if len(data) > self.caps.max_bytes:
            raise ImageTooLarge(f"upload is {len(data):,} bytes; the limit for a clip is {self.caps.max_bytes:,}")
        if not data:
            raise InputError("upload is empty")
        video_id = hashlib.sha256(data).hexdigest()
        fd, temporary = tempfile.mkstemp(prefix=".upload.", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            info = probe(temporary, "upload")
            if info.duration > self.caps.max_seconds + 1e-6:
                raise InputError(f"clip is {info.duration:.1f} s long; this server takes clips up to "
                                 f"{self.caps.max_seconds:g} s (trim it, or start the server with a larger --max-video-seconds)")
            if info.width * info.height > self.caps.max_pixels:
                raise InputError(f"clip frames are {info.width}x{info.height} ({info.width * info.height:,} pixels); "
                                 f"this server takes up to {self.caps.max_pixels:,} pixels per frame")
            first = next(read_frames(temporary, role="upload")).image
            with atomic_write(self.root / f"{video_id}.jpg") as handle:
                tensor_to_pil(first).save(handle, format="JPEG", quality=85)
            os.replace(temporary, self.root / f"{video_id}.video")
        finally:
            Path(temporary).unlink(missing_ok=True)
        label = clean_name(name)
        if label:
            with atomic_write(self.root / f"{video_id}.name") as handle:
                handle.write(label.encode())
        return video_id, info

    def path(self, ref: str) -> Path:
        """The file of an uploaded clip; only well-formed ids ever reach the file system."""
        if not _VIDEO_ID.fullmatch(ref or ""):
            raise InputError(f"no video {ref!r}")
        path = self.root / f"{ref}.video"
        if not path.is_file():
            raise InputError(f"no video {ref!r}")
        return path

    def poster(self, ref: str) -> Path:
        return self.path(ref).with_suffix(".jpg")

    def name(self, ref: str) -> str:
        label = self.root / f"{ref}.name"
        return label.read_text(errors="replace") if _VIDEO_ID.fullmatch(ref) and label.is_file() else f"clip {ref[:6]}"


def clean_name(name: str | None) -> str:
    """An upload's file name as a label: its last part only, printable, at most 100 characters."""
    if not name:
        return ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:100].strip()
