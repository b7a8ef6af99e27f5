"""How front ends turn what users type into configs, and what outputs record.

The optimiser's defaults live in :class:`~brushwork.engine.transfer.TransferConfig`; this
module holds what lies on top of them for people: the ``--quality`` presets, the demo's
settings, the parsing of options given as text or JSON, and the metadata every output
carries.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields, replace
from typing import Any, Mapping

import torch

from brushwork.engine.schedules import WeightSchedule
from brushwork.engine.transfer import TransferConfig
from brushwork.errors import InputError

QUALITY_PRESETS: dict[str, dict] = {
    "draft": {"steps": 10, "refine_steps": 5},
    "default": {},
    "best": {"steps": 100, "precision": "float32"},
}
"""``--quality`` presets: settings laid over TransferConfig's defaults (sizes are left alone;
a draft print also halves the refining steps above the reference size, where its time goes).
docs/benchmarks.md shows what each costs and gives."""

DEMO_CONFIG = TransferConfig(size=384, style_weight=8.0)
"""Defaults of ``brushwork demo``: small enough to finish in well under a minute on two CPU
cores, with a lighter style weight so that the cat stays recognisable."""


def build_config(
    options: Mapping[str, Any], *, quality: str | None = None, base: TransferConfig = TransferConfig()
) -> TransferConfig:
    """``base``, then the ``quality`` preset, then ``options`` (TransferConfig field names).

    Front ends hand over what the user gave, as parsed text or JSON: lists become tuples and
    schedules are parsed here, and an unknown option name is an InputError like a bad value.
    """
    if quality is not None:
        if quality not in QUALITY_PRESETS:
            raise InputError(f"quality must be one of {', '.join(QUALITY_PRESETS)}; got {quality!r}")
        base = replace(base, **QUALITY_PRESETS[quality])
    names = {f.name: f for f in fields(TransferConfig)}
    given: dict[str, Any] = {}
    for name, value in options.items():
        if name not in names:
            raise InputError(f"unknown option {name!r}")
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(names[name].default, WeightSchedule) and isinstance(value, str):
            value = WeightSchedule.parse(value)
        given[name] = value
    try:
        return replace(base, **given)
    except TypeError as exc:  # a value of the wrong type that the checks did not name
        raise InputError(f"invalid options: {exc}") from None


def long_sides(config: TransferConfig) -> tuple[int, int]:
    """How large a run uses its content and its styles: larger files are decoded at a
    reduced size no smaller than these long sides. An output smaller than the reference size
    is worked on at that size (:func:`~brushwork.engine.transfer.work_size_for`), so a file
    is read at least that large, as the library would use it."""
    work = max(config.size, config.reference_size)
    return work, math.ceil(work * config.style_scale)


def run_metadata(command: str, config: TransferConfig, elapsed: float, **inputs: Any) -> dict:
    """What an output carries in its metadata: versions, every setting, time and inputs."""
    from brushwork import __version__

    return {
        "brushwork": __version__, "command": command, "torch": torch.__version__,
        "config": {k: (str(v) if isinstance(v, WeightSchedule) else v) for k, v in asdict(config.resolved()).items()},
        "elapsed_s": round(elapsed, 2), **inputs,
    }
