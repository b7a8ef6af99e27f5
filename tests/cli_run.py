"""The CLI through its real entry point, as the tests call it."""

from __future__ import annotations

from brushwork.frontends.cli import main


def run(capsys, *argv):
    """``main(argv)`` with every argument as text; (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
