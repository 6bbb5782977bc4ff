"""``./workshop notebook``: JupyterLab on the walkthroughs (``notebooks/``, or ``notebooks/fr/``
under ``--lang fr``), with the kit's kernel.

In the learners' VM it listens on 0.0.0.0:8888, which Vagrant forwards to the laptop's
127.0.0.1:8888 (and nowhere else); on a plain machine it listens on 127.0.0.1 unless ``--ip`` says
otherwise. It runs the JupyterLab of the Python running ./workshop (the kit's venv), and installs
the ``mountlab`` kernel into that venv first if the set-up has not.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import lang_of, tr

ACCEPTS_EXTRA = True  # anything else goes to jupyter lab, e.g. --ServerApp.token=...

KERNEL = "mountlab"
PORT = 8888


def in_vm() -> bool:
    """The learners' VM: the kit is the synced folder /vagrant (or MOUNTLAB_VM=1 says so)."""
    if os.environ.get("MOUNTLAB_VM") in ("0", "1"):
        return os.environ["MOUNTLAB_VM"] == "1"
    root = Path(registry.KIT_ROOT).resolve()
    return root == Path("/vagrant") or Path("/vagrant") in root.parents


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ip", default=None,
                        help=ui._say("help.notebook_host"))
    parser.add_argument("--port", type=int, default=PORT,
                        help=ui._say("help.notebook_port", port=PORT))
    parser.add_argument("--dry-run", action="store_true", help=ui._say("help.notebook_dry_run"))
    ui.add_lang(parser)


def folder(args: argparse.Namespace) -> Path:
    """The walkthroughs in the learner's language: notebooks/, or notebooks/fr/ in French."""
    root = Path(registry.KIT_ROOT) / "notebooks"
    return root / "fr" if ui.lang_of(args) == "fr" else root


def command(args: argparse.Namespace) -> list[str]:
    vm = in_vm()
    ip = args.ip or ("0.0.0.0" if vm else "127.0.0.1")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ip={ip}", f"--port={args.port}",
           # the forwarded port is fixed: fail rather than quietly move to another one
           "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={folder(args)}"]
    if vm:
        cmd.append("--no-browser")  # the browser is on the laptop
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # sudo ./workshop notebook
    return [*cmd, *getattr(args, "extra", [])]


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL in KernelSpecManager().find_kernel_specs()


def ensure_kernel(lang: str = "en") -> int:
    """Install the ``mountlab`` Jupyter kernel into this venv when it is not there (0: ready)."""
    if importlib.util.find_spec("ipykernel") is None or _kernel_installed():
        return 0
    print(tr(lang, f"mountlab: installing the Jupyter kernel '{KERNEL}' into {sys.prefix}, "
                   "for the walkthroughs (notebooks/)",
             f"mountlab : installation du noyau Jupyter '{KERNEL}' dans {sys.prefix}, pour les "
             "parcours (notebooks/)"), file=sys.stderr)
    done = subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                           "--name", KERNEL, "--display-name", KERNEL], stdout=subprocess.DEVNULL)
    return done.returncode


def run(args: argparse.Namespace) -> int:
    cmd = command(args)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    missing = [m for m in ("jupyterlab", "ipykernel", "jupyter_client", "nbval", "matplotlib")
               if importlib.util.find_spec(m) is None]
    if missing:
        print(ui._say("workshop.notebook_missing", modules=", ".join(missing),
                      prefix=sys.prefix), file=sys.stderr)
        return 1
    from mountlab.workshop import packages

    packages.ensure("notebook", lang_of(args))
    status = ensure_kernel(lang_of(args))
    if status:
        return status
    if in_vm() and args.port == PORT:
        print(ui._say("workshop.notebook_open"), file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(folder(args))
    os.execv(sys.executable, cmd)
    return 0  # not reached
