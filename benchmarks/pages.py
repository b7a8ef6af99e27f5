"""Writing a benchmark's page into docs/, keeping what people wrote below it by hand."""

from __future__ import annotations

from pathlib import Path

NOTES = "<!-- notes -->"
"""Everything below this line of a page is hand-written and survives a rerun."""


def write_page(page: Path, lines: list[str]) -> None:
    """Replace the measured part of ``page`` with ``lines`` (the notes stay) and print it."""
    text = page.read_text() if page.exists() else ""
    notes = text.split(NOTES, 1)[1] if NOTES in text else ""
    page.write_text("\n".join(lines) + "\n" + NOTES + notes)
    print("\n".join(lines))
