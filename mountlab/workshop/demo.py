"""``./workshop demo``: the source exercise's scenario, end to end, with the reference solution
(``MOUNTLAB_IMPL=solutions``; ``--mine`` uses the learner's own steps), narrated step by step:

1. on the host, a directory with ``test.txt`` holding "test data";
2. ``./container run -v HOST:/container/volume busybox /bin/sh -c 'cat ...; touch ...'``;
3. inside, ``cat`` reads the host's file;
4. inside, ``touch`` creates ``newfile.txt``;
5. back on the host, ``newfile.txt`` is there.

Nothing is left behind: the scratch directory is removed only after the host's mount table shows
nothing mounted under it (never delete through a mount).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import tr

TARGET = "/container/volume"
SCRIPT = f"cat {TARGET}/test.txt; touch {TARGET}/newfile.txt"
TIMEOUT = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mine", action="store_true",
                        help=ui._say("help.demo_yours"))
    ui.add_lang(parser)


def _preflight(impl: str, lang: str) -> str:
    """Why the demo cannot run ("" when it can)."""
    if impl == "solutions" and not (registry.KIT_ROOT / "solutions").is_dir():
        return tr(lang, "this copy of the kit has no solutions/ (the instructor keeps them): run "
                        "the demo with your own code once your five steps are done: "
                        "./workshop demo --mine",
                  "cette copie du kit n'a pas de solutions/ (l'enseignant les garde) : lancez la "
                  "démo avec votre propre code une fois vos cinq étapes finies : "
                  "./workshop demo --mine")
    if not (registry.KIT_ROOT / "mountlab" / "runtime" / "run.py").is_file():
        return tr(lang, "the container runtime (mountlab/runtime/) is missing from this copy of "
                        "the kit: clone it again",
                  "le runtime de conteneurs (mountlab/runtime/) manque dans cette copie du kit : "
                  "clonez-le à nouveau")
    if impl == "steps" and not (registry.KIT_ROOT / "steps").is_dir():
        return tr(lang, "steps/ is missing: this copy of the kit is incomplete",
                  "steps/ est absent : cette copie du kit est incomplète")
    return ""


def _ensure_image(out: ui.Out, lang: str) -> str:
    """Build the busybox image when it is missing (offline, about a second); "" or why not."""
    try:
        from mountlab.runtime import images
    except ImportError as exc:
        return tr(lang, f"the runtime cannot be loaded: {exc}",
                  f"le runtime ne se charge pas : {exc}")
    if images.image_config("busybox") is not None:
        return ""
    out.line(tr(lang, "The busybox image is missing: building it (./container image build "
                      "busybox, offline)...",
                "L'image busybox manque : construction (./container image build busybox, hors "
                "ligne)..."), "dim")
    try:
        images.build_busybox("busybox", quiet=True)
    except (images.ImageError, OSError) as exc:
        return tr(lang, f"the busybox image could not be built: {exc}. Build it yourself: "
                        "sudo ./container image build busybox",
                  f"l'image busybox n'a pas pu être construite : {exc}. Construisez-la : "
                  "sudo ./container image build busybox")
    return ""


def _mounted_under(path: str) -> list[str]:
    from mountlab import mountinfo

    return [m.mountpoint for m in mountinfo.mounts_under(path)]


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    out = ui.Out()
    impl = "steps" if args.mine else "solutions"
    why = _preflight(impl, lang)
    if why:
        return ui.fail(why)
    why = _ensure_image(out, lang)
    if why:
        return ui.fail(why)

    whose = tr(lang, "your own steps 1-5" if args.mine else "the reference solution",
               "vos propres étapes 1 à 5" if args.mine else "la solution de référence")
    out.line(tr(lang, f"mountlab demo — a volume shared by the host and a container, with {whose}",
                f"mountlab demo — un volume partagé par l'hôte et un conteneur, avec {whose}"),
             "bold")
    host = tempfile.mkdtemp(prefix="mountlab-demo-")
    status = 1
    try:
        status = _scenario(out, lang, host, impl)
    except KeyboardInterrupt:
        status = 130
    finally:
        from mountlab import fsutil

        try:
            fsutil.remove_tree(host, ignore_errors=True)
        except fsutil.MountedError as exc:
            left = exc.mounts
            out.line(tr(lang, f"{host} is kept: still mounted there: {', '.join(left)} "
                              f"(sudo umount -R {host}, then rmdir)",
                        f"{host} est gardé : encore monté dessous : {', '.join(left)} "
                        f"(sudo umount -R {host}, puis rmdir)"), "red")
            status = status or 1
    return status


def _scenario(out: ui.Out, lang: str, host: str, impl: str) -> int:
    sudo = "" if os.geteuid() == 0 else "sudo "
    with open(os.path.join(host, "test.txt"), "w") as f:
        f.write("test data\n")
    out.line()
    out.parts(("1. ", "bold"), (tr(lang, "On the host, a directory with a file:",
                                   "Sur l'hôte, un répertoire et un fichier :"), None))
    out.line(f"     $ cat {host}/test.txt", "cyan")
    out.line("     test data")

    command = ["run", "-v", f"{host}:{TARGET}", "busybox", "/bin/sh", "-c", SCRIPT]
    out.line()
    out.parts(("2. ", "bold"), (tr(lang, "A container starts with that directory as a volume "
                                         "(-v HOST:CONTAINER):",
                                   "Un conteneur démarre avec ce répertoire comme volume "
                                   "(-v HÔTE:CONTENEUR) :"), None))
    out.line(f"     $ {sudo}./container {shlex.join(command)}", "cyan")
    out.line(tr(lang, "     step 5 parses the -v spec; step 4 finds the target inside the "
                      "container's root and mounts it through step 2; step 3 unmounts it when "
                      "the command ends",
                "     l'étape 5 analyse le -v ; l'étape 4 trouve la cible dans la racine du "
                "conteneur et la monte grâce à l'étape 2 ; l'étape 3 la démonte quand la "
                "commande se termine"), "dim")
    env = dict(os.environ, MOUNTLAB_IMPL=impl)
    try:
        proc = subprocess.run([sys.executable, "-m", "mountlab.runtime", *command],
                              cwd=registry.KIT_ROOT, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ui.fail(tr(lang, f"the container did not end within {TIMEOUT:g} s",
                          f"le conteneur ne s'est pas terminé en {TIMEOUT:g} s"))
    if proc.returncode != 0:
        error = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}")
        return ui.fail(tr(lang, f"the container run failed (exit {proc.returncode}): {error}",
                          f"le lancement du conteneur a échoué (code {proc.returncode}) : "
                          f"{error}"))
    out.line()
    out.parts(("3. ", "bold"), (tr(lang, f"Inside, cat {TARGET}/test.txt reads the host's "
                                         "file through the bind mount:",
                                   f"Dedans, cat {TARGET}/test.txt lit le fichier de l'hôte à "
                                   "travers le bind mount :"), None))
    for line in proc.stdout.splitlines() or ["(nothing)"]:
        out.line(f"     {line}")
    read_ok = "test data" in proc.stdout
    out.line()
    out.parts(("4. ", "bold"), (tr(lang, f"Inside, touch created {TARGET}/newfile.txt.",
                                   f"Dedans, touch a créé {TARGET}/newfile.txt."), None))
    out.line()
    created = os.path.isfile(os.path.join(host, "newfile.txt"))
    out.parts(("5. ", "bold"), (tr(lang, "Back on the host, the same directory:",
                                   "De retour sur l'hôte, le même répertoire :"), None))
    out.line(f"     $ ls {host}", "cyan")
    for name in sorted(os.listdir(host)):
        out.line(f"     {name}")
    left = _mounted_under(host)
    if not (read_ok and created) or left:
        problems = []
        if not read_ok:
            problems.append(tr(lang, "the container did not print 'test data'",
                               "le conteneur n'a pas affiché 'test data'"))
        if not created:
            problems.append(tr(lang, "newfile.txt did not appear on the host",
                               "newfile.txt n'est pas apparu sur l'hôte"))
        if left:
            problems.append(tr(lang, f"still mounted after the run: {', '.join(left)}",
                               f"encore monté après le lancement : {', '.join(left)}"))
        return ui.fail("; ".join(problems))
    out.line()
    out.line(tr(lang, "newfile.txt, made in the container, is on the host: one directory, seen "
                      "from both sides. The container is gone and nothing is left mounted "
                      f"(findmnt -R {host} shows nothing).",
                "newfile.txt, créé dans le conteneur, est sur l'hôte : un seul répertoire, vu "
                "des deux côtés. Le conteneur est parti et rien ne reste monté "
                f"(findmnt -R {host} ne montre rien)."), "bold green")
    return 0
