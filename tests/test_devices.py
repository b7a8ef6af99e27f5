import pytest
import torch

from brushwork.engine.devices import check_fits, resolve_device, resolve_precision
from brushwork.errors import InputError


def test_device_names_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(InputError, match="no usable CUDA GPU"):
            resolve_device("cuda:1")


def test_explicit_precision_wins_and_auto_is_a_float_type():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == torch.float32
    assert resolve_precision("bfloat16", cpu) == torch.bfloat16
    assert resolve_precision("auto", cpu) in (torch.float32, torch.bfloat16)


def test_memory_check_passes_small_and_refuses_huge_sizes():
    check_fits((64, 64), ["relu5_1"], torch.device("cpu"))
    with pytest.raises(InputError, match=r"needs about [\d.]+ GiB on cpu, but only [\d.]+ GiB is available"):
        check_fits((20000, 20000), ["relu5_1"], torch.device("cpu"))
