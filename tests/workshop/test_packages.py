"""The one list of system packages (mountlab/workshop/packages.toml): what ./workshop installs on
first need and what scripts/provision.sh installs for the VM. The real installation is proven on a
fresh Debian by tests/vm/test_provision.py; here, the list, the messages and the progress."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

from mountlab import registry
from mountlab.workshop import packages

PROVISION = registry.KIT_ROOT / "scripts" / "provision.sh"


def test_the_list_is_complete_and_bilingual():
    listed = packages.load()
    names = [p.name for p in listed]
    assert len(names) == len(set(names)), "a package listed twice"
    for p in listed:
        assert p.uses and set(p.uses) <= set(packages.USES), p
        assert p.en.strip() and p.fr.strip() and p.en != p.fr, f"{p.name}: en and fr, both"
    # what the kit's tests and the runtime reach for
    test = {p.name for p in packages.needed_for("test")}
    assert {"busybox-static", "debootstrap", "bubblewrap", "strace", "psmisc", "util-linux",
            "user-mode-linux", "vagrant", "git"} <= test


def test_provision_installs_the_same_list_but_the_test_only_tools():
    out = subprocess.run(["bash", str(PROVISION), "--packages"], capture_output=True, text=True,
                         timeout=30, check=True).stdout.split()
    assert out == [p.name for p in packages.load() if p.uses != ("test",)]
    assert "vagrant" not in out and "busybox-static" in out and "python3-venv" in out


def test_presence_is_seen_from_the_command():
    fake = packages.Package("x", "no-such-program-mountlab", ("test",), "a", "b")
    assert not fake.present()
    assert packages.Package("x", sys.executable, ("test",), "a", "b").present()
    assert packages.Package("x", "sh", ("test",), "a", "b").present()


@pytest.mark.parametrize("lang, words", [("en", ("Install them with:", "Going on")),
                                         ("fr", ("Installez-les avec :", "On continue"))])
def test_without_root_it_prints_the_one_command_and_goes_on(monkeypatch, lang, words):
    fake = [packages.Package("mountlab-nothing", "no-such-program-mountlab", ("test",),
                             "what it is for", "à quoi il sert")]
    monkeypatch.setattr(packages, "load", lambda: fake)
    monkeypatch.setattr(packages.os, "geteuid", lambda: 1000)
    out = io.StringIO()
    still = packages.ensure("test", lang, out)
    assert still == fake
    text = out.getvalue()
    assert "./workshop test" in text and "mountlab-nothing" in text
    assert fake[0].why(lang) in text
    assert "apt-get install -y --no-install-recommends mountlab-nothing" in text
    assert all(w in text for w in words), text


FAKE_APT = textwrap.dedent("""\
    import os, sys
    fd = int(next(a for a in sys.argv if a.startswith("APT::Status-Fd=")).split("=")[1])
    print("apt's own chatter")
    for p in (0, 10, 30, 60, 90, 100):
        os.write(fd, f"dlstatus:1:{p}:Retrieving file\\n".encode())
    for p in (0, 50, 100):
        os.write(fd, f"pmstatus:pkg:{p}:Unpacking pkg\\n".encode())
    sys.exit(int(os.environ.get("FAKE_STATUS", "0")))
""")


def test_the_progress_follows_apts_status_channel(tmp_path, monkeypatch):
    script = tmp_path / "apt.py"
    script.write_text(FAKE_APT)
    out = io.StringIO()
    progress = packages.Progress(out, "en")
    with open(tmp_path / "log", "w+") as f:
        status = packages._run_apt([sys.executable, str(script)], f, progress)
        f.seek(0)
        assert "apt's own chatter" in f.read()  # to the log, not to the learner
    assert status == 0
    lines = out.getvalue().splitlines()
    assert lines == ["  downloading   0%", "  downloading  30%", "  downloading  60%",
                     "  downloading  90%", "  downloading 100%", "  installing   0%",
                     "  installing  50%", "  installing 100%"]


def test_the_reasons_are_french_in_french():
    from .test_french import english_left, is_french

    for p in packages.load():
        assert is_french(p.fr) and not english_left(p.fr), f"{p.name}: {p.fr!r}"
        assert english_left(p.en), f"{p.name}: {p.en!r} (English expected)"
