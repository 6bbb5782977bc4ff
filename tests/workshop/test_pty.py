"""``./workshop`` in a terminal, as a learner sees it: ``status``, ``hint`` and ``watch`` driven
through a pseudo-terminal (pexpect), reading the screen. The last test is the issue's "done":
a new learner reaches full points on step 1 following only what ``./workshop`` tells them."""

from __future__ import annotations

import re

import pytest

from mountlab import registry

from .conftest import Kit

pexpect = pytest.importorskip("pexpect", reason="pexpect is in the dev extra")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def screen(text: str) -> str:
    """What the terminal shows, escape codes aside."""
    return ANSI.sub("", text)


def spawn(kit: Kit, *args: str, **env: str) -> pexpect.spawn:
    child = pexpect.spawn(kit.command(*args)[0], kit.command(*args)[1:], cwd=str(kit.root),
                          env=kit.env(TERM="xterm-256color", **env), dimensions=(50, 160),
                          encoding="utf-8", timeout=90)
    return child


def finish(child: pexpect.spawn) -> tuple[str, int]:
    child.expect(pexpect.EOF)
    child.close()
    return screen(child.before), child.exitstatus


def test_status_on_a_terminal(kit: Kit):
    child = spawn(kit, "status")
    child.expect("mountlab — your progress")
    out, status = finish(child)
    assert status == 0
    for s in registry.steps():
        assert s.title["en"] in out
    assert "0/120 points (0%)" in out
    assert "Next: Step 1 — Create the volume directories" in out
    assert "Traceback" not in out


def test_colours_on_a_terminal_and_none_with_no_color(kit: Kit):
    child = spawn(kit, "hint", "1")
    child.expect(pexpect.EOF)
    coloured = child.before
    assert re.search(r"\x1b\[[0-9;]*m", coloured), "rich styles the output on a terminal"
    child = spawn(kit, "hint", "1", NO_COLOR="1")
    child.expect(pexpect.EOF)
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")
    assert not colour.search(child.before), "NO_COLOR: no colour codes"


def test_hint_on_a_terminal(kit: Kit):
    child = spawn(kit, "hint", "1")
    out, status = finish(child)
    assert status == 0
    assert "hint 1 of 4" in out and "os.makedirs" in out
    child = spawn(kit, "hint", "1", "--lang", "fr")
    out, _ = finish(child)
    assert "indice 2 sur 4" in out and registry.get(1).hints["fr"][1][:40] in out


def test_watch_reruns_on_save_and_answers_keys(kit: Kit):
    kit.git_init()
    child = spawn(kit, "watch", "1", "--interval", "0.3")
    child.expect("0/20 points")
    child.expect("keys:")
    kit.solve(1)  # the learner saves their file
    child.expect("20/20 points", timeout=90)
    child.expect("Step 1 is done")
    child.send("h")
    child.expect("hint 1 of 4")
    child.send("r")
    child.expect(r"\[y/N\]")
    child.send("n")
    child.expect("Nothing changed")
    child.send("n")
    child.expect("Step 2 — Bind mount a volume")
    child.expect("0/25 points")
    child.send("l")
    child.expect("steps/05/volume_spec.py")
    child.send("1")
    child.expect("20/20 points")
    child.send("r")
    child.expect(r"\[y/N\]")
    child.send("y")
    child.expect("is the skeleton again")
    child.expect("0/20 points")
    child.send("q")
    out, status = finish(child)
    assert status == 0
    assert list(kit.file(1).parent.glob("setup_volume.py.bak-*"))


def test_watch_without_a_terminal_reads_commands_by_line(kit: Kit):
    """The manual-run fallback: stdin is a pipe, one command per line, Enter runs again."""
    import subprocess

    proc = subprocess.Popen(kit.command("watch", "1", "--manual"), cwd=kit.root, env=kit.env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    kit.solve(1)  # --manual: nothing runs until asked
    out, err = proc.communicate("\nh\nq\n", timeout=120)
    assert proc.returncode == 0, err
    assert "stdin is not a terminal" in out
    assert "manual mode" in out
    assert out.count("mountlab watch") == 2 and "20/20 points" in out
    assert "hint 1 of 4" in out and "Traceback" not in out + err


def test_a_new_learner_reaches_full_points_on_step_1(kit: Kit):
    """Done means: guided only by ./workshop's output, a new learner gets 20/20 on step 1."""
    from tests.bugs.step01 import BUGS

    # 1. ./workshop (no command): what to read, which file to edit, what to run.
    child = spawn(kit)
    out, status = finish(child)
    assert status == 0
    readme = re.search(r"read\s+(steps/01/README\.md)", out)[1]
    edit = re.search(r"edit\s+(steps/01/\S+\.py)", out)[1]
    assert (kit.root / readme).is_file() and (kit.root / edit).is_file()
    assert "./workshop watch" in out

    # 2. ./workshop watch; the learner saves a first try that forgets the umask.
    child = spawn(kit, "watch", "--interval", "0.3")
    child.expect("Step 1 — Create the volume directories")
    child.expect("keys:")
    umask_bug = next(b for b in BUGS if "umask" in b.mistake)
    (kit.root / edit).write_text(umask_bug.source())
    child.expect(r"(\d+)/20 points", timeout=90)
    assert int(child.match[1]) < 20
    child.expect("First failing check")
    child.expect("0755")  # the reason names what is wrong ...
    child.expect(r"read steps/01/README\.md#modes-and-the-umask")  # ... and what to read
    child.send("h")  # stuck: one hint
    child.expect("hint 1 of 4")

    # 3. The learner fixes it and saves again: full points, and what comes next.
    kit.solve(1)
    child.expect("20/20 points", timeout=90)
    child.expect("Step 1 is done")
    child.expect("Press n to go on to Step 2")
    child.send("q")
    _, status = finish(child)
    assert status == 0

    # 4. ./workshop agrees, and points to step 2.
    out, status = finish(spawn(kit))
    assert status == 0
    assert re.search(r"1\s+Create the volume directories\s+20/20", out)
    assert "Next: Step 2 — Bind mount a volume" in out
