"""Which of the kit's extras its virtualenv gets (scripts/venv.sh): all by default, those asked for
with MOUNTLAB_VENV_EXTRAS (the VM asks for notebooks only), and on a re-sync those of the last
install, which the stamp records; ./workshop test adds the dev extra where it is missing."""

from __future__ import annotations

import subprocess

import pytest

from mountlab import registry

VENV_SH = registry.KIT_ROOT / "scripts" / "venv.sh"


def extras(venv, asked: str | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin", "MOUNTLAB_VENV": str(venv)}
    if asked is not None:
        env["MOUNTLAB_VENV_EXTRAS"] = asked
    return subprocess.run(["bash", "-euc", f'. "{VENV_SH}"; mountlab_venv_extras'], env=env,
                          capture_output=True, text=True, check=True, timeout=30).stdout


@pytest.mark.parametrize("stamp, asked, expected", [
    (None, None, "notebooks,dev"),         # a new venv: everything
    ("", None, "notebooks,dev"),           # a stamp of before the extras were recorded
    ("notebooks\n", None, "notebooks"),    # a re-sync keeps the VM's choice
    ("notebooks\n", "notebooks,dev", "notebooks,dev"),  # asking wins
    (None, "notebooks", "notebooks"),
])
def test_extras(tmp_path, stamp, asked, expected):
    if stamp is not None:
        (tmp_path / ".mountlab-pyproject").write_text(stamp)
    assert extras(tmp_path, asked) == expected


def test_the_vm_provisioning_asks_for_the_notebooks_only():
    text = (registry.KIT_ROOT / "scripts" / "provision.sh").read_text()
    assert 'export MOUNTLAB_VENV_EXTRAS=${MOUNTLAB_VENV_EXTRAS:-notebooks}' in text


@pytest.mark.parametrize("lang, words", [("en", "installing the kit's dev extra"),
                                         ("fr", "installation de l'extra dev du kit")])
def test_workshop_test_adds_the_dev_extra_to_a_venv_without_it(monkeypatch, capsys, lang, words):
    """A venv made for the VM (notebooks only): ./workshop test pip-installs the dev extra first.
    pip itself is not run here (network): the command it would get is checked."""
    from mountlab.workshop import selftest

    ran = []
    monkeypatch.setattr(selftest, "DEV_MODULES", ("json", "mountlab_no_such_module"))
    monkeypatch.setattr(selftest.subprocess, "run",
                        lambda argv, **kw: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    assert selftest.ensure_dev_extra(lang) == 0
    assert ran and ran[0][1:4] == ["-m", "pip", "install"]
    assert ran[0][-1] == f"{registry.KIT_ROOT}[dev]" and ran[0][-2] == "-e"
    err = capsys.readouterr().err
    assert words in err and "mountlab_no_such_module" in err and "json" not in err.split("(")[-1]
    ran.clear()
    monkeypatch.setattr(selftest, "DEV_MODULES", ("json",))
    assert selftest.ensure_dev_extra(lang) == 0 and not ran  # all there: nothing to do
