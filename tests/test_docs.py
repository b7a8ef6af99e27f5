"""Docs stay true to the code: every CLI flag is in the README, and the tour notebook runs."""

import argparse
import re
import sys
from pathlib import Path

import pytest

from brushwork.frontends.cli import build_parser

DOCS = Path(__file__).parent.parent / "docs"
README = (DOCS.parent / "README.md").read_text()


def test_readme_documents_every_cli_option():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = set()
    for name, sub in subparsers.choices.items():
        assert f"brushwork {name}" in README, name
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and f"`{flag}" not in README and f" {flag}" not in README:
                    missing.add(flag)
    assert not missing, f"options missing from README: {sorted(missing)}"


@pytest.mark.slow
def test_tour_notebook_runs_and_stylizes(monkeypatch):
    """docs/tour.ipynb, rebuilt from docs/make_tour.py and executed on tiny images: every cell
    runs, and the stylized picture it scores is closer to the painting than the photo is."""
    pytest.importorskip("nbclient")
    sys.path.insert(0, str(DOCS))
    try:
        import make_tour
    finally:
        sys.path.remove(str(DOCS))
    monkeypatch.setenv("BRUSHWORK_TOUR_SIZE", "64")
    monkeypatch.setenv("BRUSHWORK_TOUR_STEPS", "10")
    notebook = make_tour.execute(make_tour.build(), timeout=300)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    style = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(the photo itself|stylized)\s+content \S+\s+style (\S+)",
                                                                 printed, re.M)}
    assert set(style) == {"the photo itself", "stylized"}, printed
    assert style["stylized"] < 0.8 * style["the photo itself"], style


def test_stored_tour_matches_its_source():
    """The committed notebook's cells are the ones make_tour.py writes (outputs aside)."""
    nbformat = pytest.importorskip("nbformat")
    sys.path.insert(0, str(DOCS))
    try:
        import make_tour
    finally:
        sys.path.remove(str(DOCS))
    stored = nbformat.read(DOCS / "tour.ipynb", as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in make_tour.build().cells], \
        "docs/tour.ipynb is stale: run .venv/bin/python docs/make_tour.py --execute"
