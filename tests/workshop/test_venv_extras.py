"""Which of the kit's extras its virtualenv gets (scripts/venv.sh): all by default, those asked for
with MOUNTLAB_VENV_EXTRAS (the VM asks for notebooks only), and on a re-sync those of the last
install, which the stamp records."""

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
