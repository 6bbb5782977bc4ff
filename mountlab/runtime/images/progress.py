"""The progress of a long image build or import: rich's bar on a terminal, plain lines on
stderr otherwise. rich is imported only here, on the image-building path."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Reporter"]


class Reporter:
    """A progress bar on a terminal; plain lines on stderr otherwise (CI logs, pipes)."""

    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None
        self.last = ""

    def __enter__(self) -> Reporter:
        if self.enabled and sys.stderr.isatty():
            from rich import progress as rp
            from rich.console import Console

            self.progress = rp.Progress(rp.SpinnerColumn(), rp.TextColumn("{task.description}"),
                                        rp.BarColumn(), rp.MofNCompleteColumn(),
                                        rp.TimeElapsedColumn(), console=Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task(self.title, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, text: str, completed: int | None = None, total: int | None = None,
               phase: str | None = None) -> None:
        """Show ``text`` (and the bar at completed/total). Without a terminal, print one line
        per ``phase`` (default: per distinct text), not one per package."""
        if self.progress is not None:
            self.progress.update(self.task, description=f"{self.title}: {text}",
                                 completed=completed, total=total)
        elif self.enabled and (phase or text) != self.last:
            print(f"{self.title}: {text}", file=sys.stderr, flush=True)
            self.last = phase or text

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.progress is not None:
            self.progress.console.print(f"{self.title}: {text}")
        else:
            print(f"{self.title}: {text}", file=sys.stderr, flush=True)

