"""Options as dataclass fields that carry their own help, choices and range.

Every config dataclass (the optimiser's, the networks', training's) declares its fields
with :func:`option`; front ends build their flags, forms and schemas from that metadata,
and :func:`check_fields` enforces the same choices and ranges, so each default and each
limit is written exactly once.
"""

from __future__ import annotations

import math
from dataclasses import field, fields
from typing import Any


def option(default, help: str, **extra):
    """A dataclass field with the help text, and the ``choices`` or the range (``min``,
    ``max``), that front ends show for it and that :func:`check_fields` enforces."""
    return field(default=default, metadata={"help": help, **extra})


def check_range(name: str, value: Any, low: float, high: float, *, whole: bool = False) -> None:
    """``value`` is a number (a whole one if ``whole``; never a bool) in [low, high]."""
    from brushwork.errors import InputError

    if whole:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"{name} must be a whole number, got {value!r}")
        if value < low:
            raise InputError(f"{name} must be a positive whole number, got {value}" if low == 1
                             else f"{name} must be at least {low}, got {value}")
        if value > high:
            raise InputError(f"{name} {value} is beyond what Brushwork supports ({high})")
        return
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not low <= value <= high):
        raise InputError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")


def check_fields(config: Any) -> None:
    """Every field of a dataclass instance against its declared choices and range (None,
    where it is the default, means "not set" and is not checked)."""
    from brushwork.errors import InputError

    for f in fields(config):
        value, meta = getattr(config, f.name), f.metadata
        if "choices" in meta and value not in meta["choices"]:
            raise InputError(f"{f.name} must be one of {', '.join(meta['choices'])}; got {value!r}")
        if "min" in meta:
            whole = meta.get("whole", isinstance(f.default, int) and not isinstance(f.default, bool))
            for item in value if isinstance(value, tuple) else () if value is None else (value,):
                check_range(f.name, item, meta["min"], meta["max"], whole=whole)


def describe(config_class: type) -> dict[str, dict]:
    """Default, help text, choices and range per field, for front ends that build forms or flags."""
    return {f.name: {"default": f.default, **f.metadata} for f in fields(config_class)}
