"""``./container run --rm`` beside bubblewrap on the same busybox rootfs, as ratios.

    sudo .venv/bin/python bench/bench_runtime.py [--runs N] [--counts 10,100,1000] [--json FILE]

Measures (median of N runs each, wall time from spawn to exit):

- start-to-exit of ``/bin/true`` with one bind volume: ``./container`` against ``bwrap`` and against
  ``python3 -c pass`` (the floor for a runtime written in Python);
- cost per volume at 10, 100 and 1,000 volumes: ``(T(n) - T(0)) / n``, for ``./container -v`` and
  for ``bwrap --bind`` repeated (median of paired differences, 10x the runs at n=10), and how that
  cost grows: cost@1000 / cost@10 (1.0 is linear work; a quadratic rescan of the mount table
  shows as a large ratio).

Targets (issue 3): start-to-exit at most 2x ``python3 -c pass``; cost per volume at 1,000 at most
1.5x the cost at 10 and at most 1/3 of bwrap's cost per bind. ``--check``: exit 1 if one is missed.

The runtime runs with ``MOUNTLAB_IMPL=solutions`` (the reference steps) and throw-away state
directories; bwrap gets the same rootfs read-only with a tmpfs on ``/tmp`` for its mount points
(the runtime's root is an overlay, so neither writes into the image). Both get new PID and UTS
namespaces, ``/proc`` and a ``/dev``. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_VS_PYTHON = 2.0
TARGET_GROWTH = 1.5
TARGET_VS_BWRAP = 1 / 3


class BenchError(RuntimeError):
    pass


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of ``command``; raise BenchError when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"{Path(command[0]).name} exited {proc.returncode}: {tail[0]}")
    return elapsed


def wall(command: list[str], runs: int, env: dict[str, str]) -> float:
    """Median wall time of ``command`` over ``runs`` runs, after one unmeasured warm-up (which
    warms the caches, and may create the kit's virtualenv)."""
    timed(command, env)
    return statistics.median(timed(command, env) for _ in range(runs))


def extra_cost(base: list[str], loaded: list[str], runs: int, env: dict[str, str]) -> float:
    """Median of ``T(loaded) - T(base)`` measured in pairs, in alternating order, so that the
    machine's drift cancels out instead of drowning a difference of a few milliseconds."""
    timed(base, env)
    timed(loaded, env)
    diffs = []
    for i in range(runs):
        if i % 2:
            t_loaded, t_base = timed(loaded, env), timed(base, env)
        else:
            t_base, t_loaded = timed(base, env), timed(loaded, env)
        diffs.append(t_loaded - t_base)
    return statistics.median(diffs)


def container_cmd(runtime: list[str], vols: list[str], cmd: list[str]) -> list[str]:
    args = [*runtime, "run", "--rm"]
    for i, host in enumerate(vols):
        args += ["-v", f"{host}:/tmp/v{i}"]
    return [*args, "busybox", *cmd]


def bwrap_cmd(bwrap: str, rootfs: str, vols: list[str], cmd: list[str]) -> list[str]:
    args = [bwrap, "--unshare-pid", "--unshare-uts", "--hostname", "bench", "--ro-bind", rootfs,
            "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for i, host in enumerate(vols):
        args += ["--bind", host, f"/tmp/v{i}"]
    return [*args, *cmd]


def find_runtime() -> tuple[list[str] | None, str]:
    """The ``./container`` command, or None and why not."""
    wrapper = ROOT / "container"
    if wrapper.is_file() and os.access(wrapper, os.X_OK):
        return [str(wrapper)], ""
    return None, f"the runtime is missing: {wrapper} not found or not executable"


def python_floor() -> str:
    """The interpreter ``./container`` runs on (the kit's virtualenv), else this one."""
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from mountlab.runtime import images

    env = dict(os.environ, MOUNTLAB_STATE=str(work / "state"), MOUNTLAB_RUN=str(work / "run"),
               MOUNTLAB_IMPL="solutions")
    # A learner's shell does not set it: without bytecode caches every run would compile the
    # runtime's modules again (the warm-up run writes them).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(MOUNTLAB_STATE=env["MOUNTLAB_STATE"], MOUNTLAB_RUN=env["MOUNTLAB_RUN"])
    rootfs = images.ensure_busybox()
    vols = []
    for i in range(max(args.counts)):
        path = work / "vols" / f"v{i}"
        path.mkdir(parents=True)
        vols.append(str(path))
    true = ["/bin/true"]

    runtime, why_not = find_runtime()
    if runtime is not None:
        try:
            wall(container_cmd(runtime, vols[:1], true), 1, env)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            runtime, why_not = None, f"./container run does not work yet ({exc})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        bwrap_why = "bwrap not found: sudo apt-get install bubblewrap"
    else:
        try:
            wall(bwrap_cmd(bwrap, rootfs, vols[:1], true), 1, env)
            bwrap_why = ""
        except BenchError as exc:
            bwrap, bwrap_why = None, f"bwrap cannot run here ({exc})"
    for reason in (why_not, bwrap_why):
        if reason:
            print(f"note: {reason}; measuring the other one only", file=sys.stderr)
    if runtime is None and bwrap is None:
        raise BenchError("neither ./container nor bwrap can run: nothing to compare")

    results: dict[str, Any] = {"runs": args.runs, "rootfs": rootfs, "counts": args.counts}
    results["python"] = wall([python_floor(), "-c", "pass"], args.runs, env)
    tools = {}
    if runtime is not None:
        tools["container"] = lambda n, cmd=true: container_cmd(runtime, vols[:n], cmd)
    if bwrap is not None:
        tools["bwrap"] = lambda n, cmd=true: bwrap_cmd(bwrap, rootfs, vols[:n], cmd)
    for name, make in tools.items():
        progress(f"{name}: one volume")
        one = wall(make(1), args.runs, env)
        per = {}
        for n in args.counts:
            progress(f"{name}: {n} volumes")
            # Small counts add only milliseconds: more pairs there (10x the runs at n=10).
            runs = args.runs * max(1, -(-100 // n))
            per[n] = extra_cost(make(0), make(n), runs, env) / n
        results[name] = {"one_volume": one, "per_volume": per}
    return results


def progress(text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[2K{text}...")
        sys.stderr.flush()


def report(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Rows (what, value, within target or None), printed as a table."""
    rows: list[tuple[str, str, bool | None]] = []
    py = results["python"]
    c, b = results.get("container"), results.get("bwrap")
    ms = 1000
    rows.append(("python3 -c pass", f"{py * ms:.1f} ms", None))
    for name, data in (("./container run --rm", c), ("bwrap", b)):
        if data:
            rows.append((f"{name}: /bin/true, 1 volume", f"{data['one_volume'] * ms:.1f} ms",
                         None))
    if c:
        ratio = c["one_volume"] / py
        rows.append(("container / python3 -c pass", f"{ratio:.2f}x", ratio <= TARGET_VS_PYTHON))
    if c and b:
        rows.append(("container / bwrap (1 volume)", f"{c['one_volume'] / b['one_volume']:.1f}x",
                     None))
    counts = results["counts"]
    for n in counts:
        for name, data in (("container", c), ("bwrap", b)):
            if data:
                rows.append((f"{name}: cost per volume @{n}",
                             f"{data['per_volume'][n] * ms:.3f} ms", None))
        if c and b and b["per_volume"][n] > 0:
            ratio = c["per_volume"][n] / b["per_volume"][n]
            rows.append((f"container / bwrap per volume @{n}", f"{ratio:.2f}x",
                         ratio <= TARGET_VS_BWRAP if n == max(counts) else None))
    lo, hi = min(counts), max(counts)
    for name, data in (("container", c), ("bwrap", b)):
        if not data or lo == hi:
            continue
        what = f"{name}: cost per volume @{hi} / @{lo}"
        if data["per_volume"][lo] > 0:
            growth = data["per_volume"][hi] / data["per_volume"][lo]
            rows.append((what, f"{growth:.2f}x",
                         growth <= TARGET_GROWTH if name == "container" else None))
        else:  # the cost at the small count is lost in the noise: more --runs
            rows.append((what, "n/a (noise)", None))
    return rows


def show(rows: list[tuple[str, str, bool | None]], runs: int) -> None:
    verdict = {True: "ok", False: "OVER", None: ""}
    title = f"./container vs bwrap, same busybox rootfs (median of {runs} runs)"
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="center")
        for what, value, ok in rows:
            mark = {True: "[green]ok[/]", False: "[red]OVER[/]", None: ""}[ok]
            table.add_row(what, value, mark)
        Console().print(table)
        return
    print(title)
    width = max(len(r[0]) for r in rows)
    for what, value, ok in rows:
        print(f"  {what:<{width}}  {value:>12}  {verdict[ok]}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description="./container run against bwrap, as ratios")
    parser.add_argument("--runs", type=int, default=5, help="runs per measure (median; default 5)")
    parser.add_argument("--counts", default="10,100,1000",
                        help="volume counts for the cost per volume (default 10,100,1000)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    try:
        args.counts = sorted({int(n) for n in args.counts.split(",") if n.strip()})
    except ValueError:
        parser.error("--counts: comma-separated numbers, e.g. 10,100,1000")
    if not args.counts or min(args.counts) < 1 or args.runs < 1:
        parser.error("--counts and --runs must be positive")
    if os.geteuid() != 0:
        print("bench_runtime: needs root (both runtimes mount): run it with sudo", file=sys.stderr)
        return 2

    from mountlab import mountinfo
    from mountlab.runtime import images

    before = {(m.mountpoint, m.source) for m in mountinfo.read()}
    work = Path(tempfile.mkdtemp(prefix="mountlab-bench-"))
    try:
        results = measure(args, work)
    except BenchError as exc:
        print(f"bench_runtime: {exc}", file=sys.stderr)
        return 2
    finally:
        progress("cleaning up")
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[2K")
        images.remove_tree(str(work))  # refuses if anything were still mounted in it
    leaked = {(m.mountpoint, m.source) for m in mountinfo.read()} - before
    if leaked:
        print(f"bench_runtime: WARNING: mounts left on the host: {sorted(leaked)}",
              file=sys.stderr)
    rows = report(results)
    show(rows, args.runs)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
    missed = [what for what, _, ok in rows if ok is False]
    return 1 if args.check and (missed or leaked) else 0


if __name__ == "__main__":
    sys.exit(main())
