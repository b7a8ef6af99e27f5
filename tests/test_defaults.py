"""Each default and range is written once, in the config dataclasses: the CLI, the studio's
schema and the README's option table are checked against them field by field."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from brushwork.frontends.cli import _config, build_parser
from brushwork.engine.schedules import WeightSchedule
from brushwork.studio.server import Options
from brushwork.engine.transfer import RECONSTRUCT_CONFIG, TransferConfig
from brushwork.pipeline.settings import DEMO_CONFIG

README = (Path(__file__).parent.parent / "README.md").read_text()
ROWS = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(--[a-z-]+)[^`]*` \| ([^|]+) \|", README, re.M)}


def shown(value, name: str = "") -> str:
    if value is None:
        if name == "style_layer_weights":
            return "by block"
        return "equal" if name.endswith("weights") else "none"
    if isinstance(value, WeightSchedule):
        return str(value)
    if isinstance(value, tuple):
        return " ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@pytest.mark.parametrize("name", [f.name for f in fields(TransferConfig)])
def test_readme_table_matches_the_config(name):
    flag = "--" + name.replace("_", "-")
    assert flag in ROWS, f"{flag} has no row in the README's option table"
    cell = ROWS[flag].strip()
    first = cell.split(" (")[0].strip().strip("`")
    default = getattr(TransferConfig(), name)
    if isinstance(default, float):
        assert float(first) == default, (flag, cell)
    else:
        assert first == shown(default, name), (flag, cell)
    for label, config in (("demo", DEMO_CONFIG), ("reconstruct", RECONSTRUCT_CONFIG)):
        other = re.search(rf"`{label}`: ([^)]+)\)", cell)
        if other:
            assert float(other.group(1)) == float(getattr(config, name)), (flag, label, cell)


def test_cli_defaults_are_the_config_defaults():
    parse = build_parser().parse_args
    assert _config(parse(["transfer", "a.png", "b.png", "-o", "o.png"])) == TransferConfig()
    assert _config(parse(["batch", "a.png", "--style", "b.png", "-o", "out"])) == TransferConfig()
    assert _config(parse(["demo"])) == DEMO_CONFIG
    assert _config(parse(["reconstruct", "a.png", "-o", "o.png"])) == RECONSTRUCT_CONFIG
    help_text = build_parser()._subparsers._group_actions[0].choices["transfer"].format_help()
    for f in fields(TransferConfig):
        if f.name != "init":
            assert "--" + f.name.replace("_", "-") in help_text


def test_studio_schema_has_every_option_with_the_config_range():
    schema = Options.model_json_schema()["properties"]
    for name, info in TransferConfig.help().items():
        assert name in schema, name
        if "min" in info and not isinstance(info["default"], tuple) and info["default"] is not None:
            bounds = next(b for b in schema[name]["anyOf"] if b.get("type") in ("integer", "number"))
            assert (bounds["minimum"], bounds["maximum"]) == (info["min"], info["max"]), name
        assert f"(default: {info['default']})" in schema[name]["description"]
