"""Progress for the command line: a bar on a terminal, plain periodic lines in a log.

A log file or a CI console cannot show tqdm's ``\\r`` frames; there the same calls print one
line every ``every`` seconds (and a last one when the work ends) instead.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


class LineProgress:
    """The part of tqdm's interface that Brushwork uses, written as whole lines."""

    def __init__(self, total: int, *, file: TextIO, every: float = 10.0, initial: int = 0) -> None:
        self.total, self.n, self.file, self.every = total, initial, file, every
        self.desc = self.postfix = ""
        self.start = self.last = time.monotonic()

    def set_description_str(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix_str(self, postfix: str, refresh: bool = True) -> None:
        self.postfix = postfix

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._print()

    def _print(self) -> None:
        elapsed = tqdm.format_interval(time.monotonic() - self.start)
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc} {self.n}/{self.total} [{elapsed}{extra}]".strip(), file=self.file, flush=True)

    def close(self) -> None:
        self._print()

    def write(self, text: str) -> None:
        print(text, file=self.file, flush=True)


def progress_bar(total: int, *, initial: int = 0, position: int = 0, leave: bool = True, file: TextIO | None = None):
    """A tqdm bar on a terminal, :class:`LineProgress` elsewhere."""
    file = file or sys.stderr
    if file.isatty():
        return tqdm(total=total, initial=initial, file=file, dynamic_ncols=True, position=position, leave=leave,
                    bar_format=BAR_FORMAT)
    return LineProgress(total, file=file, initial=initial)
