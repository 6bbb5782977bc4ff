"""The VM test's wheelhouse (tests/vm/wheelhouse.py): what it asks pip for, for which platforms,
and the settings that point the guest's pip at it. Its download runs in test_vagrant_up.py."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.vm import wheelhouse

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_are_the_kit_s_with_the_build_back_end():
    reqs = wheelhouse.requirements(ROOT / "pyproject.toml", ("notebooks",))
    assert {"pip", "setuptools>=64", "pytest>=8", "jupyterlab>=4"} <= set(reqs)
    assert not any(r.startswith(("ruff", "cosmic-ray")) for r in reqs), "dev extra left out"
    with pytest.raises(KeyError):
        wheelhouse.requirements(ROOT / "pyproject.toml", ("no-such-extra",))


def test_platforms_run_down_the_glibc_versions_with_their_legacy_names():
    found = wheelhouse.platforms_of("2_36")
    assert found[0] == "manylinux_2_36_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64",
            "manylinux1_x86_64", "manylinux_2_5_x86_64"} <= set(found)
    assert "manylinux_2_37_x86_64" not in found and "manylinux_2_4_x86_64" not in found
    assert "manylinux2014_x86_64" not in wheelhouse.platforms_of("2_12")


def test_the_guest_python_is_the_box_s_debian():
    """The wheels are for the Python and C library of the box's Debian release."""
    script = (ROOT / "scripts" / "build-libvirt-box.sh").read_text()
    assert "\nSUITE=bookworm\n" in script  # Debian 12: CPython 3.11, glibc 2.36
    assert (wheelhouse.GUEST_PYTHON, wheelhouse.GUEST_GLIBC) == ("3.11", "2_36")


def test_the_guest_s_pip_reads_the_served_wheelhouse_only(tmp_path):
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"x")
    with wheelhouse.Served(tmp_path, "127.0.0.1") as served:
        listing = urllib.request.urlopen(served.url, timeout=30).read().decode()
        settings = served.home_vagrantfile()
    assert 'href="a-1.0-py3-none-any.whl"' in listing  # what pip's find-links reads
    for line in (f"find-links = {served.url}", "trusted-host = 127.0.0.1", "no-index = true"):
        assert f"'{line}'" in settings
    assert "compile" not in settings  # the guest's pip as learners have it, offline
    with pytest.raises(OSError):  # stopped with the block
        urllib.request.urlopen(served.url, timeout=5)


@pytest.mark.skipif(shutil.which("vagrant") is None,
                    reason="vagrant is not installed (apt-get install vagrant; CI installs it)")
def test_the_settings_load_in_vagrant(tmp_path):
    with wheelhouse.Served(tmp_path, "127.0.0.1") as served:
        settings = served.home_vagrantfile()
    (tmp_path / "Vagrantfile").write_text(
        'Vagrant.configure("2") { |config| config.vm.box = "x" }\n' + settings)
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                 "VAGRANT_CHECKPOINT_DISABLE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
