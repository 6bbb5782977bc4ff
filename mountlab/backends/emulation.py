"""Whether this Linux runs on a processor emulated in software: QEMU without KVM (TCG), as the
kit's VM does on a host without hardware virtualization (docs/vm.md). There every instruction,
and every switch between processes far more, costs many times what it costs on real hardware,
so the checks' wall-clock limits are scaled (``mountlab.backends.time_scale``).

Told from what the kernel shows any user, without running anything: the machine's maker is QEMU
(DMI), and the kernel found no KVM to ask for its clock (``kvm-clock``, which a KVM guest always
gets). x86 only: elsewhere (arm64) a guest of a hardware hypervisor has no kvm-clock either.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

SYS_VENDOR = "sys/class/dmi/id/sys_vendor"
CLOCKSOURCES = "sys/devices/system/clocksource/clocksource0/available_clocksource"


def _read(root: Path, name: str) -> str:
    try:
        return (root / name).read_text().strip()
    except OSError:
        return ""


def emulated_at(root: str | os.PathLike[str] = "/", machine: str | None = None) -> bool:
    """Whether the system whose /sys is under ``root`` runs under QEMU's software emulation."""
    if (machine or platform.machine()) not in ("x86_64", "i686", "i386"):
        return False
    root = Path(root)
    if _read(root, SYS_VENDOR) != "QEMU":
        return False
    clocks = _read(root, CLOCKSOURCES)
    return bool(clocks) and "kvm-clock" not in clocks.split()


@functools.cache
def emulated() -> bool:
    """Whether this machine's processor is emulated (QEMU's TCG); asked once per process."""
    return emulated_at("/")
