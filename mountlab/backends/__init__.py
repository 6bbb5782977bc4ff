"""Backends: how the kit gets a kernel where it may mount.

- ``native``: the grader is root here; the checks' sandboxes unshare namespaces directly;
- ``userns``: not root, but unprivileged user namespaces are allowed here;
- ``uml``: neither (Gradescope's Docker container, a locked-down lab machine): the same pytest
  run goes into a User-Mode Linux guest (``mountlab.backends.uml``), where it runs as guest root
  and the checks then run exactly as on ``native``.

``auto`` takes the first that works (``mountlab.backends.detect``). Chosen per run with
``--backend`` (pytest, ``./workshop check``, ``grade``, ``grade-class``, ``watch``) or
``MOUNTLAB_BACKEND``.
"""

from __future__ import annotations

import os

NAMES = ("native", "userns", "uml")
CHOICES = ("auto", *NAMES)
#: The backend asked for, when no --backend option says it.
ENV = "MOUNTLAB_BACKEND"
#: Set inside a guest: the run is already where it may mount, never forwarded again.
GUEST_ENV = "MOUNTLAB_GUEST"
#: How much longer the checks' wall-clock limits are in a User-Mode Linux guest, where every
#: system call, page fault and switch between processes goes through the host's ptrace: the
#: reference's thousand volumes take 2 to 4 s there against 0.5 s natively. Natively: 1.
GUEST_TIME_SCALE = 3.0
#: The same on a processor emulated in software (QEMU without KVM: the kit's VM on a host without
#: hardware virtualization, ``mountlab.backends.emulation``), where each switch between processes
#: costs tens of times more: step 3's retries took up to 0.8 s over their 0.2 s there, and the
#: reference's 0.1 s natively. Step 3 keeps its margin under a second whatever the scale (a known
#: bug overshoots by one); the thousand volumes of step 4 take minutes, far past any scale.
EMULATED_TIME_SCALE = 2.0


def wanted(option: str | None = None) -> str:
    """The backend asked for: the option, else ``MOUNTLAB_BACKEND``, else ``auto``."""
    return option or os.environ.get(ENV, "").strip() or "auto"


def in_guest() -> bool:
    return bool(os.environ.get(GUEST_ENV))


def time_scale() -> float:
    """What the checks' wall-clock limits are multiplied by here: 1 natively."""
    from mountlab.backends import emulation

    if in_guest():
        return GUEST_TIME_SCALE
    return EMULATED_TIME_SCALE if emulation.emulated() else 1.0
