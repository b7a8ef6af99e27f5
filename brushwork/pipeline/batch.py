"""Batch work: every content with every style (or listed pairs) into a folder.

A batch is a list of :class:`BatchItem`; :func:`run_batch` hands each to a
:class:`~brushwork.pipeline.runner.Runner` (styles are prepared once and kept), and keeps a manifest,
``OUT/manifest.jsonl``, with one line per output: inputs, parameters, seconds, the
``brushwork score`` figures, status and error. It is resumable: an output that exists with
the same parameters (read back from its own metadata) is skipped, so a batch stopped by
Ctrl-C, a kill or a power cut finishes the rest when run again and redoes nothing. One
failing input is recorded with its one-line reason and the batch goes on.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from brushwork.engine.devices import release_memory
from brushwork.errors import BrushworkError, InputError
from brushwork.media.image_io import atomic_write, load_image, read_metadata
from brushwork.engine.metrics import score
from brushwork.engine.optimize import ProgressCallback
from brushwork.media.paths import InputFile, check_not_input, expand_inputs, folder_outputs
from brushwork.pipeline.runner import Runner, TransferRequest

MANIFEST = "manifest.jsonl"
Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchItem:
    """One output of a batch: a content, a style, and where the result goes."""

    content: str
    style: str
    output: Path


@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.done} done, {self.skipped} skipped, {self.failed} failed"


def _style_label(style: str) -> str:
    return style.split(":", 1)[1] if style.startswith("sample:") else Path(style).stem


def plan_batch(contents: Sequence[str], styles: Sequence[str], out_dir: Path, *,
               pairs: str | Path | None = None) -> list[BatchItem]:
    """Every content (files, folders searched recursively, glob patterns) with every style,
    or the pairs of a CSV file (``content,style`` per line, a header line allowed, paths
    relative to the CSV's folder). Outputs keep each content's path below its folder and
    add the style's name: ``a/photo.jpg`` with ``starry.jpg`` gives ``OUT/a/photo__starry.png``.
    """
    if pairs is not None:
        listed = _read_pairs(Path(pairs))
        inputs = [(InputFile(Path(c), Path(Path(c).name)), s) for c, s in listed]
    else:
        if not contents or not styles:
            raise InputError("a batch needs at least one content and one style")
        found = expand_inputs(contents, role="content")
        style_files = [str(f.path) for f in expand_inputs(styles, role="style")]
        inputs = [(item, style) for style in style_files for item in found]  # style by style: each prepared once
    named = [InputFile(item.path, item.relative.with_name(f"{item.relative.stem}__{_style_label(style)}{item.relative.suffix}"))
             for item, style in inputs]
    outputs = folder_outputs(named, out_dir)
    every_input = [str(item.path) for item, _ in inputs] + [style for _, style in inputs]
    for output in outputs:
        check_not_input(output, every_input)
    return [BatchItem(str(item.path), style, output) for (item, style), output in zip(inputs, outputs)]


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise InputError(f"pairs file {str(path)!r} does not exist")
    try:
        rows = [row for row in csv.reader(path.read_text().splitlines()) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"pairs file {str(path)!r} cannot be read ({exc})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["content", "style"]:
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, 1):
        if len(row) < 2:
            raise InputError(f"pairs file {str(path)!r}, line {number}: expected 'content,style'")
        content, style = (cell.strip() for cell in row[:2])
        pairs.append(tuple(p if p.startswith("sample:") or Path(p).is_absolute() else str(path.parent / p)
                           for p in (content, style)))
    if not pairs:
        raise InputError(f"pairs file {str(path)!r} lists no pairs")
    return pairs  # type: ignore[return-value]


def check_resumable(items: Sequence[BatchItem], requests: Sequence[TransferRequest], *, force: bool) -> list[bool]:
    """Which items are already done (an output with the same parameters). An output that
    exists with other parameters stops the batch before it writes anything, unless ``force``."""
    done, conflicts = [], []
    for item, request in zip(items, requests):
        same = False
        if item.output.exists() and not force:
            try:
                same = read_metadata(item.output).get("parameters") == request.parameters()
            except Exception:  # an unreadable earlier output is simply redone
                same = False
            if not same:
                conflicts.append(item.output)
        done.append(same)
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InputError(f"{str(conflicts[0])!r}{more} exists with other parameters; pass --force to recompute")
    return done


Pending = tuple[int, TransferRequest, dict[str, Any]]
"""An item to run: its index in the batch, its request, and its manifest line so far."""
Executor = Callable[[Sequence[Pending]], Iterator[tuple[int, dict[str, Any]]]]
"""Runs pending items and yields (index, manifest line) as each finishes, in any order:
one after another here (:func:`local_executor`), or on a Ray cluster
(:mod:`brushwork.pipeline.cluster`)."""


def local_executor(runner: Runner | None = None, *, scores: bool = True,
                   callback: ProgressCallback | None = None) -> Executor:
    """Items one after another in this process, with one :class:`Runner` (styles prepared once)."""
    runner = runner or Runner()

    def execute(pending: Sequence[Pending]) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, request, base in pending:
            line = run_item(runner, request, base, scores, callback)
            release_memory()
            yield index, line

    return execute


def run_batch(
    items: Sequence[BatchItem],
    make_request: Callable[[BatchItem], TransferRequest],
    manifest: Path,
    *,
    force: bool = False,
    scores: bool = True,
    runner: Runner | None = None,
    on_item: Callable[[int, BatchItem, dict[str, Any]], None] | None = None,
    callback: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> BatchSummary:
    """Run every item not already done; ``on_item(index, item, line)`` after each one.

    ``make_request`` builds an item's request (its output set); the manifest is rewritten
    atomically after every item, so that it is complete whenever the batch stops.
    ``executor`` runs the items (default: :func:`local_executor` with ``runner``, ``scores``
    and ``callback``); whichever runs them, skipping, the manifest and the summary are these.
    """
    executor = executor or local_executor(runner, scores=scores, callback=callback)
    requests = [make_request(item) for item in items]
    already = check_resumable(items, requests, force=force)
    earlier = _read_manifest(manifest)
    summary = BatchSummary()
    lines: dict[str, dict[str, Any]] = {}
    pending: list[Pending] = []

    def record(index: int, line: dict[str, Any]) -> None:
        item = items[index]
        lines[str(item.output)] = line
        setattr(summary, line["status"], getattr(summary, line["status"]) + 1)
        _write_manifest(manifest, [lines.get(str(i.output), earlier.get(str(i.output))) for i in items])
        if on_item is not None:
            on_item(index, item, line)

    for index, (item, request, skip) in enumerate(zip(items, requests, already)):
        base = {"content": item.content, "style": item.style, "output": str(item.output), "method": request.method,
                "seed": request.config.seed, "parameters": request.parameters()}
        if skip:
            record(index, {**earlier.get(str(item.output), {}), **base, "status": "skipped"})
        else:
            pending.append((index, request, base))
    for index, line in executor(pending):
        record(index, line)
    summary.lines = [lines[str(i.output)] for i in items]
    return summary


def run_item(runner: Runner, request: TransferRequest, base: dict[str, Any], scores: bool,
             callback: ProgressCallback | None = None) -> dict[str, Any]:
    """Run one request; its manifest line (``base`` with status, seconds, scores, error)."""
    start = time.perf_counter()
    try:
        request.output.parent.mkdir(parents=True, exist_ok=True)
        result = runner.run(request, callback=callback)
        figures = None
        if scores:
            size = request.config.size
            figures = {k: round(v, 5) for k, v in score(
                result.image, load_image(request.content, "content image", long_side=size),
                load_image(request.styles[0], "style image", long_side=size)).as_dict().items()}
        return {**base, "status": "done", "seconds": round(time.perf_counter() - start, 2), "scores": figures,
                "error": None}
    except BrushworkError as exc:
        return {**base, "status": "failed", "seconds": round(time.perf_counter() - start, 2), "scores": None,
                "error": str(exc)}
    except OSError as exc:  # a disk that filled up, a folder that vanished
        return {**base, "status": "failed", "seconds": round(time.perf_counter() - start, 2), "scores": None,
                "error": f"cannot write {str(request.output)!r} ({exc.strerror or exc})"}


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    lines: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
                lines[line["output"]] = line
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash is simply redone
    return lines


def _write_manifest(path: Path, lines: Sequence[dict[str, Any] | None]) -> None:
    text = "".join(json.dumps(line, sort_keys=True, default=str) + "\n" for line in lines if line is not None)
    with atomic_write(path) as handle:
        handle.write(text.encode())
