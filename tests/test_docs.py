"""README stays true to the CLI: every flag of every command is documented there."""

import argparse
from pathlib import Path

from brushwork.frontends.cli import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text()


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
