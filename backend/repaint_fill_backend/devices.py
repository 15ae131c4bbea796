"""Device, dtype and thread choice: auto = CUDA, then MPS, then CPU."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .choices import DEVICE_CHOICES, DTYPE_CHOICES
from .exceptions import DeviceError

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def choose_device(name: str = "auto") -> torch.device:
    """Resolve a device name; a named device that is not available is an error, not a fallback."""
    if name not in DEVICE_CHOICES:
        raise DeviceError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")
    cuda, mps = torch.cuda.is_available(), _mps_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError(
            "--device cuda: no CUDA GPU is visible to torch; use --device cpu or auto"
        )
    if name == "mps" and not mps:
        raise DeviceError("--device mps: Apple's MPS backend is not available; use cpu or auto")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU has bf16 arithmetic units (Linux /proc/cpuinfo flags).

    Measured on such a CPU: bf16 weights in channels-last layout ran the embedded model 1.8-3.2x
    faster than fp32 at the same fill quality (docs/benchmarks.md). Without these units bf16 is
    emulated and slower, so anything we cannot confirm stays fp32.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def choose_dtype(device: torch.device, name: str = "auto") -> torch.dtype:
    """fp16 on CUDA and MPS by default; on the CPU bf16 where it has native units, else fp32."""
    if name not in DTYPE_CHOICES:
        raise DeviceError(f"unknown dtype {name!r}; use one of {', '.join(DTYPE_CHOICES)}")
    if name == "auto":
        if device.type in ("cuda", "mps"):
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bf16 support; use --dtype fp16")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def default_threads() -> int:
    """One core fewer than the machine has: the editor beside the backend needs one.

    Measured on a 2-core machine: with another busy process, 2 intra-op threads ran 6-65x slower
    per forward than 1 thread, while 1 thread was barely affected (docs/benchmarks.md).
    """
    return max(1, (os.cpu_count() or 2) - 1)


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None = default_threads()); returns the number used."""
    count = threads if threads and threads > 0 else default_threads()
    torch.set_num_threads(count)
    return count
