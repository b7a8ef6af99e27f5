"""Where and how a run computes: device choice, arithmetic precision, memory checks."""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Literal, Sequence

import torch

from brushwork.errors import InputError
from brushwork.engine.features import VGG19_LAYERS, activation_bytes

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; other names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but this PyTorch has no usable CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {name!r} requested but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_precision(precision: Precision, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 where the hardware computes it natively, float32 elsewhere.

    Native bf16: CPUs with AVX-512 BF16 or AMX (read from /proc/cpuinfo) and CUDA GPUs that
    report bf16 support. Emulated bf16 would be slower than float32, so it is never chosen.
    """
    if precision != "auto":
        return torch.bfloat16 if precision == "bfloat16" else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def cpu_name() -> str:
    """The CPU's model name (Linux), for figures and model files that must say where they were made."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "unknown CPU")
    except OSError:
        return "unknown CPU"


def device_description(device: torch.device, precision: str = "auto") -> str:
    """``AMD EPYC (2 cores, bfloat16)`` or a GPU's name: where a model was trained."""
    dtype = str(resolve_precision(precision, device)).removeprefix("torch.")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({dtype})"
    return f"{cpu_name()} ({os.cpu_count()} cores, {dtype})"


def _cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def available_memory(device: torch.device) -> int:
    """Bytes that a run may use on ``device`` (free GPU memory, or MemAvailable on Linux)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_needed(size: tuple[int, int], layers: Sequence[str], *, extra_bytes: int = 0,
                  element_bytes: int = 4) -> int:
    """Bytes an optimisation of ``size`` needs: VGG-19's activations and the run's state.
    ``element_bytes``: 2 where VGG-19 runs in bfloat16 (its activations are half the size)."""
    deepest = max(layers, key=VGG19_LAYERS.index)
    # Calibrated on whole runs of the optimiser's defaults (golden_gate at 1448 and 2048 px,
    # 2 cores): the peak grew by 1.16x the float32 forward activations per pixel in float32
    # and 0.86x in bfloat16, on top of about 0.6-0.8 GiB for PyTorch, the weights and the
    # reference size's terms; these factors and 0.9 GiB are 10-15% on the safe side.
    factor = 1.25 if element_bytes >= 4 else 0.95
    return int(factor * activation_bytes(*size, deepest)) + int(0.9 * 2**30) + extra_bytes


def memory_budget(device: torch.device, limit_gib: float | None = None) -> int:
    """Bytes a run may use: what ``device`` has available, or less where the user set a limit."""
    have = available_memory(device)
    return have if limit_gib is None else min(have, int(limit_gib * 2**30))


def fits(size: tuple[int, int], layers: Sequence[str], device: torch.device, *, extra_bytes: int = 0,
         limit_gib: float | None = None, element_bytes: int = 4) -> bool:
    return memory_needed(size, layers, extra_bytes=extra_bytes, element_bytes=element_bytes) \
        <= memory_budget(device, limit_gib)


def check_fits(size: tuple[int, int], layers: Sequence[str], device: torch.device, *, extra_bytes: int = 0,
               limit_gib: float | None = None, element_bytes: int = 4) -> None:
    """Refuse, before any work, a size whose VGG-19 activations (plus ``extra_bytes``, the
    optimiser's state) cannot fit in memory."""
    need = memory_needed(size, layers, extra_bytes=extra_bytes, element_bytes=element_bytes)
    have = memory_budget(device, limit_gib)
    if need > have:
        raise InputError(
            f"output size {size[1]}x{size[0]} needs about {need / 2**30:.1f} GiB on {device.type}, "
            f"but only {have / 2**30:.1f} GiB is available; use a smaller --size"
        )


def release_memory() -> None:
    """Give freed memory back to the system between the items of long work (a batch, the
    studio's jobs). Images of different sizes leave the C allocator's heap fragmented, so
    a process that only frees would grow by about 1 MiB an item; glibc's ``malloc_trim``
    returns those pages. A no-op where there is no glibc."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def autocast(device: torch.device, precision: str):
    """Autocast to bfloat16 where ``precision`` resolves to it; a no-op for float32."""
    dtype = resolve_precision(precision, device)
    return contextlib.nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)
