"""The processes still running that a test must not leave behind."""

from __future__ import annotations

from pathlib import Path


def naming(text: str) -> list[str]:
    """Each process whose command line contains ``text`` (a marker, a folder), as
    ``"process PID: command line"``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if any(text in word for word in words):
            found.append(f"process {cmdline.parent.name}: {' '.join(words)[:200]}")
    return found
