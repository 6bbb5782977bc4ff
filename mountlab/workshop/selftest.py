"""``./workshop test [pytest options]``: the kit's own test suite (``pytest tests``).

Its first run installs the system packages the tests use (``packages.toml``, use "test") and the
notebooks' Jupyter kernel, so that the README's second command is the whole set-up. The suite
tests the kit (its solutions, its skeletons as git holds them, its runtime and graders), never
the learner's files in ``steps/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

from mountlab import registry
from mountlab.workshop.ui import lang_of, tr

ACCEPTS_EXTRA = True
# The modules of the kit's dev extra (pyproject.toml), which only its own tests use: a venv made
# without it (the learners' VM) gets it on the first ./workshop test.
DEV_MODULES = ("ruff", "cosmic_ray", "jsonschema", "pexpect")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    os.chdir(registry.KIT_ROOT)
    lang = lang_of(args)
    if not os.path.isdir("tests"):
        print(tr(lang, "./workshop test runs the kit's own tests, which the learner copy leaves "
                       "out; ./workshop (or ./workshop check N) grades your steps.",
                 "./workshop test lance les tests du kit lui-même, absents de la copie des "
                 "apprenants ; ./workshop (ou ./workshop check N) note vos étapes."),
              file=sys.stderr)
        return 2
    from mountlab.workshop import notebook, packages

    packages.ensure("test", lang)
    ensure_dev_extra(lang)
    notebook.ensure_kernel(lang)
    sys.stdout.flush()
    sys.stderr.flush()
    # -rs: each skipped test says what is missing and the command that adds it.
    os.execv(sys.executable, [sys.executable, "-m", "pytest", "tests", "-rs", *args.extra])


def ensure_dev_extra(lang: str) -> int:
    """pip-install the kit's dev extra into this venv when a module of it is missing (0: ready)."""
    missing = [m for m in DEV_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return 0
    print(tr(lang, f"mountlab: installing the kit's dev extra into {sys.prefix} with pip, for "
                   f"its own tests ({', '.join(missing)} missing)",
             f"mountlab : installation de l'extra dev du kit dans {sys.prefix} avec pip, pour "
             f"ses propres tests ({', '.join(missing)} manquant)"), file=sys.stderr)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", "-e", f"{registry.KIT_ROOT}[dev]"])
    return done.returncode
