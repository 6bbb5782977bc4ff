#!/usr/bin/env python3
"""Re-execute the walkthroughs and store their outputs (they are committed with them).

    .venv/bin/python scripts/run_notebooks.py                 # notebooks/*.ipynb and fr/*.ipynb
    .venv/bin/python scripts/run_notebooks.py notebooks/02-unmount-and-ebusy.ipynb
    .venv/bin/python scripts/run_notebooks.py notebooks/fr      # the French ones only
    .venv/bin/python scripts/run_notebooks.py --check         # run, compare, write nothing

Each notebook runs top to bottom in a fresh kernel (the `mountlab` kernel by default, the one the
notebooks name), with the notebook's own folder as working directory, as `pytest --nbval` runs
them (in notebooks/fr/, `import labkit` then finds the French one).
A notebook is written back only if every cell ran without an error and the host's mount table is
the same after the run as before it; execution counts are set, timing metadata is left out, so
that a refresh changes only what really changed. Run it as root (as CI does): the committed
outputs are root's, and tests/notebooks checks that a normal user gets the same ones.

Afterwards: `pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg` (or
`pytest tests/notebooks`) checks them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _mount_table() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def _clean(nb) -> None:
    """Drop what changes on every run without meaning anything (timings, widget state)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.get("output_type") in ("display_data", "execute_result"):
                out["metadata"] = {}


def run_one(path: Path, kernel: str, timeout: int):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as exc:
        return None, time.monotonic() - start, str(exc)
    _clean(nb)
    return nb, time.monotonic() - start, ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", type=Path,
                   help="notebooks or folders of them (default: notebooks/ and notebooks/fr/)")
    p.add_argument("--kernel", default="mountlab", help="Jupyter kernel (default: mountlab)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--check", action="store_true", help="run them but write nothing")
    args = p.parse_args(argv)
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        sys.exit("nbclient and nbformat are needed: pip install -e '.[notebooks]' (or use "
                 "the kit's .venv/bin/python)")
    paths = [found for given in (args.notebooks or [NOTEBOOKS, NOTEBOOKS / "fr"])
             for found in (sorted(given.glob("*.ipynb")) if given.is_dir() else [given])]
    before = _mount_table()
    failed = 0
    total = 0.0
    import nbformat

    for path in paths:
        path = path.resolve()
        shown = path.relative_to(NOTEBOOKS) if NOTEBOOKS in path.parents else path
        nb, seconds, error = run_one(path, args.kernel, args.timeout)
        total += seconds
        if nb is None:
            failed += 1
            print(f"FAILED  {shown} ({seconds:.1f} s): not written\n{error}", file=sys.stderr)
            continue
        if _mount_table() != before:
            print(f"FAILED  {shown}: the host's mount table changed during the run; "
                  "not written", file=sys.stderr)
            return 1
        if not args.check:
            nbformat.write(nb, path)
        print(f"{'ran' if args.check else 'wrote'}  {shown} ({seconds:.1f} s)")
    print(f"{len(paths) - failed}/{len(paths)} notebooks in {total:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
