"""Input and output paths: folders expanded, outputs never onto inputs, names that never collide.

Every command that writes files asks here, before any work, whether its outputs are safe:
an output may never be one of the inputs (compared as files, so symbolic links, hard links
and case-insensitive file systems are caught), a name the user did not type (a folder's
outputs, ``--save-every`` steps) never replaces an existing file unless asked to, and two
inputs never write to one output name.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from brushwork.errors import InputError
from brushwork.media.image_io import IMAGE_SUFFIXES, SAMPLE_PREFIX


@dataclass(frozen=True)
class InputFile:
    """An input image and the path its outputs keep: relative to the folder it was found in."""

    path: Path
    relative: Path


def names_folder(text: str | Path) -> bool:
    """True when the user's text ends in a path separator: ``out/`` means a folder, always."""
    text = str(text)
    return text.endswith(("/", os.sep)) or (os.altsep is not None and text.endswith(os.altsep))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths are one file: the same inode (hard links, symbolic links,
    ``P.JPG`` against ``p.jpg`` on a case-insensitive disk) or the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def file_inputs(sources: Iterable[str | Path | None]) -> list[Path]:
    """The sources that are files on disk (built-in samples and ``None`` dropped)."""
    return [Path(s) for s in sources if s is not None and not str(s).startswith(SAMPLE_PREFIX) and Path(s).exists()]


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None], what: str = "output") -> None:
    """Refuse an output that is one of the inputs: writing it would destroy that input."""
    for source in file_inputs(inputs):
        if same_file(output, source):
            raise InputError(f"{what} {str(output)!r} is the input {str(source)!r}; writing it would destroy "
                             f"that input, so choose another name")


def check_new(paths: Sequence[Path], *, overwrite: bool, flag: str = "--overwrite") -> None:
    """Refuse to replace existing files whose names the user did not give, unless ``overwrite``."""
    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"{str(existing[0])!r}{more} already exists; pass {flag} to replace it")


def expand_inputs(items: Sequence[str | Path], *, role: str = "input") -> list[InputFile]:
    """Files as given; folders searched recursively for images; glob patterns expanded.

    Each file keeps the path below the folder it was found in, so that ``a/photo.jpg`` and
    ``b/photo.jpg`` found in ``.`` give ``a/photo`` and ``b/photo``.
    """
    found: list[InputFile] = []
    for item in items:
        text = str(item)
        if text.startswith(SAMPLE_PREFIX):
            found.append(InputFile(Path(text), Path(text[len(SAMPLE_PREFIX):])))
            continue
        path = Path(text)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not images:
                raise InputError(f"{role} folder {text!r} has no images")
            found += [InputFile(p, p.relative_to(path)) for p in images]
        elif not path.exists() and glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"{role} pattern {text!r} matches no files")
            found += [InputFile(p, Path(p.name)) for p in matches]
        else:
            found.append(InputFile(path, Path(path.name)))
    return found


def folder_outputs(inputs: Sequence[InputFile], folder: Path, suffix: str = ".png") -> list[Path]:
    """One distinct output path per input in ``folder``, keeping each input's relative path.

    Inputs that would share a name keep their extension in it (``photo.jpg.png``), then get
    a number (``photo-2.png``). Names that differ only by case count as the same, since they
    are the same file on some disks.
    """
    taken: set[str] = set()
    outputs: list[Path] = []
    for item in inputs:
        plain = item.relative.with_suffix(suffix)
        candidates = [plain, item.relative.with_name(item.relative.name + suffix)]
        candidates += [plain.with_name(f"{plain.stem}-{n}{suffix}") for n in range(2, len(inputs) + 2)]
        chosen = next(c for c in candidates if str(c).lower() not in taken)
        taken.add(str(chosen).lower())
        outputs.append(folder / chosen)
    return outputs
