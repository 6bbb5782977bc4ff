"""The pytest side of the backends: ``--backend``, the forwarding into a guest, the header.

Registered beside the grading plugin (the kit's ``conftest.py``). Before any check runs,
``pytest_cmdline_main`` chooses the backend (``--backend``, ``MOUNTLAB_BACKEND``, ``auto``);
``uml`` runs the very same pytest command in a User-Mode Linux guest and ends this run with its
status. Inside the guest, and on ``native`` and ``userns``, the run goes on here as usual.
"""

from __future__ import annotations

import sys

import pytest

from mountlab import backends

#: pytest's exit status for a usage error.
USAGE_ERROR = 4


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mountlab", "mountlab grading")
    group.addoption("--backend", default=None, choices=backends.CHOICES,
                    help="where the checks get a kernel in which they may mount: native (root "
                         "here), userns (user namespaces here), uml (a User-Mode Linux guest), "
                         "auto (the first that works; default; also MOUNTLAB_BACKEND)")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    from mountlab import vmforward  # standard library only, like this module's top

    if backends.in_guest() or vmforward.needs_vm():
        return None  # in the guest already; off Linux the VM forwarding takes over
    if config.option.collectonly or config.option.help or config.option.version:
        return None  # nothing mounts
    from mountlab.backends import detect, forward

    wanted = backends.wanted(config.getoption("--backend"))
    try:
        chosen = detect.choose(wanted)
    except detect.NoBackend as exc:
        print(f"mountlab: {exc}", file=sys.stderr)
        return USAGE_ERROR
    config.stash[_CHOSEN] = chosen.name
    if chosen.name != "uml":
        return None
    return forward.pytest_in_guest(list(config.invocation_params.args),
                                   str(config.invocation_params.dir))


_CHOSEN = pytest.StashKey[str]()


def pytest_report_header(config: pytest.Config) -> str | None:
    if backends.in_guest():
        from mountlab.backends import forward

        boot = forward.boot_seconds()
        started = f", started {boot:.1f} s after the guest" if boot is not None else ""
        return f"mountlab backend: uml (a User-Mode Linux guest{started})"
    name = config.stash.get(_CHOSEN, None)
    if name is None:
        return None
    how = "auto" if backends.wanted(config.getoption("--backend")) == "auto" else "asked for"
    return f"mountlab backend: {name} ({how})"
