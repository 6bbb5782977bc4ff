"""Grade a whole class: every sub-folder or ``.zip`` of a folder is one learner.

Each submission is graded by ``grader.grade_submission`` (its own jailed pytest run with a time
limit), several at a time. The result is a gradebook CSV and a summary per step.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TextIO

from mountlab import mountinfo, registry
from mountlab.grading import grader, prefork, report
from mountlab.grading.grader import Outcome
from mountlab.messages import say

HEADER = ["student", *(f"step{s.folder}" for s in registry.steps()), "total", "max_total",
          "status"]


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Submissions graded at once: twice the CPUs. A grading waits on the kernel (mounts,
    EBUSY retries, its subjects) a fifth of its time or more; with one job per CPU the CPUs
    idle that long (``bench/bench_grading.py``: 100 submissions on 2 CPUs, 171 s with 2 jobs,
    121 to 129 s with 4)."""
    return 2 * cpus()


def find_submissions(root: Path) -> list[tuple[str, Path]]:
    """(student, path) for each sub-folder and ``.zip`` of ``root``, by name; hidden entries and
    other files are not submissions. A name seen twice (``ana/`` and ``ana.zip``) keeps both,
    the zip as ``ana.zip``."""
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for path in sorted(root.iterdir(), key=lambda p: (p.name.lower().endswith(".zip"), p.name)):
        if path.name.startswith(".") or path.is_symlink():
            continue
        if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
            name = grader.student_name(path)
            if name in seen:
                name = path.name
            seen.add(name)
            found.append((name, path))
    return sorted(found)


def grade_class(root: Path, *, jobs: int | None = None, timeout: float = grader.DEFAULT_TIMEOUT,
                hidden: bool = True, lang: str = "en", reports: Path | None = None,
                on_done: Callable[[Outcome, int, int], None] | None = None,
                jail: bool = True, backend: str | None = None) -> tuple[list[Outcome], list[str]]:
    """Grade every submission under ``root``; return the outcomes (by student) and the host
    mounts that appeared during the run and are still there (should be none)."""
    submissions = find_submissions(root)
    jobs = max(1, jobs or default_jobs())
    grader.sandbox_problem()  # asked once here: it forks, which threads had better not do
    try:
        grader.choose_backend(backend)  # the same: probes fork
    except grader.SubmissionError:
        pass  # every submission then says why
    before = {m.mount_id for m in mountinfo.read()}
    workdir = Path(tempfile.mkdtemp(prefix="mountlab-class-"))
    # Each submission's scratch inside stays private (0700); a User-Mode Linux guest, which runs
    # as another host uid, must be able to pass through to the one it is handed.
    os.chmod(workdir, 0o711)
    outcomes: list[Outcome] = []
    # Each submission's pytest run forked from one process that imported pytest once.
    server = prefork.start(grader.run_env(), str(registry.KIT_ROOT)) if jail else None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grader.grade_submission, path, student=name, timeout=timeout,
                                   workdir=workdir, hidden=hidden, lang=lang, jail=jail,
                                   backend=backend, server=server)
                       for name, path in submissions]
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                if reports is not None:
                    reports.mkdir(parents=True, exist_ok=True)
                    (reports / f"{outcome.student}.json").write_text(
                        json.dumps(report.to_json(outcome), indent=2, ensure_ascii=False) + "\n")
                if on_done:
                    on_done(outcome, len(outcomes), len(submissions))
    finally:
        if server is not None:
            server.stop()
        # Where grading could leave one; what a container engine mounts meanwhile elsewhere (its
        # overlays under /var/lib, its namespaces under /run) is none of the class's business.
        tops = (str(workdir), "/tmp", "/var/tmp", "/mnt", registry.kit_root())
        left = [m.mountpoint for m in mountinfo.read() if m.mount_id not in before
                and any(mountinfo.within(m.mountpoint, top) for top in tops)]
        try:
            grader.remove_scratch(workdir)
        except OSError as exc:
            left.append(str(exc))
    return sorted(outcomes, key=lambda o: o.student), left


def gradebook_rows(outcomes: list[Outcome]) -> list[list]:
    rows = []
    for o in outcomes:
        rows.append([o.student, *(o.step_points(s.number)[0] for s in registry.steps()),
                     o.total, o.max_total, o.status.replace("\n", " ")])
    return rows


def write_gradebook(outcomes: list[Outcome], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(gradebook_rows(outcomes))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)  # never a half-written gradebook


def read_gradebook(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def summary(outcomes: list[Outcome]) -> list[dict]:
    """Per step and for the total: mean, median, how many got full points."""
    rows = []
    for s in registry.steps():
        points = [o.step_points(s.number) for o in outcomes]
        rows.append(_stats(s.label(), points))
    rows.append(_stats(say("classreport.total"), [(o.total, o.max_total) for o in outcomes]))
    return rows


def _stats(label: str, points: list[tuple[int, int]]) -> dict:
    got = [p for p, _ in points]
    return {"label": label, "max": max((m for _, m in points), default=0),
            "mean": statistics.fmean(got) if got else 0.0,
            "median": statistics.median(got) if got else 0.0,
            "full": sum(1 for p, m in points if p == m and m > 0), "count": len(points)}


def print_summary(outcomes: list[Outcome], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    rows = summary(outcomes)
    statuses: dict[str, int] = {}
    for o in outcomes:
        key = o.status if o.status in ("ok", "timeout") else "error"
        statuses[key] = statuses.get(key, 0) + 1
    counts = ", ".join(say("classreport.status_count", count=n,
                           status=say(f"classreport.status_word.{k}"))
                       for k, n in sorted(statuses.items()))
    title = say("classreport.graded_count", count=len(outcomes), statuses=counts)
    words = {k: say(f"classreport.{k}") for k in ("max", "mean", "median", "full")}
    if not report.fancy(stream):
        stream.write(f"{title}\n")
        stream.write(f"{'':40} {words['max']:>5} {words['mean']:>7} {words['median']:>7} "
                     f"{words['full']:>6}\n")
        for r in rows:
            stream.write(f"{r['label'][:40]:40} {r['max']:>5} {r['mean']:>7.1f} "
                         f"{r['median']:>7.1f} {r['full']:>3}/{r['count']:<3}\n")
        return
    from rich.console import Console  # lazily: only a terminal needs it
    from rich.table import Table

    table = Table(title=title)
    for name, justify in (("", "left"), (words["max"], "right"), (words["mean"], "right"),
                          (words["median"], "right"), (words["full"], "right")):
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r["label"], str(r["max"]), f"{r['mean']:.1f}", f"{r['median']:.1f}",
                      f"{r['full']}/{r['count']}")
    Console(file=stream).print(table)


def shown_status(status: str) -> str:
    """A grading's status as the instructor reads it: ``ok``, ``timeout`` or ``error: why`` in
    the words of the language of the run (the gradebook keeps the status tokens)."""
    if status in ("ok", "timeout"):
        return say(f"classreport.status_word.{status}")
    why = status.removeprefix("error: ")
    return say("classreport.status_error", why=why)


class Progress:
    """A progress bar on a terminal, one line per submission otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.started = time.monotonic()
        self._bar = None
        if report.fancy(self.stream) and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn(say("classreport.progress")), BarColumn(),
                            MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("{task.description}"),
                            console=Console(file=self.stream), transient=True)
            self._task = self._bar.add_task("", total=total)
            self._bar.start()

    def __call__(self, outcome: Outcome, done: int, total: int) -> None:
        line = (f"[{done}/{total}] {outcome.student}: {outcome.total}/{outcome.max_total} "
                f"{shown_status(outcome.status).splitlines()[0][:100]} "
                f"({outcome.duration:.1f} s)")
        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=outcome.student)
            if outcome.status != "ok":
                self._bar.console.print(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
