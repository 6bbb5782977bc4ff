"""``./workshop watch [N]``: re-run the current step's checks each time one of its files is saved,
showing the step's points and the first failing check's reason (like rustlings' watch mode).

Files are polled (their mtime, size and inode, every ``--interval`` seconds), not watched with
inotify: VirtualBox's synced folder, where learners of the VM edit from the host, sends no
inotify events, and polling one small folder costs nothing. ``--manual`` turns polling off: Enter
runs the checks.

Keys (single keys on a terminal; on a pipe, one command per line): n next step, 1-5 go to a step,
h hint, l list the steps, c check all the steps, r reset the step (asks first), Enter run again,
q quit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import time
from collections.abc import Iterator

from mountlab import registry
from mountlab.workshop import hint, runner, status, ui
from mountlab.workshop.ui import tr

IGNORED_SUFFIXES = (".pyc", ".swp", ".swx", ".tmp", "~")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=ui.step_arg, nargs="?", metavar="N",
                        help=ui._say("help.watch_step"))
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help=ui._say("help.watch_interval"))
    parser.add_argument("--manual", action="store_true",
                        help=ui._say("help.watch_manual"))
    ui.add_lang(parser)
    ui.add_backend(parser)


def snapshot(step: registry.Step) -> dict[str, tuple[int, int, int]]:
    """The step's files (top level of steps/NN) -> (mtime, size, inode): any save changes it,
    including an editor's write-to-temp-then-rename."""
    folder = registry.KIT_ROOT / "steps" / step.folder
    found = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if name.startswith((".", "#")) or name.endswith(IGNORED_SUFFIXES) or ".bak-" in name:
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if entry.is_file():
            found[name] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return found


class Keys:
    """Commands from stdin: single keys on a terminal (cbreak mode), lines otherwise."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno() if sys.stdin and not sys.stdin.closed else -1
        self.tty = self.fd >= 0 and os.isatty(self.fd)
        self.closed = self.fd < 0
        self._saved = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
            try:
                yield
            finally:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        else:
            yield

    def get(self, timeout: float) -> str | None:
        """The next command ("" for Enter), or None when ``timeout`` passes first."""
        if self.closed:
            time.sleep(timeout)
            return None
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        if self.tty:
            data = os.read(self.fd, 1)
            return data.decode(errors="replace").replace("\r", "").replace("\n", "")
        line = sys.stdin.readline()
        if not line:  # end of input: keep watching the files (Ctrl-C stops)
            self.closed = True
            return None
        return line.strip()[:1].lower()

    def confirm(self, question: str, out: ui.Out) -> bool:
        out.line(question, "bold yellow")
        while True:
            key = self.get(60.0)
            if key is None and self.closed:
                return False
            if key is not None:
                return key.lower() in ("y", "o")


class Watch:
    def __init__(self, out: ui.Out, lang: str, keys: Keys, interval: float,
                 manual: bool) -> None:
        self.out, self.lang, self.keys = out, lang, keys
        self.interval, self.manual = interval, manual
        self.step: registry.Step = registry.steps()[0]
        self.grade: runner.StepGrade | None = None
        self.seen: dict[str, tuple[int, int, int]] = {}  # the files as the last run saw them

    def t(self, en: str, fr: str) -> str:
        return tr(self.lang, en, fr)

    def keys_line(self) -> None:
        self.out.line(self.t(
            "keys: n next step · 1-5 go to a step · h hint · l list · c check all · r reset · "
            "Enter run again · q quit",
            "touches : n étape suivante · 1-5 aller à une étape · h indice · l liste · "
            "c tout vérifier · r réinitialiser · Entrée relancer · q quitter"), "dim")

    def check(self) -> None:
        """Run the current step's checks and show the result."""
        if not self.out.fancy:
            self.out.line(f"---- {time.strftime('%H:%M:%S')} ----")
        else:
            self.out.line(self.t(f"checking steps/{self.step.folder}...",
                                 f"vérification de steps/{self.step.folder}..."), "dim")
        # Before the run: a save made while the checks run is seen by the next look.
        self.seen = snapshot(self.step)
        self.grade = runner.grade([self.step.number], lang=self.lang).steps[self.step.number]
        self.out.clear()
        self.show()

    def show(self) -> None:
        grade, step, out = self.grade, self.step, self.out
        assert grade is not None
        full = grade.done
        out.parts(("mountlab watch  ", "bold"), (ui.label(step, self.lang), "bold cyan"),
                  (f"{self.t(':', ' :')} {grade.points}/{step.points} points",
                   "bold green" if full else "bold"))
        passed = sum(1 for c in grade.checks if c.passed)
        if grade.checks:
            out.bar(passed, len(grade.checks), self.t(
                f"{passed} of {len(grade.checks)} checks pass",
                f"{passed} test(s) sur {len(grade.checks)} réussi(s)"))
        if grade.problem:
            out.line(f"  {grade.problem}", "red")
        if full:
            out.line(self.t(f"✓ Step {step.number} is done!", f"✓ Étape {step.number} finie !"),
                     "bold green")
            out.line(self.t(f"  Compare with the reference: ./workshop solution {step.number}",
                            f"  Comparez avec la référence : ./workshop solution {step.number}"))
            if step.number < len(registry.steps()):
                nxt = registry.get(step.number + 1)
                out.line(self.t(f"  Press n to go on to {ui.label(nxt, 'en')}.",
                                f"  Appuyez sur n pour passer à l'{ui.label(nxt, 'fr')}."),
                         "bold")
            else:
                out.line(self.t("  That was the last step: press c to check them all.",
                                "  C'était la dernière étape : appuyez sur c pour tout "
                                "vérifier."), "bold")
        else:
            status.show_failure(out, grade, self.lang)
            out.line(self.t(f"  edit {ui.module_path(step)}: each save runs the checks again",
                            f"  éditez {ui.module_path(step)} : chaque enregistrement relance "
                            "les tests"))
        if self.manual:
            out.line(self.t("  (manual mode: press Enter to run the checks)",
                            "  (mode manuel : appuyez sur Entrée pour lancer les tests)"), "dim")
        self.keys_line()

    def go(self, number: int) -> None:
        self.step = registry.get(number)
        self.check()

    def list_steps(self) -> None:
        self.out.line()
        rows = [[str(s.number), s.title[self.lang], ui.module_path(s)] for s in registry.steps()]
        self.out.table([self.t("step", "étape"), self.t("title", "titre"),
                        self.t("file", "fichier")], rows, justify=["right"])
        self.out.line(self.t("Press 1-5 to go to a step.", "Appuyez sur 1-5 pour aller à une "
                             "étape."), "dim")

    def check_all(self) -> None:
        self.out.line(self.t("checking every step...", "vérification de toutes les étapes..."),
                      "dim")
        grades = runner.grade(lang=self.lang)
        self.out.clear()
        status.show_table(self.out, grades, self.lang)
        status.show_errors(self.out, grades, self.lang)
        current = grades.current()
        if current is None:
            self.out.line(self.t("All the steps are done. Well done!",
                                 "Toutes les étapes sont finies. Bravo !"), "bold green")
            self.keys_line()
            return
        self.out.line(self.t(f"Going on with {ui.label(current.step, 'en')}.",
                             f"On continue avec l'{ui.label(current.step, 'fr')}."), "bold")
        self.step, self.grade = current.step, current
        self.seen = snapshot(current.step)
        self.out.line()
        self.show()

    def hint(self) -> None:
        shown, new = hint.reveal(self.step)
        self.out.line()
        hint.show(self.out, self.step, self.lang, shown, new)

    def reset(self) -> None:
        from mountlab.workshop import reset

        question = self.t(f"Reset step {self.step.number} to its skeleton? Your file is backed "
                          "up first. [y/N]",
                          f"Réinitialiser l'étape {self.step.number} (squelette) ? Votre fichier "
                          "est sauvegardé d'abord. [o/N]")
        if not self.keys.confirm(question, self.out):
            self.out.line(self.t("Nothing changed.", "Rien n'a changé."))
            return
        if reset.reset(self.step, self.out, self.lang, None) == 0:
            time.sleep(0.5)  # let the learner read where the backup went
            self.check()

    def loop(self) -> int:
        while True:
            key = self.keys.get(self.interval)
            if key is not None:
                key_l = key.lower()
                if key_l == "q":
                    self.out.line(self.t("Bye! ./workshop shows where you are.",
                                         "À bientôt ! ./workshop montre où vous en êtes."))
                    return 0
                if key_l == "n":
                    if self.step.number < len(registry.steps()):
                        self.go(self.step.number + 1)
                    else:
                        self.out.line(self.t("This is the last step.",
                                             "C'est la dernière étape."))
                elif key_l in {str(s.number) for s in registry.steps()}:
                    self.go(int(key_l))
                elif key_l == "h":
                    self.hint()
                elif key_l == "l":
                    self.list_steps()
                elif key_l == "c":
                    self.check_all()
                elif key_l == "r":
                    self.reset()
                elif key == "":
                    self.check()
                continue
            if self.manual:
                continue
            now = snapshot(self.step)
            if now != self.seen:
                # An editor may save in several writes: wait until the folder is still.
                time.sleep(0.15)
                while (again := snapshot(self.step)) != now:
                    now = again
                    time.sleep(0.15)
                self.check()


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    out = ui.Out()
    if not (registry.KIT_ROOT / "steps").is_dir():
        return ui.fail(tr(lang, f"{registry.KIT_ROOT / 'steps'} is missing: this copy of the kit "
                                "is incomplete (git checkout -- steps)",
                          f"{registry.KIT_ROOT / 'steps'} est absent : cette copie du kit est "
                          "incomplète (git checkout -- steps)"))
    if args.interval <= 0:
        return ui.fail(tr(lang, "--interval must be more than 0 seconds",
                          "--interval doit être supérieur à 0 seconde"), 2)
    keys = Keys()
    watch = Watch(out, lang, keys, args.interval, args.manual)
    if not keys.tty and not keys.closed:
        out.line(tr(lang, "stdin is not a terminal: type a command and Enter (empty: run "
                          "again, q: quit).",
                    "l'entrée n'est pas un terminal : tapez une commande puis Entrée (vide : "
                    "relancer, q : quitter)."), "dim")
    try:
        with keys.active():
            if args.step is not None:
                watch.step = args.step
                watch.check()
            else:
                grades = runner.grade(lang=lang)
                current = grades.current()
                if current is None:
                    out.line(tr(lang, "All the steps are done! Watching the last one.",
                                "Toutes les étapes sont finies ! On surveille la dernière."),
                             "green")
                    current = grades.steps[max(grades.steps)]
                watch.step, watch.grade = current.step, current
                watch.seen = snapshot(current.step)
                out.clear()
                watch.show()
            return watch.loop()
    except KeyboardInterrupt:
        out.line()
        return 130
