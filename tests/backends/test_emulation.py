"""Telling an emulated processor (QEMU without KVM) from the rest, and the checks' time scale
there: /sys as a QEMU guest shows it, with and without KVM, laid out in a folder."""

from __future__ import annotations

import pytest

from mountlab import backends
from mountlab.backends import emulation


def machine(root, vendor: str | None, clocks: str | None):
    if vendor is not None:
        (root / emulation.SYS_VENDOR).parent.mkdir(parents=True)
        (root / emulation.SYS_VENDOR).write_text(vendor + "\n")
    if clocks is not None:
        (root / emulation.CLOCKSOURCES).parent.mkdir(parents=True)
        (root / emulation.CLOCKSOURCES).write_text(clocks + " \n")
    return root


@pytest.mark.parametrize("vendor, clocks, arch, expected", [
    ("QEMU", "hpet acpi_pm", "x86_64", True),         # QEMU's TCG (seen in the kit's VM)
    ("QEMU", "tsc hpet acpi_pm", "x86_64", True),
    ("QEMU", "kvm-clock tsc hpet acpi_pm", "x86_64", False),  # QEMU with KVM
    ("innotek GmbH", "tsc hpet acpi_pm", "x86_64", False),    # VirtualBox
    (None, "tsc kvm-clock", "x86_64", False),         # a microVM without DMI
    ("QEMU", None, "x86_64", False),                  # cannot tell: native limits
    ("QEMU", "arch_sys_counter", "aarch64", False),   # arm64 guests never have kvm-clock
])
def test_emulated_at(tmp_path, vendor, clocks, arch, expected):
    assert emulation.emulated_at(machine(tmp_path, vendor, clocks), arch) is expected


def test_time_scale(monkeypatch):
    monkeypatch.delenv(backends.GUEST_ENV, raising=False)
    monkeypatch.setattr(emulation, "emulated", lambda: False)
    assert backends.time_scale() == 1.0
    monkeypatch.setattr(emulation, "emulated", lambda: True)
    assert backends.time_scale() == backends.EMULATED_TIME_SCALE
    monkeypatch.setenv(backends.GUEST_ENV, "1")
    assert backends.time_scale() == backends.GUEST_TIME_SCALE


def test_step_3_never_allows_a_second_late():
    """The known bug of step 3 retries a second past the deadline: whatever the scale, the margin
    its checks allow stays below that second."""
    import importlib.util

    from mountlab import registry

    spec = importlib.util.spec_from_file_location(
        "step3_checks", registry.KIT_ROOT / "steps" / "03" / "test_unmount_volume.py")
    for scale in (1.0, backends.EMULATED_TIME_SCALE, backends.GUEST_TIME_SCALE, 100.0):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(backends, "time_scale", lambda scale=scale: scale)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            assert module.LATE == min(0.5 * scale, 0.9) and module.LATE < 1.0
